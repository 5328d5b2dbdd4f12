/**
 * PostgreSQL {@link RunStore} on a `pg` Pool. Every table lives in one schema (option `schema`,
 * default `public`). Writes lock the run row (`SELECT … FOR UPDATE`) so concurrent writers of one
 * run serialise; `claimRuns` uses `FOR UPDATE SKIP LOCKED` so nodes never claim the same run.
 * Connection loss is retried with exponential backoff whenever the outcome is known (the failure
 * happened before `COMMIT` was sent); migrations run under `pg_advisory_xact_lock`.
 */
import pg from 'pg';
import { ConflictError, NotFoundError, SkillplaneError, ValidationError } from '../errors/index.js';
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
import { POSTGRES_MIGRATIONS } from './migrations/postgres.js';
import { COLUMNS, columnValues, insertSql, rowMappers, updateRunSql, type Row } from './rows.js';

const D = (i: number): string => `$${i}`;
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

/** Options of {@link PostgresRunStore.open}. */
export interface PostgresStoreOptions {
  /** Connection string, e.g. `postgres://user@host:5432/db`. */
  url: string;
  /** Schema holding every table (created when missing), default `public`. */
  schema?: string;
  /** Pool size, default 10. */
  poolSize?: number;
  /** Attempts for an operation failing on connection loss, default 6 (backoff 50 ms … 1.6 s). */
  retries?: number;
  /** `application_name` of the connections, default `skillplane`. */
  applicationName?: string;
}

type Client = pg.PoolClient;

const OUR_TABLES = ['runs', 'steps', 'events', 'approvals', 'idempotency_keys', 'audit'];
const TRANSIENT = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  '57P01',
  '57P02',
  '57P03',
  '08000',
  '08001',
  '08003',
  '08006',
  '40001',
  '53300', // too_many_connections: the server is saturated, not broken
  '40P01',
]);

function isTransient(e: unknown): boolean {
  const code = errorCode(e);
  if (code && TRANSIENT.has(code)) return true;
  const msg = e instanceof Error ? e.message : '';
  return /Connection terminated|connection timeout|Client has encountered a connection error/i.test(msg);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const ignoreClientError = (): void => undefined;
const j = (v: unknown): string => encodeJson(v);
const ts = (v: unknown): string | null =>
  v instanceof Date ? v.toISOString() : v == null ? null : String(v);
const TERMINAL = [...TERMINAL_STATUSES];

const { toRun, toStep, toEvent, toApproval, toAudit } = rowMappers({ json: (v) => v, time: ts });

/** A {@link RunStore} backed by PostgreSQL. */
export class PostgresRunStore implements RunStore {
  readonly driver = 'postgres';
  private closed = false;
  private readonly t: Record<'runs' | 'steps' | 'events' | 'approvals' | 'keys' | 'audit', string>;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    private readonly retries: number,
  ) {
    const s = `"${schema}"`;
    this.t = {
      runs: `${s}.runs`,
      steps: `${s}.steps`,
      events: `${s}.events`,
      approvals: `${s}.approvals`,
      keys: `${s}.idempotency_keys`,
      audit: `${s}.audit`,
    };
  }

  /** Connects, creates the schema when missing and applies pending migrations. */
  static async open(opts: PostgresStoreOptions): Promise<PostgresRunStore> {
    const schema = opts.schema ?? 'public';
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
      throw new ValidationError('invalid schema name', [
        { path: 'schema', message: `not a plain identifier: ${schema}` },
      ]);
    }
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      application_name: opts.applicationName ?? 'skillplane',
    });
    pool.on('error', () => {
      // an idle client lost its connection; the pool replaces it on next use
    });
    const store = new PostgresRunStore(pool, schema, opts.retries ?? 6);
    try {
      await store.tx((c) => store.migrate(c));
      return store;
    } catch (e) {
      await pool.end().catch(() => undefined);
      if (e instanceof SkillplaneError) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      throw new SkillplaneError('store_unavailable', `cannot open PostgreSQL store: ${msg}`, {
        data: { driver_code: errorCode(e) ?? null, schema },
        cause: e,
      });
    }
  }

  private async migrate(c: Client): Promise<void> {
    const s = `"${this.schema}"`;
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`skillplane_migrations:${this.schema}`]);
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    const existing = (
      await c.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [this.schema])
    ).rows.map((r: Row) => String(r.table_name));
    if (!existing.includes('skillplane_migrations')) {
      const clash = OUR_TABLES.filter((t) => existing.includes(t));
      if (clash.length > 0) {
        throw new SkillplaneError(
          'store_foreign',
          `schema ${this.schema} already has tables ${clash.join(', ')} not created by skillplane`,
          { data: { schema: this.schema, tables: clash } },
        );
      }
      await c.query(
        `CREATE TABLE ${s}.skillplane_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`,
      );
    }
    const applied = new Set(
      (await c.query(`SELECT version FROM ${s}.skillplane_migrations`)).rows.map((r: Row) =>
        Number(r.version),
      ),
    );
    const known = POSTGRES_MIGRATIONS[POSTGRES_MIGRATIONS.length - 1]?.version ?? 0;
    const newest = Math.max(0, ...applied);
    if (newest > known) {
      throw new SkillplaneError(
        'unsupported_schema_version',
        `schema ${this.schema} was migrated by a newer skillplane (schema ${newest}, this build knows ${known})`,
        { data: { schema: this.schema, version: newest, supported: known } },
      );
    }
    for (const m of POSTGRES_MIGRATIONS) {
      if (applied.has(m.version)) continue;
      await c.query(m.sql(s));
      await c.query(
        `INSERT INTO ${s}.skillplane_migrations (version, name, applied_at) VALUES ($1, $2, now())`,
        [m.version, m.name],
      );
    }
  }

  /** Runs `fn` in a transaction, retrying with backoff when the connection fails before COMMIT. */
  private async tx<T>(fn: (c: Client) => Promise<T>): Promise<T> {
    if (this.closed) throw new SkillplaneError('store_closed', 'the run store is closed');
    for (let attempt = 0; ; attempt++) {
      let client: Client | undefined;
      let committing = false;
      try {
        client = await this.pool.connect();
        // A checked-out client emits 'error' when its connection drops between queries; without
        // a listener that would crash the process. The failure surfaces through the next query.
        client.on('error', ignoreClientError);
        await client.query('BEGIN');
        const out = await fn(client);
        committing = true;
        await client.query('COMMIT');
        client.off('error', ignoreClientError);
        client.release();
        return out;
      } catch (e) {
        if (client) {
          if (!committing) await client.query('ROLLBACK').catch(() => undefined);
          client.off('error', ignoreClientError);
          client.release(isTransient(e) ? (e as Error) : undefined);
        }
        if (committing || !isTransient(e) || attempt + 1 >= this.retries || this.closed) throw mapError(e);
        await sleep(Math.min(50 * 2 ** attempt, 2000));
      }
    }
  }

  /** A read outside a transaction (retried on connection loss). */
  private async read<T>(
    fn: (q: (sql: string, args?: unknown[]) => Promise<Row[]>) => Promise<T>,
  ): Promise<T> {
    if (this.closed) throw new SkillplaneError('store_closed', 'the run store is closed');
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn(async (sql, args) => (await this.pool.query(sql, args)).rows as Row[]);
      } catch (e) {
        if (!isTransient(e) || attempt + 1 >= this.retries || this.closed) throw mapError(e);
        await sleep(Math.min(50 * 2 ** attempt, 2000));
      }
    }
  }

  private async lockRun(c: Client, id: string): Promise<Run> {
    const r = (await c.query(`SELECT * FROM ${this.t.runs} WHERE id = $1 FOR UPDATE`, [id])).rows[0] as
      Row | undefined;
    if (!r) throw new NotFoundError('run', id);
    return toRun(r);
  }

  private async saveRun(c: Client, r: Run): Promise<void> {
    await c.query(updateRunSql(this.t.runs, D), columnValues(r, COLUMNS.runUpdate));
  }

  private async insertEvent(c: Client, runId: string, ev: EventInput, at: string): Promise<RunEvent> {
    const r = (
      await c.query(
        `UPDATE ${this.t.runs} SET last_event_seq = last_event_seq + 1 WHERE id = $1 RETURNING last_event_seq`,
        [runId],
      )
    ).rows[0] as Row | undefined;
    if (!r) throw new NotFoundError('run', runId);
    const seq = Number(r.last_event_seq);
    await c.query(`INSERT INTO ${this.t.events} (run_id, seq, type, data, at) VALUES ($1, $2, $3, $4, $5)`, [
      runId,
      seq,
      ev.type,
      j(ev.data),
      at,
    ]);
    return { run_id: runId, seq, type: ev.type, data: ev.data ?? null, at };
  }

  private async transitionIn(
    c: Client,
    id: string,
    patch: RunPatch,
    event?: EventInput,
    opts?: TransitionOptions,
  ): Promise<Run> {
    const run = await this.lockRun(c, id);
    checkTransition(run, opts);
    const at = nowIso();
    const next = applyRunPatch(run, patch, at);
    await this.saveRun(c, next);
    if (event) await this.insertEvent(c, id, event, at);
    return next;
  }

  createRun(input: NewRun, opts?: CreateRunOptions): Promise<CreateRunResult> {
    return this.tx(async (c) => {
      const idem = opts?.idempotency;
      const at = nowIso();
      if (idem) {
        await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
          `skillplane_idem:${this.schema}:${idem.key}`,
        ]);
        const k = (await c.query(`SELECT * FROM ${this.t.keys} WHERE key = $1`, [idem.key])).rows[0] as
          Row | undefined;
        if (k && (ts(k.expires_at) as string) > at) {
          checkFingerprint(idem.key, String(k.fingerprint), idem.fingerprint);
          const existing = (await c.query(`SELECT * FROM ${this.t.runs} WHERE id = $1`, [k.run_id]))
            .rows[0] as Row | undefined;
          if (existing) return { run: toRun(existing), created: false };
        }
        if (k) await c.query(`DELETE FROM ${this.t.keys} WHERE key = $1`, [idem.key]);
      }
      const r = buildRun(input, opts, at);
      try {
        await c.query(insertSql(this.t.runs, COLUMNS.runs, D), columnValues(r, COLUMNS.runs));
      } catch (e) {
        if (errorCode(e) === '23505') throw new ConflictError(`run ${r.id} already exists`);
        throw e;
      }
      await this.insertEvent(c, r.id, createdEvent(r, opts), at);
      if (idem) {
        await c.query(
          `INSERT INTO ${this.t.keys} (key, fingerprint, run_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
          [idem.key, idem.fingerprint, r.id, at, isoIn(idem.ttlSec * 1000)],
        );
      }
      return { run: r, created: true };
    });
  }

  getRun(id: string): Promise<Run | undefined> {
    return this.read(async (q) => {
      const r = (await q(`SELECT * FROM ${this.t.runs} WHERE id = $1`, [id]))[0];
      return r ? toRun(r) : undefined;
    });
  }

  async listRuns(query: ListRunsQuery = {}): Promise<RunPage> {
    const limit = clampLimit(query.limit, 50, 500);
    const where: string[] = [];
    const args: unknown[] = [];
    const add = (cond: (n: number) => string, ...vals: unknown[]): void => {
      args.push(...vals);
      where.push(cond(args.length - vals.length + 1));
    };
    const statuses =
      query.status === undefined ? undefined : Array.isArray(query.status) ? query.status : [query.status];
    if (statuses) add((n) => `status = ANY($${n})`, statuses);
    if (query.agent !== undefined) add((n) => `agent = $${n}`, query.agent);
    if (query.priority !== undefined) add((n) => `priority = $${n}`, query.priority);
    if (query.principal !== undefined) add((n) => `principal = $${n}`, query.principal);
    if (query.created_after !== undefined) add((n) => `created_at > $${n}`, query.created_after);
    if (query.cursor) {
      const cur = decodeCursor(query.cursor);
      add((n) => `(created_at, id) < ($${n}::timestamptz, $${n + 1})`, cur.created_at, cur.id);
    }
    args.push(limit + 1);
    const sql = `SELECT * FROM ${this.t.runs} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY created_at DESC, id DESC LIMIT $${args.length}`;
    return this.read(async (q) => {
      const rows = await q(sql, args);
      const runs = rows.slice(0, limit).map(toRun);
      const last = runs[runs.length - 1];
      return {
        runs,
        next_cursor: rows.length > limit && last ? encodeCursor(last.created_at, last.id) : null,
      };
    });
  }

  transitionRun(id: string, patch: RunPatch, event?: EventInput, opts?: TransitionOptions): Promise<Run> {
    return this.tx((c) => this.transitionIn(c, id, patch, event, opts));
  }

  beginStep(step: NewStep, event?: EventInput): Promise<Step> {
    return this.tx(async (c) => {
      const run = await this.lockRun(c, step.run_id);
      const pr = (
        await c.query(`SELECT * FROM ${this.t.steps} WHERE run_id = $1 AND key = $2`, [run.id, step.key])
      ).rows[0] as Row | undefined;
      const prev = pr ? toStep(pr) : undefined;
      if (prev?.status === 'completed') return prev;
      checkCanBeginStep(run);
      const at = nowIso();
      let s: Step;
      if (prev) {
        s = retryStep(prev, step, at);
        await c.query(
          `UPDATE ${this.t.steps} SET input = $1, span_id = $2, status = $3, attempt = $4, output = $5, error = $6,
            started_at = $7, finished_at = NULL WHERE run_id = $8 AND seq = $9`,
          [j(s.input), s.span_id, s.status, s.attempt, j(null), j(null), at, s.run_id, s.seq],
        );
      } else {
        const r = (
          await c.query(
            `UPDATE ${this.t.runs} SET last_step_seq = last_step_seq + 1 WHERE id = $1 RETURNING last_step_seq`,
            [run.id],
          )
        ).rows[0] as Row;
        s = buildStep(step, Number(r.last_step_seq), at);
        await c.query(insertSql(this.t.steps, COLUMNS.steps, D), columnValues(s, COLUMNS.steps));
      }
      if (event) await this.insertEvent(c, run.id, event, at);
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
    return this.tx(async (c) => {
      const run = await this.lockRun(c, runId);
      const r = (await c.query(`SELECT * FROM ${this.t.steps} WHERE run_id = $1 AND seq = $2`, [runId, seq]))
        .rows[0] as Row | undefined;
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
      await c.query(
        `UPDATE ${this.t.steps} SET status = $1, output = $2, error = $3, finished_at = $4 WHERE run_id = $5 AND seq = $6`,
        [s.status, j(s.output), j(s.error), at, runId, seq],
      );
      const next = applyStepRunPatch(run, runPatch, at);
      if (next) await this.saveRun(c, next);
      if (event) await this.insertEvent(c, runId, event, at);
      return s;
    });
  }

  getSteps(runId: string): Promise<Step[]> {
    return this.read(async (q) =>
      (await q(`SELECT * FROM ${this.t.steps} WHERE run_id = $1 ORDER BY seq`, [runId])).map(toStep),
    );
  }

  getStepByKey(runId: string, key: string): Promise<Step | undefined> {
    return this.read(async (q) => {
      const r = (await q(`SELECT * FROM ${this.t.steps} WHERE run_id = $1 AND key = $2`, [runId, key]))[0];
      return r ? toStep(r) : undefined;
    });
  }

  appendEvent(runId: string, type: string, data: unknown): Promise<RunEvent> {
    return this.tx((c) => this.insertEvent(c, runId, { type, data }, nowIso()));
  }

  listEvents(runId: string, query: ListEventsQuery = {}): Promise<RunEvent[]> {
    return this.read(async (q) =>
      (
        await q(`SELECT * FROM ${this.t.events} WHERE run_id = $1 AND seq > $2 ORDER BY seq LIMIT $3`, [
          runId,
          query.afterSeq ?? 0,
          clampLimit(query.limit, 1000, 10_000),
        ])
      ).map(toEvent),
    );
  }

  createApproval(a: NewApproval, change?: ApprovalRunChange): Promise<{ approval: Approval; run: Run }> {
    return this.tx(async (c) => {
      checkTransition(await this.lockRun(c, a.run_id), { from: change?.from });
      const ap = buildApproval(a, nowIso());
      await c.query(insertSql(this.t.approvals, COLUMNS.approvals, D), columnValues(ap, COLUMNS.approvals));
      const run = await this.transitionIn(
        c,
        a.run_id,
        { status: 'waiting_approval', ...(change?.patch ?? {}) },
        change?.event ?? approvalRequestedEvent(ap),
        { from: change?.from },
      );
      return { approval: ap, run };
    });
  }

  getApproval(id: string): Promise<Approval | undefined> {
    return this.read(async (q) => {
      const r = (await q(`SELECT * FROM ${this.t.approvals} WHERE id = $1`, [id]))[0];
      return r ? toApproval(r) : undefined;
    });
  }

  listApprovals(query: ListApprovalsQuery = {}): Promise<Approval[]> {
    return this.read(async (q) =>
      (
        await q(
          `SELECT * FROM ${this.t.approvals} a WHERE ($1::text IS NULL OR a.status = $1) AND ($2::text IS NULL OR a.run_id = $2)
           AND ($4::text IS NULL OR EXISTS (SELECT 1 FROM ${this.t.runs} r WHERE r.id = a.run_id AND r.principal = $4))
         ORDER BY a.id DESC LIMIT $3`,
          [
            query.status ?? null,
            query.run_id ?? null,
            clampLimit(query.limit, 100, 1000),
            query.principal ?? null,
          ],
        )
      ).map(toApproval),
    );
  }

  decideApproval(id: string, d: ApprovalDecision, change?: ApprovalRunChange): Promise<Approval> {
    return this.tx(async (c) => {
      const r = (await c.query(`SELECT * FROM ${this.t.approvals} WHERE id = $1 FOR UPDATE`, [id]))
        .rows[0] as Row | undefined;
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
      await c.query(
        `UPDATE ${this.t.approvals} SET status = $1, decided_by = $2, reason = $3, decided_at = $4 WHERE id = $5`,
        [next.status, next.decided_by, next.reason, next.decided_at, id],
      );
      if (change)
        await this.transitionIn(c, a.run_id, change.patch ?? {}, change.event, { from: change.from });
      return next;
    });
  }

  getApprovalForStep(runId: string, stepKey: string): Promise<Approval | undefined> {
    return this.read(async (q) => {
      const r = (
        await q(
          `SELECT * FROM ${this.t.approvals} WHERE run_id = $1 AND step_key = $2 ORDER BY id DESC LIMIT 1`,
          [runId, stepKey],
        )
      )[0];
      return r ? toApproval(r) : undefined;
    });
  }

  appendAudit(e: NewAuditEntry): Promise<AuditEntry> {
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
    return this.tx(async (c) => {
      await c.query(insertSql(this.t.audit, COLUMNS.audit, D), columnValues(entry, COLUMNS.audit));
      return entry;
    });
  }

  listAudit(query: ListAuditQuery = {}): Promise<AuditEntry[]> {
    return this.read(async (q) =>
      (
        await q(
          `SELECT * FROM ${this.t.audit} WHERE ($1::text IS NULL OR target = $1) AND ($2::text IS NULL OR action = $2)
         ORDER BY id DESC LIMIT $3`,
          [query.target ?? null, query.action ?? null, clampLimit(query.limit, 100, 1000)],
        )
      ).map(toAudit),
    );
  }

  claimRuns(owner: string, opts: ClaimOptions): Promise<Run[]> {
    if (opts.statuses.length === 0 || opts.limit <= 0) return Promise.resolve([]);
    return this.tx(async (c) => {
      const now = nowIso();
      const rows = (
        await c.query(
          `UPDATE ${this.t.runs} SET owner = $1, lease_expires_at = $2, updated_at = $3 WHERE id IN (
             SELECT id FROM ${this.t.runs} WHERE status = ANY($4) AND schema_version <= $5
               AND (owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at < $3)
             ORDER BY created_at, id LIMIT $6 FOR UPDATE SKIP LOCKED) RETURNING *`,
          [owner, isoIn(opts.leaseMs), now, opts.statuses, RUN_SCHEMA_VERSION, opts.limit],
        )
      ).rows as Row[];
      return rows.map(toRun).sort((a, b) => (a.created_at + a.id < b.created_at + b.id ? -1 : 1));
    });
  }

  renewLeases(owner: string, runIds: string[], leaseMs: number): Promise<string[]> {
    return this.tx(async (c) => {
      const rows = (
        await c.query(
          `UPDATE ${this.t.runs} SET lease_expires_at = $1, updated_at = $2
           WHERE id = ANY($3) AND owner = $4 AND NOT (status = ANY($5)) RETURNING id`,
          [isoIn(leaseMs), nowIso(), runIds, owner, TERMINAL],
        )
      ).rows as Row[];
      const got = new Set(rows.map((r) => String(r.id)));
      return runIds.filter((id) => got.has(id));
    });
  }

  releaseRun(id: string, owner: string): Promise<boolean> {
    return this.tx(async (c) => {
      const r = await c.query(
        `UPDATE ${this.t.runs} SET owner = NULL, lease_expires_at = NULL, updated_at = $1 WHERE id = $2 AND owner = $3`,
        [nowIso(), id, owner],
      );
      return (r.rowCount ?? 0) > 0;
    });
  }

  pruneFinished(olderThan: Date): Promise<number> {
    return this.tx(async (c) => {
      const ids = (
        await c.query(
          `SELECT id FROM ${this.t.runs} WHERE status = ANY($1) AND COALESCE(finished_at, updated_at) < $2 FOR UPDATE`,
          [TERMINAL, olderThan.toISOString()],
        )
      ).rows.map((r: Row) => String(r.id));
      if (ids.length === 0) return 0;
      for (const t of [this.t.steps, this.t.events, this.t.approvals, this.t.keys]) {
        await c.query(`DELETE FROM ${t} WHERE run_id = ANY($1)`, [ids]);
      }
      return (await c.query(`DELETE FROM ${this.t.runs} WHERE id = ANY($1)`, [ids])).rowCount ?? 0;
    });
  }

  async health(): Promise<StoreHealth> {
    if (this.closed) return { ok: false, detail: 'closed' };
    try {
      await this.pool.query('SELECT 1');
      return { ok: true };
    } catch (e) {
      return { ok: false, detail: e instanceof Error ? e.message : String(e) };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  /** Test hook: overwrites the stored schema version of a run. */
  async forceSchemaVersion(runId: string, version: number): Promise<void> {
    await this.pool.query(`UPDATE ${this.t.runs} SET schema_version = $1 WHERE id = $2`, [version, runId]);
  }
}

function mapError(e: unknown): unknown {
  if (e instanceof SkillplaneError) return e;
  if (isTransient(e)) {
    const msg = e instanceof Error ? e.message : String(e);
    return new SkillplaneError('store_unavailable', `PostgreSQL is unreachable: ${msg}`, {
      data: { driver_code: errorCode(e) ?? null },
      cause: e,
    });
  }
  return e;
}
