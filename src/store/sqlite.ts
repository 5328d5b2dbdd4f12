/**
 * SQLite {@link RunStore} on better-sqlite3: one file, WAL, `synchronous=NORMAL`, a busy timeout.
 *
 * Group commit: every call is queued and the queue is flushed on the next turn of the event loop
 * (setImmediate, so writes made by all the I/O callbacks of one turn share it) inside ONE
 * transaction (`BEGIN IMMEDIATE` when it holds a write). Each call runs in its own savepoint so a
 * failing call does not undo the others; every caller's promise settles only after the batch
 * commits, so a resolved write is durable (to the WAL) and visible to later calls.
 */
import Database from 'better-sqlite3';
import { ConflictError, NotFoundError, SkillplaneError } from '../errors/index.js';
import {
  encodeJson,
  applyRunPatch,
  applyStepRunPatch,
  approvalRequestedEvent,
  buildApproval,
  buildRun,
  buildStep,
  checkCanBeginStep,
  checkFingerprint,
  checkPending,
  checkStepRunning,
  checkTransition,
  clampLimit,
  createdEvent,
  decodeCursor,
  encodeCursor,
  errorCode,
  isoIn,
  newId,
  nowIso,
  retryStep,
} from './common.js';
import { SQLITE_MIGRATIONS, SQLITE_TABLES } from './migrations/sqlite.js';
import { mapError, openError, quickCheck } from './sqlite-errors.js';
import { COLUMNS, columnValues, insertSql, rowMappers, updateRunSql, type Row } from './rows.js';

const Q = (): string => '?';
import type {
  ApprovalDecision,
  ApprovalRunChange,
  ClaimOptions,
  CreateRunOptions,
  CreateRunResult,
  EventInput,
  ListApprovalsQuery,
  ListAuditQuery,
  ListEventsQuery,
  ListRunsQuery,
  RunPage,
  RunPatch,
  RunStore,
  StepResult,
  StepRunPatch,
  StoreHealth,
  TransitionOptions,
} from './run-store.js';
import {
  RUN_SCHEMA_VERSION,
  TERMINAL_STATUSES,
  type Approval,
  type AuditEntry,
  type NewApproval,
  type NewAuditEntry,
  type NewRun,
  type NewStep,
  type Run,
  type RunEvent,
  type Step,
} from './types.js';

/** Options of {@link SqliteRunStore.open}. */
export interface SqliteStoreOptions {
  /** Database file (created when missing); `:memory:` for a private in-memory database. */
  path: string;
  /** How long a write waits for another connection's lock, default 5000 ms. */
  busyTimeoutMs?: number;
  /** Batch calls made in the same tick into one transaction (default true; false: one per call). */
  groupCommit?: boolean;
  /**
   * Run `PRAGMA quick_check` at open (default true); a damaged database still opens but reports
   * `store_corrupt` from {@link SqliteRunStore.health}.
   */
  quickCheck?: boolean;
}

type Stmt = Database.Statement<unknown[], unknown>;

interface Op {
  fn: () => unknown;
  write: boolean;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

const TERMINAL_SQL = TERMINAL_STATUSES.map((s) => `'${s}'`).join(',');
const j = (v: unknown): string => encodeJson(v);

/** Adds one `column = ?` style condition. */
function cond(where: string[], args: unknown[], sql: string, value: unknown): void {
  where.push(sql);
  args.push(value);
}

/** Applies pending migrations under `BEGIN IMMEDIATE`, refusing foreign or newer databases. */
function migrate(db: Database.Database, path: string): void {
  db.transaction(() => {
    const tables = new Set(
      (db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as Row[]).map((r) =>
        String(r.name),
      ),
    );
    if (!tables.has('skillplane_migrations')) {
      const clash = SQLITE_TABLES.filter((t) => tables.has(t));
      if (clash.length > 0) {
        throw new SkillplaneError(
          'store_foreign',
          `${path} is a SQLite database not created by skillplane (it already has tables ${clash.join(', ')})`,
          { data: { path, tables: clash } },
        );
      }
      db.exec(
        'CREATE TABLE skillplane_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)',
      );
    }
    const applied = new Set(
      (db.prepare('SELECT version FROM skillplane_migrations').all() as Row[]).map((r) => Number(r.version)),
    );
    const known = SQLITE_MIGRATIONS[SQLITE_MIGRATIONS.length - 1]?.version ?? 0;
    const newest = Math.max(0, ...applied);
    if (newest > known) {
      throw new SkillplaneError(
        'unsupported_schema_version',
        `${path} was migrated by a newer skillplane (schema ${newest}, this build knows ${known})`,
        { data: { path, schema: newest, supported: known } },
      );
    }
    const insert = db.prepare(
      'INSERT INTO skillplane_migrations (version, name, applied_at) VALUES (?, ?, ?)',
    );
    for (const m of SQLITE_MIGRATIONS) {
      if (applied.has(m.version)) continue;
      db.exec(m.sql);
      insert.run(m.version, m.name, nowIso());
    }
  }).immediate();
}

const { toRun, toStep, toEvent, toApproval, toAudit } = rowMappers({
  json: (v) => (typeof v === 'string' ? JSON.parse(v) : null),
  time: (v) => (typeof v === 'string' ? v : null),
});

/** A {@link RunStore} backed by one SQLite file. */
export class SqliteRunStore implements RunStore {
  readonly driver = 'sqlite';
  private readonly stmts = new Map<string, Stmt>();
  private queue: Op[] = [];
  private scheduled = false;
  private closed = false;
  private readonly savepoint: (fn: () => unknown) => unknown;
  private readonly batch: Database.Transaction<(ops: Op[], out: Array<[boolean, unknown]>) => void>;
  /** Number of transactions committed by group commit (for benchmarks). */
  batches = 0;

  private constructor(
    private readonly db: Database.Database,
    private readonly groupCommit: boolean,
    /** Why the database is known to be damaged (quick_check at open or a failed call). */
    private corruption: string | undefined,
  ) {
    this.savepoint = db.transaction((fn: () => unknown) => fn());
    this.batch = db.transaction((ops: Op[], out: Array<[boolean, unknown]>) => {
      for (const op of ops) {
        try {
          out.push([true, ops.length === 1 ? op.fn() : this.savepoint(op.fn)]);
        } catch (e) {
          if (ops.length === 1) throw e;
          out.push([false, e]);
        }
      }
    });
  }

  /** Opens (creating and migrating when needed) the database at `opts.path`. */
  static open(opts: SqliteStoreOptions): SqliteRunStore {
    let db: Database.Database | undefined;
    const timeout = opts.busyTimeoutMs ?? 5000;
    try {
      db = new Database(opts.path, { timeout });
      db.pragma(`busy_timeout = ${Math.floor(timeout)}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      migrate(db, opts.path);
      const corruption = opts.quickCheck === false ? undefined : quickCheck(db);
      return new SqliteRunStore(db, opts.groupCommit ?? true, corruption);
    } catch (err) {
      try {
        db?.close();
      } catch {
        // ignore
      }
      throw openError(err, opts.path);
    }
  }

  private stmt(sql: string): Stmt {
    let s = this.stmts.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.stmts.set(sql, s);
    }
    return s;
  }

  private run<T>(write: boolean, fn: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new SkillplaneError('store_closed', 'the run store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ fn, write, resolve: resolve as (v: unknown) => void, reject });
      if (!this.scheduled) {
        this.scheduled = true;
        if (this.groupCommit) setImmediate(() => this.flush());
        else this.flush();
      }
    });
  }

  private flush(): void {
    this.scheduled = false;
    const ops = this.queue;
    this.queue = [];
    if (ops.length === 0) return;
    const out: Array<[boolean, unknown]> = [];
    try {
      if (ops.some((o) => o.write)) this.batch.immediate(ops, out);
      else this.batch(ops, out);
      this.batches++;
    } catch (e) {
      const err = this.failure(e);
      for (const op of ops) op.reject(err);
      return;
    }
    ops.forEach((op, i) => {
      const [ok, v] = out[i] as [boolean, unknown];
      if (ok) op.resolve(v);
      else op.reject(this.failure(v));
    });
  }

  /** Maps a driver error; a corruption error marks the store unhealthy for good. */
  private failure(e: unknown): unknown {
    const err = mapError(e);
    if (err instanceof SkillplaneError && err.code === 'store_corrupt' && this.corruption === undefined) {
      const cause = err.cause instanceof Error ? err.cause.message : err.message;
      this.corruption = cause;
    }
    return err;
  }

  private row(sql: string, ...args: unknown[]): Row | undefined {
    return this.stmt(sql).get(...args) as Row | undefined;
  }

  private rows(sql: string, ...args: unknown[]): Row[] {
    return this.stmt(sql).all(...args) as Row[];
  }

  private loadRun(id: string): Run {
    const r = this.row('SELECT * FROM runs WHERE id = ?', id);
    if (!r) throw new NotFoundError('run', id);
    return toRun(r);
  }

  private insertRun(r: Run): void {
    this.stmt(insertSql('runs', COLUMNS.runs, Q)).run(...columnValues(r, COLUMNS.runs));
  }

  private saveRun(r: Run): void {
    this.stmt(updateRunSql('runs', Q)).run(...columnValues(r, COLUMNS.runUpdate));
  }

  private insertEvent(runId: string, ev: EventInput, at: string): RunEvent {
    const r = this.row(
      'UPDATE runs SET last_event_seq = last_event_seq + 1 WHERE id = ? RETURNING last_event_seq',
      runId,
    );
    if (!r) throw new NotFoundError('run', runId);
    const seq = Number(r.last_event_seq);
    this.stmt('INSERT INTO events (run_id, seq, type, data, at) VALUES (?, ?, ?, ?, ?)').run(
      runId,
      seq,
      ev.type,
      j(ev.data),
      at,
    );
    return { run_id: runId, seq, type: ev.type, data: ev.data ?? null, at };
  }

  private transitionSync(
    id: string,
    patch: RunPatch,
    event: EventInput | undefined,
    opts?: TransitionOptions,
  ): Run {
    const run = this.loadRun(id);
    checkTransition(run, opts);
    const at = nowIso();
    const next = applyRunPatch(run, patch, at);
    this.saveRun(next);
    if (event) this.insertEvent(id, event, at);
    return next;
  }

  private writeStep(s: Step): void {
    const sql = insertSql('steps', COLUMNS.steps, Q).replace('INSERT', 'INSERT OR REPLACE');
    this.stmt(sql).run(...columnValues(s, COLUMNS.steps));
  }

  createRun(input: NewRun, opts?: CreateRunOptions): Promise<CreateRunResult> {
    return this.run(true, () => {
      const idem = opts?.idempotency;
      const at = nowIso();
      if (idem) {
        const k = this.row('SELECT * FROM idempotency_keys WHERE key = ?', idem.key);
        if (k && String(k.expires_at) > at) {
          checkFingerprint(idem.key, String(k.fingerprint), idem.fingerprint);
          const existing = this.row('SELECT * FROM runs WHERE id = ?', k.run_id);
          if (existing) return { run: toRun(existing), created: false };
        }
        if (k) this.stmt('DELETE FROM idempotency_keys WHERE key = ?').run(idem.key);
      }
      const run = buildRun(input, opts, at);
      try {
        this.insertRun(run);
      } catch (e) {
        if (errorCode(e) === 'SQLITE_CONSTRAINT_PRIMARYKEY')
          throw new ConflictError(`run ${run.id} already exists`);
        throw e;
      }
      this.insertEvent(run.id, createdEvent(run, opts), at);
      if (idem) {
        this.stmt(
          'INSERT INTO idempotency_keys (key, fingerprint, run_id, created_at, expires_at) VALUES (?,?,?,?,?)',
        ).run(idem.key, idem.fingerprint, run.id, at, isoIn(idem.ttlSec * 1000));
      }
      return { run, created: true };
    });
  }

  getRun(id: string): Promise<Run | undefined> {
    return this.run(false, () => {
      const r = this.row('SELECT * FROM runs WHERE id = ?', id);
      return r ? toRun(r) : undefined;
    });
  }

  listRuns(q: ListRunsQuery = {}): Promise<RunPage> {
    return this.run(false, () => {
      const limit = clampLimit(q.limit, 50, 500);
      const where: string[] = [];
      const args: unknown[] = [];
      const statuses = q.status === undefined ? undefined : Array.isArray(q.status) ? q.status : [q.status];
      if (statuses) {
        where.push(`status IN (${statuses.map(() => '?').join(',') || 'NULL'})`);
        args.push(...statuses);
      }
      if (q.agent !== undefined) cond(where, args, 'agent = ?', q.agent);
      if (q.priority !== undefined) cond(where, args, 'priority = ?', q.priority);
      if (q.principal !== undefined) cond(where, args, 'principal = ?', q.principal);
      if (q.created_after !== undefined) cond(where, args, 'created_at > ?', q.created_after);
      if (q.cursor) {
        const c = decodeCursor(q.cursor);
        where.push('(created_at < ? OR (created_at = ? AND id < ?))');
        args.push(c.created_at, c.created_at, c.id);
      }
      const sql = `SELECT * FROM runs ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY created_at DESC, id DESC LIMIT ?`;
      const rows = this.rows(sql, ...args, limit + 1);
      const runs = rows.slice(0, limit).map(toRun);
      const last = runs[runs.length - 1];
      return {
        runs,
        next_cursor: rows.length > limit && last ? encodeCursor(last.created_at, last.id) : null,
      };
    });
  }

  transitionRun(id: string, patch: RunPatch, event?: EventInput, opts?: TransitionOptions): Promise<Run> {
    return this.run(true, () => this.transitionSync(id, patch, event, opts));
  }

  beginStep(step: NewStep, event?: EventInput): Promise<Step> {
    return this.run(true, () => {
      const run = this.loadRun(step.run_id);
      const prevRow = this.row('SELECT * FROM steps WHERE run_id = ? AND key = ?', step.run_id, step.key);
      const prev = prevRow ? toStep(prevRow) : undefined;
      if (prev?.status === 'completed') return prev;
      checkCanBeginStep(run);
      const at = nowIso();
      let s: Step;
      if (prev) s = retryStep(prev, step, at);
      else {
        const r = this.row(
          'UPDATE runs SET last_step_seq = last_step_seq + 1 WHERE id = ? RETURNING last_step_seq',
          run.id,
        );
        s = buildStep(step, Number(r?.last_step_seq), at);
      }
      this.writeStep(s);
      if (event) this.insertEvent(run.id, event, at);
      return s;
    });
  }

  finishStep(
    runId: string,
    seq: number,
    result: StepResult,
    runPatch?: StepRunPatch,
    event?: EventInput,
  ): Promise<Step> {
    return this.run(true, () => {
      const run = this.loadRun(runId);
      const r = this.row('SELECT * FROM steps WHERE run_id = ? AND seq = ?', runId, seq);
      if (!r) throw new NotFoundError('step', `${runId}#${seq}`);
      const prev = toStep(r);
      checkStepRunning(prev);
      const at = nowIso();
      const s: Step = {
        ...prev,
        status: result.status,
        output: result.output ?? null,
        error: result.error ?? null,
        finished_at: at,
      };
      this.stmt(
        'UPDATE steps SET status = ?, output = ?, error = ?, finished_at = ? WHERE run_id = ? AND seq = ?',
      ).run(s.status, j(s.output), j(s.error), at, runId, seq);
      const next = applyStepRunPatch(run, runPatch, at);
      if (next) this.saveRun(next);
      if (event) this.insertEvent(runId, event, at);
      return s;
    });
  }

  getSteps(runId: string): Promise<Step[]> {
    return this.run(false, () =>
      this.rows('SELECT * FROM steps WHERE run_id = ? ORDER BY seq', runId).map(toStep),
    );
  }

  getStepByKey(runId: string, key: string): Promise<Step | undefined> {
    return this.run(false, () => {
      const r = this.row('SELECT * FROM steps WHERE run_id = ? AND key = ?', runId, key);
      return r ? toStep(r) : undefined;
    });
  }

  appendEvent(runId: string, type: string, data: unknown): Promise<RunEvent> {
    return this.run(true, () => this.insertEvent(runId, { type, data }, nowIso()));
  }

  listEvents(runId: string, q: ListEventsQuery = {}): Promise<RunEvent[]> {
    return this.run(false, () =>
      this.rows(
        'SELECT * FROM events WHERE run_id = ? AND seq > ? ORDER BY seq LIMIT ?',
        runId,
        q.afterSeq ?? 0,
        clampLimit(q.limit, 1000, 10_000),
      ).map(toEvent),
    );
  }

  createApproval(a: NewApproval, change?: ApprovalRunChange): Promise<{ approval: Approval; run: Run }> {
    return this.run(true, () => {
      checkTransition(this.loadRun(a.run_id), { from: change?.from });
      const approval = buildApproval(a, nowIso());
      this.stmt(insertSql('approvals', COLUMNS.approvals, Q)).run(
        ...columnValues(approval, COLUMNS.approvals),
      );
      const run = this.transitionSync(
        a.run_id,
        { status: 'waiting_approval', ...(change?.patch ?? {}) },
        change?.event ?? approvalRequestedEvent(approval),
        { from: change?.from },
      );
      return { approval, run };
    });
  }

  getApproval(id: string): Promise<Approval | undefined> {
    return this.run(false, () => {
      const r = this.row('SELECT * FROM approvals WHERE id = ?', id);
      return r ? toApproval(r) : undefined;
    });
  }

  listApprovals(q: ListApprovalsQuery = {}): Promise<Approval[]> {
    return this.run(false, () => {
      const where: string[] = [];
      const args: unknown[] = [];
      if (q.status !== undefined) cond(where, args, 'status = ?', q.status);
      if (q.run_id !== undefined) cond(where, args, 'run_id = ?', q.run_id);
      if (q.principal !== undefined)
        cond(where, args, 'run_id IN (SELECT id FROM runs WHERE principal = ?)', q.principal);
      const sql = `SELECT * FROM approvals ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
      return this.rows(sql, ...args, clampLimit(q.limit, 100, 1000)).map(toApproval);
    });
  }

  decideApproval(id: string, d: ApprovalDecision, change?: ApprovalRunChange): Promise<Approval> {
    return this.run(true, () => {
      const r = this.row('SELECT * FROM approvals WHERE id = ?', id);
      if (!r) throw new NotFoundError('approval', id);
      const a = toApproval(r);
      checkPending(a);
      const next: Approval = {
        ...a,
        status: d.status,
        decided_by: d.decided_by,
        reason: d.reason ?? null,
        decided_at: nowIso(),
      };
      this.stmt(
        'UPDATE approvals SET status = ?, decided_by = ?, reason = ?, decided_at = ? WHERE id = ?',
      ).run(next.status, next.decided_by, next.reason, next.decided_at, id);
      if (change) this.transitionSync(a.run_id, change.patch ?? {}, change.event, { from: change.from });
      return next;
    });
  }

  getApprovalForStep(runId: string, stepKey: string): Promise<Approval | undefined> {
    return this.run(false, () => {
      const r = this.row(
        'SELECT * FROM approvals WHERE run_id = ? AND step_key = ? ORDER BY id DESC LIMIT 1',
        runId,
        stepKey,
      );
      return r ? toApproval(r) : undefined;
    });
  }

  appendAudit(e: NewAuditEntry): Promise<AuditEntry> {
    return this.run(true, () => {
      const at = nowIso();
      const entry: AuditEntry = {
        id: newId('aud_', Date.parse(at)),
        at,
        principal: e.principal,
        action: e.action,
        target: e.target ?? null,
        trace_id: e.trace_id ?? null,
        data: e.data ?? null,
      };
      this.stmt(insertSql('audit', COLUMNS.audit, Q)).run(...columnValues(entry, COLUMNS.audit));
      return entry;
    });
  }

  listAudit(q: ListAuditQuery = {}): Promise<AuditEntry[]> {
    return this.run(false, () => {
      const where: string[] = [];
      const args: unknown[] = [];
      if (q.target !== undefined) cond(where, args, 'target = ?', q.target);
      if (q.action !== undefined) cond(where, args, 'action = ?', q.action);
      const sql = `SELECT * FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`;
      return this.rows(sql, ...args, clampLimit(q.limit, 100, 1000)).map(toAudit);
    });
  }

  claimRuns(owner: string, opts: ClaimOptions): Promise<Run[]> {
    return this.run(true, () => {
      if (opts.statuses.length === 0 || opts.limit <= 0) return [];
      const now = nowIso();
      const statuses = opts.statuses.map(() => '?').join(',');
      const rows = this.rows(
        `UPDATE runs SET owner = ?, lease_expires_at = ?, updated_at = ? WHERE id IN (
          SELECT id FROM runs WHERE status IN (${statuses}) AND schema_version <= ?
            AND (owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at < ?)
          ORDER BY created_at, id LIMIT ?) RETURNING *`,
        ...[owner, isoIn(opts.leaseMs), now, ...opts.statuses, RUN_SCHEMA_VERSION, now, opts.limit],
      );
      return rows.map(toRun).sort((a, b) => (a.created_at + a.id < b.created_at + b.id ? -1 : 1));
    });
  }

  renewLeases(owner: string, runIds: string[], leaseMs: number): Promise<string[]> {
    return this.run(true, () => {
      const lease = isoIn(leaseMs);
      const now = nowIso();
      const out: string[] = [];
      for (const id of runIds) {
        const r = this.stmt(
          `UPDATE runs SET lease_expires_at = ?, updated_at = ? WHERE id = ? AND owner = ? AND status NOT IN (${TERMINAL_SQL})`,
        ).run(lease, now, id, owner);
        if (r.changes > 0) out.push(id);
      }
      return out;
    });
  }

  releaseRun(id: string, owner: string): Promise<boolean> {
    return this.run(true, () => {
      const r = this.stmt(
        'UPDATE runs SET owner = NULL, lease_expires_at = NULL, updated_at = ? WHERE id = ? AND owner = ?',
      ).run(nowIso(), id, owner);
      return r.changes > 0;
    });
  }

  pruneFinished(olderThan: Date): Promise<number> {
    return this.run(true, () => {
      const sel = `SELECT id FROM runs WHERE status IN (${TERMINAL_SQL}) AND COALESCE(finished_at, updated_at) < ?`;
      const cut = olderThan.toISOString();
      for (const t of ['steps', 'events', 'approvals', 'idempotency_keys']) {
        this.stmt(`DELETE FROM ${t} WHERE run_id IN (${sel})`).run(cut);
      }
      return this.stmt(`DELETE FROM runs WHERE id IN (${sel})`).run(cut).changes;
    });
  }

  async health(): Promise<StoreHealth> {
    if (this.closed) return { ok: false, detail: 'closed' };
    const corrupt = (): StoreHealth => ({
      ok: false,
      code: 'store_corrupt',
      detail: `the SQLite database is damaged (${this.corruption ?? 'unknown'}); restore it from a backup`,
    });
    if (this.corruption !== undefined) return corrupt();
    try {
      await this.run(false, () => this.row('SELECT 1 AS ok'));
      if (this.corruption !== undefined) return corrupt();
      return { ok: true };
    } catch (e) {
      return { ok: false, detail: e instanceof Error ? e.message : String(e) };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    if (this.queue.length > 0) this.flush();
    this.closed = true;
    this.db.close();
  }

  /** Test hook: overwrites the stored schema version of a run. */
  forceSchemaVersion(runId: string, version: number): void {
    this.db.prepare('UPDATE runs SET schema_version = ? WHERE id = ?').run(version, runId);
  }
}
