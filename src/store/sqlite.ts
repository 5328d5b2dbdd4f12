/**
 * SQLite {@link RunStore} on better-sqlite3: one file, WAL, `synchronous=NORMAL`, a busy timeout.
 * The algorithms are the engine's; this adapter answers its reads and applies its changes with the
 * shared SQL (`sql/render.ts`), synchronously.
 *
 * Group commit: every call is queued and the queue is flushed on the next turn of the event loop
 * (setImmediate, so writes made by all the I/O callbacks of one turn share it) inside ONE
 * transaction (`BEGIN IMMEDIATE` when it holds a write). A failing call must not undo the others:
 * the batch first runs its calls one after another with nothing between them; when one throws, the
 * whole transaction is rolled back and the batch runs again with each call in its own savepoint
 * (a savepoint per call costs more than most calls, and calls rarely fail). Every caller's promise
 * settles only after the batch commits, so a resolved write is durable (to the WAL) and visible to
 * later calls.
 */
import Database from 'better-sqlite3';
import { SkillplaneError } from '../errors/index.js';
import { systemClock, type Clock } from '../vocabulary/index.js';
import { EngineRunStore } from './engine/engine-store.js';
import { executeSync, type Change, type Read, type StoreOp, type SyncPort } from './engine/port.js';
import { iso } from './engine/records.js';
import { TEXT_CODEC, type Row } from './engine/rows.js';
import { LEDGER, pendingMigrations } from './migrations/plan.js';
import { SQLITE_MIGRATIONS } from './migrations/sqlite.js';
import type { SqlDialect, Statement } from './sql/dialect.js';
import { SqlRenderer } from './sql/render.js';
import type { StoreHealth } from './run-store.js';
import { mapSqliteError, openError, quickCheck } from './sqlite/errors.js';

/** Options of {@link SqliteRunStore.open}. */
export interface SqliteStoreOptions {
  /** Database file (created when missing); `:memory:` for a private in-memory database. */
  path: string;
  /** Time source of every timestamp, lease and expiry (default the system clock). */
  clock?: Clock;
  /** How long a write waits for another connection's lock, default 5000 ms. */
  busyTimeoutMs?: number;
  /** Batch calls made in the same tick into one transaction (default true; false: one per call). */
  groupCommit?: boolean;
  /**
   * Run `PRAGMA quick_check` at open (default true); a damaged database still opens but reports
   * `store_corrupt` from {@link SqliteRunStore.health}.
   */
  quickCheck?: boolean;
  /** Caps the file at this many pages (`PRAGMA max_page_count`); writes beyond fail `store_full`. */
  maxPageCount?: number;
}

const SQLITE: SqlDialect = {
  codec: TEXT_CODEC,
  table: (name) => name,
  param: () => '?',
  // BEGIN IMMEDIATE already makes the batch the only writer of the file.
  forUpdate: '',
  skipLocked: '',
  inList: (column, param) => `${column} IN (SELECT value FROM json_each(${param}))`,
  listValue: (values) => JSON.stringify(values),
  time: (param) => param,
  lockName: () => undefined,
  lockValue: (key) => key,
};

type Stmt = Database.Statement<unknown[], unknown>;

interface Pending {
  op: StoreOp<unknown>;
  resolve: (v: unknown) => void;
  reject: (e: unknown) => void;
}

/** Applies pending migrations under `BEGIN IMMEDIATE`. */
function migrate(db: Database.Database, path: string, clock: Clock): void {
  db.transaction(() => {
    const tables = db
      .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
      .pluck()
      .all() as string[];
    const ledger = tables.includes(LEDGER);
    const applied = ledger
      ? (db.prepare(`SELECT version FROM ${LEDGER}`).pluck().all() as number[])
      : undefined;
    const todo = pendingMigrations(
      SQLITE_MIGRATIONS,
      { tables, applied },
      { label: `SQLite database ${path}`, data: { path } },
    );
    if (!ledger)
      db.exec(
        `CREATE TABLE ${LEDGER} (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)`,
      );
    const record = db.prepare(`INSERT INTO ${LEDGER} (version, name, applied_at) VALUES (?, ?, ?)`);
    for (const m of todo) {
      db.exec(m.sql);
      record.run(m.version, m.name, iso(clock.now()));
    }
  }).immediate();
}

/** A call of a batch run without savepoints threw: the batch is rolled back and run isolated. */
class IsolateCalls extends Error {
  constructor() {
    super('a call of the batch failed; run it again with a savepoint per call');
  }
}

/** A call of a batch failed and SQLite rolled the whole transaction back with it. */
class BatchRolledBack extends Error {
  constructor(
    readonly index: number,
    override readonly cause: unknown,
  ) {
    super('the batch transaction was rolled back');
  }
}

/** A {@link RunStore} backed by one SQLite file. */
export class SqliteRunStore extends EngineRunStore {
  readonly driver = 'sqlite';
  /** Number of transactions committed by group commit (for benchmarks). */
  batches = 0;
  private readonly stmts = new Map<string, Stmt>();
  private readonly sql = new SqlRenderer(SQLITE);
  private readonly port: SyncPort;
  private queue: Pending[] = [];
  private scheduled = false;
  private closed = false;
  private readonly savepoint: (fn: () => unknown) => unknown;
  private readonly batch: Database.Transaction<
    (ops: Pending[], out: Array<[boolean, unknown]>, isolated: boolean) => void
  >;
  /** Changes applied so far (tells whether a failed call wrote anything before it threw). */
  private applied = 0;

  private constructor(
    private readonly db: Database.Database,
    clock: Clock,
    private readonly groupCommit: boolean,
    /** Why the database is known to be damaged (quick_check at open or a failed call). */
    private corruption: string | undefined,
  ) {
    super(clock);
    this.port = {
      read: (r) => this.read(r),
      apply: (c) => {
        this.applied++;
        this.apply(c);
      },
    };
    this.savepoint = db.transaction((fn: () => unknown) => fn());
    this.batch = db.transaction((ops: Pending[], out: Array<[boolean, unknown]>, isolated: boolean) => {
      for (const p of ops) {
        const call = (): unknown => executeSync(p.op, this.clock.now(), this.port);
        // Isolated runs only follow an IsolateCalls, which a batch of one never throws.
        if (!isolated) {
          const appliedBefore = this.applied;
          try {
            out.push([true, call()]);
          } catch (e) {
            if (ops.length === 1) throw e;
            // A call that failed before it changed anything (a refusal decided on what it read)
            // leaves nothing to undo; one that failed half-way makes the batch run isolated.
            if (this.applied !== appliedBefore || !db.inTransaction) throw new IsolateCalls();
            out.push([false, e]);
          }
          continue;
        }
        try {
          out.push([true, this.savepoint(call)]);
        } catch (e) {
          // SQLite may roll the whole transaction back on its own (SQLITE_FULL, SQLITE_IOERR): then
          // nothing of the batch stands, and every call fails with this cause.
          if (!db.inTransaction) throw new BatchRolledBack(out.length, e);
          out.push([false, e]);
        }
      }
    });
  }

  /** Opens (creating and migrating when needed) the database at `opts.path`. */
  static open(opts: SqliteStoreOptions): SqliteRunStore {
    let db: Database.Database | undefined;
    const timeout = opts.busyTimeoutMs ?? 5000;
    const clock = opts.clock ?? systemClock;
    try {
      db = new Database(opts.path, { timeout });
      db.pragma(`busy_timeout = ${Math.floor(timeout)}`);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = NORMAL');
      migrate(db, opts.path, clock);
      if (opts.maxPageCount !== undefined) db.pragma(`max_page_count = ${Math.floor(opts.maxPageCount)}`);
      const corruption = opts.quickCheck === false ? undefined : quickCheck(db);
      return new SqliteRunStore(db, clock, opts.groupCommit ?? true, corruption);
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

  private exec(st: Statement): Row[] {
    const s = this.stmt(st.text);
    if (s.reader) return s.all(...st.values) as Row[];
    s.run(...st.values);
    return [];
  }

  private read(r: Read): unknown {
    const q = this.sql.read(r);
    let rows: Row[] = [];
    for (const st of q.statements) rows = this.exec(st);
    return q.decode(rows);
  }

  private apply(c: Change): void {
    for (const st of this.sql.change(c)) this.exec(st);
  }

  protected execute<T>(op: StoreOp<T>): Promise<T> {
    if (this.closed) return Promise.reject(new SkillplaneError('store_closed', 'the run store is closed'));
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ op, resolve: resolve as (v: unknown) => void, reject });
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
    let out: Array<[boolean, unknown]> = [];
    const writes = ops.some((p) => p.op.write);
    const run = (isolated: boolean) => {
      if (writes) this.batch.immediate(ops, out, isolated);
      else this.batch(ops, out, isolated);
    };
    try {
      try {
        run(false);
      } catch (e) {
        if (!(e instanceof IsolateCalls)) throw e;
        // Rolled back: nothing of the first run stands.
        out = [];
        run(true);
      }
      this.batches++;
    } catch (e) {
      if (e instanceof BatchRolledBack) {
        // Only the call that broke the transaction fails; the others run again in a new one.
        ops[e.index]!.reject(this.failure(e.cause));
        this.queue = [...ops.filter((_, i) => i !== e.index), ...this.queue];
        this.flush();
        return;
      }
      const err = this.failure(e);
      for (const p of ops) p.reject(err);
      return;
    }
    ops.forEach((p, i) => {
      const [ok, v] = out[i] as [boolean, unknown];
      if (ok) p.resolve(v);
      else p.reject(this.failure(v));
    });
  }

  /** Maps a driver error; a corruption error marks the store unhealthy for good. */
  private failure(e: unknown): SkillplaneError {
    const err = mapSqliteError(e);
    if (err.code === 'store_corrupt' && this.corruption === undefined) {
      this.corruption = err.cause instanceof Error ? err.cause.message : err.message;
    }
    return err;
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
      this.db.prepare('SELECT 1').get();
      return { ok: true };
    } catch (e) {
      const err = this.failure(e);
      return err.code === 'store_corrupt' ? corrupt() : { ok: false, code: err.code, detail: err.message };
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
