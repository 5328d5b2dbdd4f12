/**
 * The migration ledger's rules, shared by the SQL drivers: which numbered migrations a database
 * still needs, refusing a database that skillplane did not create or that a newer build migrated.
 */
import { SkillplaneError } from '../../errors/index.js';

/** The ledger table: one row per applied migration. */
export const LEDGER = 'skillplane_migrations';

/** Tables created by skillplane; a database holding any of them without our ledger is foreign. */
export const STORE_TABLES = ['runs', 'steps', 'events', 'approvals', 'idempotency_keys', 'audit'];

/** What a driver found in the database before migrating. */
export interface LedgerState {
  /** Tables that exist (in the store's schema). */
  tables: readonly string[];
  /** Versions recorded in the ledger, `undefined` when there is no ledger yet. */
  applied: readonly number[] | undefined;
}

/** Where the store lives, for messages (`SQLite database ./x.db`, `schema acme`) and error data. */
export interface StoreLocation {
  label: string;
  data: Record<string, unknown>;
}

/**
 * The migrations still to apply, in order. Throws `store_foreign` for a database holding our table
 * names without our ledger, `unsupported_schema_version` for one migrated by a newer build.
 */
export function pendingMigrations<M extends { version: number }>(
  migrations: readonly M[],
  found: LedgerState,
  where: StoreLocation,
): M[] {
  if (found.applied === undefined) {
    const clash = STORE_TABLES.filter((t) => found.tables.includes(t));
    if (clash.length > 0) {
      throw new SkillplaneError(
        'store_foreign',
        `${where.label} already has tables ${clash.join(', ')} not created by skillplane`,
        { data: { ...where.data, tables: clash } },
      );
    }
  }
  const applied = new Set(found.applied ?? []);
  const known = migrations[migrations.length - 1]?.version ?? 0;
  const newest = Math.max(0, ...applied);
  if (newest > known) {
    throw new SkillplaneError(
      'unsupported_schema_version',
      `${where.label} was migrated by a newer skillplane (schema ${newest}, this build knows ${known})`,
      { data: { ...where.data, schema_version: newest, supported: known } },
    );
  }
  return migrations.filter((m) => !applied.has(m.version));
}
