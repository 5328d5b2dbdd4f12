/**
 * Public surface of the store: the {@link RunStore} interface, its records, the three drivers and
 * {@link openRunStore}. Other folders import only from here.
 */

/** Domain records and their constants. */
export type {
  Approval,
  ApprovalStatus,
  AuditEntry,
  NewApproval,
  NewAuditEntry,
  NewRun,
  NewStep,
  Priority,
  Run,
  RunEvent,
  RunLimits,
  RunStatus,
  RunUsage,
  Step,
  StepKind,
  StepStatus,
  StoredError,
} from './types.js';
export {
  DEFAULT_RUN_LIMITS,
  RUN_SCHEMA_VERSION,
  RUN_STATUSES,
  TERMINAL_STATUSES,
  isTerminal,
} from './types.js';

/** The store contract and its option types. */
export type {
  ApprovalDecision,
  AuditPage,
  ClaimOptions,
  CreateRunOptions,
  CreateRunResult,
  EventInput,
  IdempotencyOptions,
  ListApprovalsQuery,
  ListAuditQuery,
  ListEventsQuery,
  ListRunsQuery,
  RunPage,
  RunPatch,
  RunStore,
  StepResult,
  StepRunPatch,
  StepWriteOptions,
  StoreHealth,
  TransitionOptions,
} from './run-store.js';

/** Time-ordered id generators: runs (`newRunId`), approvals and audit entries. */
export { newId, newRunId } from './common.js';

/** In-memory driver (tests, benchmarks), bounded to `maxFinishedRuns` terminal runs. */
export { MemoryRunStore, type MemoryStoreOptions } from './memory.js';
/** SQLite driver (default; WAL, group commit). */
export { SqliteRunStore, type SqliteStoreOptions } from './sqlite.js';
/** PostgreSQL driver. */
export { PostgresRunStore, type PostgresStoreOptions } from './postgres.js';
/** Opens a driver from configuration. */
export { openRunStore, type OpenRunStoreOptions } from './open.js';
