/**
 * PostgreSQL {@link RunStore} on a `pg` Pool of pipelined connections. Every table lives in one
 * schema (option `schema`, default `public`; one schema per deployment). The algorithms are the
 * engine's; this adapter renders them with the shared SQL (`sql/render.ts`).
 *
 * Writes are group-committed (`postgres/batcher.ts`): the writes of one event-loop turn share a
 * transaction (a few, in flight side by side, for a large turn), their reads and writes coalesced
 * by kind (`postgres/bulk.ts`) and pipelined, so a step costs a fraction of a round trip. Writes lock
 * their run row (`FOR UPDATE`), so concurrent writers of one run serialise across nodes;
 * `claimRuns` uses `FOR UPDATE SKIP LOCKED` so nodes never claim the same run. Connection loss is
 * retried with exponential backoff whenever the outcome is known (the failure happened before
 * COMMIT was answered); migrations run under `pg_advisory_xact_lock`.
 */
import pg from 'pg';
import { SkillplaneError, ValidationError } from '../errors/index.js';
import { systemClock, type Clock } from '../vocabulary/index.js';
import { EngineRunStore } from './engine/engine-store.js';
import type { Found, Read, Reads, StoreOp } from './engine/port.js';
import { iso } from './engine/records.js';
import type { Row } from './engine/rows.js';
import { LEDGER, pendingMigrations } from './migrations/plan.js';
import { POSTGRES_MIGRATIONS } from './migrations/postgres.js';
import { PgBatcher } from './postgres/batcher.js';
import { PgBulkSql } from './postgres/bulk.js';
import { isTransient, mapPgError } from './postgres/errors.js';
import type { StoreHealth } from './run-store.js';
import type { SqlDialect } from './sql/dialect.js';
import { SqlRenderer } from './sql/render.js';

/** Options of {@link PostgresRunStore.open}. */
export interface PostgresStoreOptions {
  /** Connection string, e.g. `postgres://user@host:5432/db`. */
  url: string;
  /** Schema holding every table (created when missing), default `public`. */
  schema?: string;
  /** Time source of every timestamp, lease and expiry (default the system clock). */
  clock?: Clock;
  /** Pool size, default 10. */
  poolSize?: number;
  /** Attempts for an operation failing on connection loss, default 6 (backoff 50 ms … 1.6 s). */
  retries?: number;
  /** `application_name` of the connections, default `skillplane`. */
  applicationName?: string;
  /** Write transactions in flight at the same time, default 4 (at most `poolSize - 1`). */
  maxConcurrentBatches?: number;
  /**
   * Write operations in one transaction at most, default 32: a larger turn's writes are split
   * over several transactions in flight at once, so the server works on them in parallel.
   */
  maxBatchSize?: number;
}

const toIso = (v: unknown): string | null =>
  v instanceof Date ? v.toISOString() : v == null ? null : String(v);

function dialect(schema: string): SqlDialect {
  const s = `"${schema}"`;
  return {
    codec: { json: (v) => v, time: toIso },
    table: (name) => `${s}.${name}`,
    param: (i) => `$${i}`,
    forUpdate: ' FOR UPDATE',
    skipLocked: ' FOR UPDATE SKIP LOCKED',
    inList: (column, param) => `${column} = ANY(${param}::text[])`,
    listValue: (values) => [...values],
    time: (param) => `${param}::timestamptz`,
    lockName: (param) => `SELECT pg_advisory_xact_lock(hashtext(${param}))`,
    lockValue: (key) => `skillplane_idem:${schema}:${key}`,
  };
}

const backoff = (attempt: number): Promise<void> =>
  new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 2000)));

/** A {@link RunStore} backed by PostgreSQL. */
export class PostgresRunStore extends EngineRunStore {
  readonly driver = 'postgres';
  private closed = false;
  /** Why the database is known to be damaged (a call failed with XX001/XX002). */
  private corruption: string | undefined;
  private readonly sql: SqlRenderer;
  private readonly names = new Map<string, string>();
  private readonly batcher: PgBatcher;

  private constructor(
    private readonly pool: pg.Pool,
    private readonly schema: string,
    clock: Clock,
    private readonly retries: number,
    opts: PostgresStoreOptions,
  ) {
    super(clock);
    const d = dialect(schema);
    this.sql = new SqlRenderer(d);
    const poolSize = opts.poolSize ?? 10;
    this.batcher = new PgBatcher({
      pool,
      bulk: new PgBulkSql(d, this.sql),
      clock,
      retries,
      maxBatches: Math.max(1, Math.min(opts.maxConcurrentBatches ?? 4, poolSize - 1)),
      maxBatchSize: Math.max(1, opts.maxBatchSize ?? 32),
      nameOf: (text) => this.nameOf(text),
      fail: (e) => this.fail(e),
      closed: () => this.closed,
    });
  }

  /** Write transactions committed (for benchmarks). */
  get batches(): number {
    return this.batcher.batches;
  }

  /** Connects, creates the schema when missing and applies pending migrations. */
  static async open(opts: PostgresStoreOptions): Promise<PostgresRunStore> {
    const schema = opts.schema ?? 'public';
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
      throw new ValidationError('invalid schema name', [
        { path: 'schema', message: `not a plain identifier: ${schema}` },
      ]);
    }
    const clock = opts.clock ?? systemClock;
    const retries = Math.max(1, opts.retries ?? 6);
    const applicationName = opts.applicationName ?? 'skillplane';
    for (let attempt = 0; ; attempt++) {
      try {
        await migrate(opts.url, schema, applicationName, clock);
        break;
      } catch (e) {
        if (e instanceof SkillplaneError) throw e;
        if (isTransient(e) && attempt + 1 < retries) {
          await backoff(attempt);
          continue;
        }
        const msg = e instanceof Error ? e.message : String(e);
        throw new SkillplaneError('store_unavailable', `cannot open PostgreSQL store: ${msg}`, {
          data: { driver_code: (e as { code?: string }).code ?? null, schema },
          cause: e,
        });
      }
    }
    const pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.poolSize ?? 10,
      application_name: applicationName,
      pipeline: true,
      // Statements are prepared once per connection but planned for each execution: a plan
      // cached while a table was small (a seq scan) would stay as it grows.
      options: '-c plan_cache_mode=force_custom_plan',
    });
    pool.on('error', () => {
      // an idle client lost its connection; the pool replaces it on next use
    });
    return new PostgresRunStore(pool, schema, clock, retries, opts);
  }

  private nameOf(text: string): string {
    let name = this.names.get(text);
    if (name === undefined) {
      name = `skillplane_${this.names.size + 1}`;
      this.names.set(text, name);
    }
    return name;
  }

  /** Maps an error for a caller; a corruption error marks the store unhealthy. */
  private fail(e: unknown): SkillplaneError {
    if (this.closed && !(e instanceof SkillplaneError)) {
      return new SkillplaneError('store_closed', 'the run store is closed', { cause: e });
    }
    const err = mapPgError(e);
    if (err.code === 'store_corrupt') this.corruption ??= err.message;
    return err;
  }

  protected execute<T>(op: StoreOp<T>): Promise<T> {
    if (this.closed) return Promise.reject(new SkillplaneError('store_closed', 'the run store is closed'));
    return op.write ? this.batcher.submit(op) : this.read(op);
  }

  /** A read-only operation, outside any transaction (retried on connection loss). */
  private async read<T>(op: StoreOp<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        const plan = op.plan(this.clock.now());
        const found: Record<string, unknown> = {};
        for (const name in plan.reads) {
          const q = this.sql.read(plan.reads[name] as Read);
          let rows: Row[] = [];
          for (const st of q.statements) {
            rows = (await this.pool.query({ name: this.nameOf(st.text), text: st.text, values: st.values }))
              .rows as Row[];
          }
          found[name] = q.decode(rows);
        }
        return plan.decide(found as Found<Reads>).value;
      } catch (e) {
        if (isTransient(e) && attempt + 1 < this.retries && !this.closed) {
          await backoff(attempt);
          continue;
        }
        throw this.fail(e);
      }
    }
  }

  async health(): Promise<StoreHealth> {
    if (this.closed) return { ok: false, detail: 'closed' };
    if (this.corruption !== undefined) {
      return {
        ok: false,
        code: 'store_corrupt',
        detail: `PostgreSQL reported damaged data (${this.corruption})`,
      };
    }
    try {
      await this.pool.query('SELECT 1');
      return { ok: true };
    } catch (e) {
      const err = this.fail(e);
      return { ok: false, code: err.code, detail: err.message };
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.batcher.drain();
    this.closed = true;
    await this.pool.end();
  }

  /** Test hook: overwrites the stored schema version of a run. */
  async forceSchemaVersion(runId: string, version: number): Promise<void> {
    const text = `UPDATE ${dialect(this.schema).table('runs')} SET schema_version = $1 WHERE id = $2`;
    await this.pool.query(text, [version, runId]);
  }
}

/**
 * Creates the schema and applies pending migrations in one transaction on a connection of its
 * own, serialised between openers by an advisory lock on the schema's name.
 */
async function migrate(url: string, schema: string, applicationName: string, clock: Clock): Promise<void> {
  const c = new pg.Client({ connectionString: url, application_name: applicationName });
  c.on('error', () => undefined);
  await c.connect();
  const s = `"${schema}"`;
  try {
    await c.query('BEGIN');
    await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`skillplane_migrations:${schema}`]);
    await c.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
    const names = await c.query('SELECT table_name FROM information_schema.tables WHERE table_schema = $1', [
      schema,
    ]);
    const tables = names.rows.map((r: Row) => String(r.table_name));
    const ledger = tables.includes(LEDGER);
    const versions = ledger ? (await c.query(`SELECT version FROM ${s}.${LEDGER}`)).rows : undefined;
    const applied = versions?.map((r: Row) => Number(r.version));
    const where = { label: `schema ${schema}`, data: { schema } };
    const todo = pendingMigrations(POSTGRES_MIGRATIONS, { tables, applied }, where);
    if (!ledger) {
      await c.query(
        `CREATE TABLE ${s}.${LEDGER} (version integer PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL)`,
      );
    }
    for (const m of todo) {
      await c.query(m.sql(s));
      await c.query(`INSERT INTO ${s}.${LEDGER} (version, name, applied_at) VALUES ($1, $2, $3)`, [
        m.version,
        m.name,
        iso(clock.now()),
      ]);
    }
    await c.query('COMMIT');
  } catch (e) {
    await c.query('ROLLBACK').catch(() => undefined);
    throw e;
  } finally {
    await c.end().catch(() => undefined);
  }
}
