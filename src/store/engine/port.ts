/**
 * The transaction port: the one seam between the store's algorithms and its drivers.
 *
 * An operation ({@link StoreOp}) plans, for the clock's current time, the {@link Read}s it needs
 * (named, all independent, so PostgreSQL answers them in one pipelined round trip) and a pure
 * `decide` that turns what was read into a value and the {@link Change}s to write. Every check
 * happens in `decide`, before any write, so an operation that fails writes nothing and a driver
 * can run many of them in one transaction (group commit). The algorithms live in `*-ops.ts`; the
 * drivers only answer reads and apply changes (memory over Maps, SQLite and PostgreSQL over the
 * SQL of `../sql/`).
 */
import type {
  ApprovalStatus,
  Approval,
  AuditEntry,
  Priority,
  Run,
  RunEvent,
  RunStatus,
  Step,
} from '../types.js';
import type {
  ApprovalRow,
  AuditRow,
  EventRow,
  KeyRow,
  RunHead,
  RunRow,
  StepRow,
  StoredKey,
  StoredRun,
} from './rows.js';

/** Filters of a page of runs, newest first. */
export interface RunFilter {
  statuses?: readonly RunStatus[];
  agent?: string;
  priority?: Priority;
  principal?: string;
  createdAfter?: string;
  /** Only runs strictly before this position (`created_at`, `id`). */
  before?: { at: string; id: string };
  /** Skips this many runs of the ordered list (Opta-LMX's `offset`; cursors are the cheap way). */
  offset?: number;
  limit: number;
}

/** Filters of a list of approvals, newest first. */
export interface ApprovalFilter {
  status?: ApprovalStatus;
  runId?: string;
  principal?: string;
  limit: number;
}

/** Filters of a page of audit entries, newest first. */
export interface AuditFilter {
  runId?: string;
  principal?: string;
  action?: string;
  target?: string;
  since?: string;
  until?: string;
  /** Only entries strictly before this position (`at`, `id`). */
  before?: { at: string; id: string };
  limit: number;
}

/**
 * What an operation reads. `lock` (and the reads documented as locked) hold the rows for the rest
 * of the transaction (`FOR UPDATE` on PostgreSQL; the single writer of SQLite and memory already
 * excludes everyone else).
 */
export type Read =
  | { kind: 'run'; id: string; lock: boolean }
  | { kind: 'head'; id: string; lock: boolean }
  /** Heads of these runs, locked. */
  | { kind: 'heads'; ids: readonly string[] }
  /** Head of the run an approval belongs to, locked (before the approval is read). */
  | { kind: 'headOfApproval'; approvalId: string }
  | { kind: 'runs'; filter: RunFilter }
  /** How many runs the filter matches (its `before`, `offset` and `limit` aside). */
  | { kind: 'countRuns'; filter: RunFilter }
  /** Oldest runs in `statuses` with no owner or a lease expired before `now`, locked, skipping locked ones. */
  | { kind: 'claimable'; statuses: readonly RunStatus[]; now: string; limit: number }
  /** Ids of terminal runs finished before `before`, locked. */
  | { kind: 'prunable'; before: string }
  | { kind: 'stepByKey'; runId: string; key: string }
  | { kind: 'stepBySeq'; runId: string; seq: number }
  | { kind: 'steps'; runId: string }
  | { kind: 'events'; runId: string; afterSeq: number; limit: number }
  /** An idempotency key and its run; holds a lock on the key name (even when absent). */
  | { kind: 'key'; key: string }
  | { kind: 'approval'; id: string; lock: boolean }
  | { kind: 'approvals'; filter: ApprovalFilter }
  | { kind: 'approvalForStep'; runId: string; stepKey: string }
  | { kind: 'audit'; filter: AuditFilter };

/** What each kind of read returns. */
export interface ReadResults {
  run: StoredRun | undefined;
  head: RunHead | undefined;
  heads: RunHead[];
  headOfApproval: RunHead | undefined;
  runs: Run[];
  countRuns: number;
  claimable: Run[];
  prunable: string[];
  stepByKey: Step | undefined;
  stepBySeq: Step | undefined;
  steps: Step[];
  events: RunEvent[];
  key: StoredKey | undefined;
  approval: Approval | undefined;
  approvals: Approval[];
  approvalForStep: Approval | undefined;
  audit: AuditEntry[];
}

/** Named reads of one plan. */
export type Reads = Record<string, Read>;

/** What named reads found. */
export type Found<R extends Reads> = { [K in keyof R]: ReadResults[R[K]['kind']] };

/** A write. `set` maps columns to new values; rows and sets carry JSON already encoded. */
export type Change =
  | { kind: 'insertRun'; row: RunRow }
  | { kind: 'updateRun'; id: string; set: Partial<RunRow> }
  | { kind: 'updateRuns'; ids: readonly string[]; set: Partial<RunRow> }
  | { kind: 'insertStep'; row: StepRow }
  | { kind: 'updateStep'; runId: string; seq: number; set: Partial<StepRow> }
  | { kind: 'insertEvent'; row: EventRow }
  /** Inserts or replaces an idempotency key. */
  | { kind: 'putKey'; row: KeyRow }
  | { kind: 'insertApproval'; row: ApprovalRow }
  | { kind: 'updateApproval'; id: string; set: Partial<ApprovalRow> }
  | { kind: 'insertAudit'; row: AuditRow }
  /** Deletes runs with their steps, events, approvals and idempotency keys. */
  | { kind: 'deleteRuns'; ids: readonly string[] }
  | { kind: 'deleteExpiredKeys'; before: string };

/** The result of `decide`: the caller's value and what to write. */
export interface Outcome<T> {
  value: T;
  changes: readonly Change[];
}

/** The reads of one attempt and the decision taken on what they found. */
export interface Plan<T, R extends Reads = Reads> {
  reads: R;
  /** Pure: checks (throwing `SkillplaneError`s) and builds the changes. Never writes. */
  decide(found: Found<R>): Outcome<T>;
}

/** One atomic store operation. */
export interface StoreOp<T> {
  /** False for an operation that never writes (it may run outside a write transaction). */
  readonly write: boolean;
  /**
   * What it touches, for drivers that run operations side by side: operations with the same
   * scope run in submission order, `null` runs alone (it may touch any run).
   */
  readonly scope: string | null;
  /** Plans one attempt at `now` (the store clock's epoch ms). Called again on a retry. */
  plan(now: number): Plan<T>;
}

/** Builds a plan, typing `decide`'s argument from the reads. */
export function plan<const R extends Reads, T>(reads: R, decide: (found: Found<R>) => Outcome<T>): Plan<T> {
  return { reads, decide } as Plan<T>;
}

/** An operation that writes, on `scope` (see {@link StoreOp.scope}). */
export function writeOp<T>(scope: string | null, make: (now: number) => Plan<T>): StoreOp<T> {
  return { write: true, scope, plan: make };
}

/** An operation that only reads. */
export function readOp<T>(make: (now: number) => Plan<T>): StoreOp<T> {
  return { write: false, scope: null, plan: make };
}

/** An outcome with nothing to write. */
export function nothing<T>(value: T): Outcome<T> {
  return { value, changes: [] };
}

/** A driver that answers reads and applies changes synchronously (memory, SQLite). */
export interface SyncPort {
  read(r: Read): unknown;
  apply(c: Change): void;
}

/** Runs one operation against a synchronous port: reads, decides, then applies the changes. */
export function executeSync<T>(op: StoreOp<T>, now: number, port: SyncPort): T {
  const p = op.plan(now);
  const found: Record<string, unknown> = {};
  for (const name in p.reads) found[name] = port.read(p.reads[name] as Read);
  const out = p.decide(found as Found<Reads>);
  for (const c of out.changes) port.apply(c);
  return out.value;
}
