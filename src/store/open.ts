/**
 * `openRunStore`: picks and opens a {@link RunStore} driver from configuration.
 */
import { ValidationError } from '../errors/index.js';
import type { Clock } from '../vocabulary/index.js';
import { MemoryRunStore } from './memory.js';
import { PostgresRunStore } from './postgres.js';
import type { RunStore } from './run-store.js';
import { SqliteRunStore } from './sqlite.js';

/** Which store to open and where. */
export interface OpenRunStoreOptions {
  driver: 'memory' | 'sqlite' | 'postgres';
  /** SQLite file path (required for `sqlite`). */
  path?: string;
  /** PostgreSQL connection string (required for `postgres`). */
  url?: string;
  /** PostgreSQL schema, default `public`. */
  schema?: string;
  /** PostgreSQL pool size, default 10. */
  poolSize?: number;
  /** Time source of every timestamp, lease and expiry (default the system clock). */
  clock?: Clock;
  /** Memory store: terminal runs kept, default 10,000. */
  maxFinishedRuns?: number;
}

/**
 * Opens a run store, creating and migrating its database when needed. Failures are
 * `SkillplaneError`s with codes such as `store_corrupt`, `store_foreign`, `store_unavailable` and
 * `unsupported_schema_version`, never raw driver errors.
 */
export async function openRunStore(opts: OpenRunStoreOptions): Promise<RunStore> {
  const clock = opts.clock === undefined ? {} : { clock: opts.clock };
  switch (opts.driver) {
    case 'memory':
      return new MemoryRunStore({
        ...clock,
        ...(opts.maxFinishedRuns === undefined ? {} : { maxFinishedRuns: opts.maxFinishedRuns }),
      });
    case 'sqlite':
      if (!opts.path) throw missing('path', 'the sqlite driver needs a file path');
      return SqliteRunStore.open({ path: opts.path, ...clock });
    case 'postgres':
      if (!opts.url) throw missing('url', 'the postgres driver needs a connection string');
      return PostgresRunStore.open({
        url: opts.url,
        ...clock,
        ...(opts.schema === undefined ? {} : { schema: opts.schema }),
        ...(opts.poolSize === undefined ? {} : { poolSize: opts.poolSize }),
      });
    default:
      throw missing('driver', `unknown store driver: ${String((opts as { driver: unknown }).driver)}`);
  }
}

function missing(path: string, message: string): ValidationError {
  return new ValidationError(message, [{ path: `store.${path}`, message }], 'config_invalid');
}
