import type { Clock, RunEventInput } from '../vocabulary/index.js';
import type {
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
  RunStatus,
  RunUsage,
  Step,
  StepStatus,
  StoredError,
} from './types.js';

/**
 * An event written in the same transaction as the change it describes: one of the vocabulary's
 * event types with its payload.
 */
export type EventInput = RunEventInput;

/** Idempotency of {@link RunStore.createRun}. */
export interface IdempotencyOptions {
  /** Client-supplied key (e.g. the `Idempotency-Key` header, scoped by the caller). */
  key: string;
  /** Hash of the request body; a reused key with another fingerprint is a conflict. */
  fingerprint: string;
  /** How long the key is remembered, in seconds (fractions allowed). */
  ttlSec: number;
}

/** Options of {@link RunStore.createRun}. */
export interface CreateRunOptions {
  idempotency?: IdempotencyOptions;
  /** First event of the run (`run.created`), written in the same transaction. */
  event: EventInput;
  /**
   * A run-level approval the run is created waiting for (`status: waiting_approval`), stored in
   * the same transaction with its `events` after the first one: a run never exists without the
   * approval that gates it.
   */
  approval?: { approval: NewApproval; events: EventInput[] };
  /**
   * The audit entry of the creation (`run.create`), written in the same transaction (its `run_id`
   * and `trace_id` are the new run's): a created run is never missing from the trail. An
   * idempotent replay writes none.
   */
  audit?: Omit<NewAuditEntry, 'run_id' | 'trace_id'>;
}

/** Result of {@link RunStore.createRun}. */
export interface CreateRunResult {
  run: Run;
  /** `false` when an idempotent replay returned an existing run. */
  created: boolean;
}

/** Filters of {@link RunStore.listRuns}. */
export interface ListRunsQuery {
  status?: RunStatus | RunStatus[];
  agent?: string;
  priority?: Priority;
  /** ISO timestamp; only runs created strictly after it. */
  created_after?: string;
  /** Page size, default 50, clamped to 1..500. */
  limit?: number;
  /** Opaque cursor from a previous page's `next_cursor`. */
  cursor?: string;
  /** Skips this many runs (Opta-LMX's paging; with `cursor`, after the cursor's position). */
  offset?: number;
  /** Also count every run the filters match (`total`), in the same transaction. */
  with_total?: boolean;
  /** Only runs created by this principal (run visibility). */
  principal?: string;
}

/** One page of {@link RunStore.listRuns}, newest first. */
export interface RunPage {
  runs: Run[];
  next_cursor: string | null;
  /** Every run the filters match, when the query asked for `with_total`. */
  total?: number;
}

/**
 * Changes applied by {@link RunStore.transitionRun}, verbatim: `usage` replaces the whole usage
 * record, `metadata` is shallow-merged, `updated_at` is set. The store adds no rule of its own
 * (the lifecycle module sets `started_at`, `finished_at` and clears the lease).
 */
export interface RunPatch {
  status?: RunStatus;
  result?: unknown;
  error?: StoredError | null;
  usage?: RunUsage;
  checkpoint?: number;
  started_at?: string | null;
  finished_at?: string | null;
  owner?: string | null;
  lease_expires_at?: string | null;
  metadata?: Record<string, unknown>;
}

/** Guards of {@link RunStore.transitionRun}. */
export interface TransitionOptions {
  /** The run must currently be in one of these statuses, else `invalid_transition`. */
  from?: readonly RunStatus[];
  /** The run must currently be owned by this node, else `not_owner`. */
  owner?: string;
}

/** Guards of {@link RunStore.beginStep} and {@link RunStore.finishStep}. */
export interface StepWriteOptions {
  /**
   * The run must currently be owned by this node, else `not_owner` and nothing is written: a node
   * that lost its lease can no longer touch the journal of the run's new owner.
   */
  owner?: string;
}

/** Outcome of a step, written by {@link RunStore.finishStep}. */
export interface StepResult {
  status: Exclude<StepStatus, 'running'>;
  output?: unknown;
  error?: StoredError | null;
}

/**
 * Run changes committed together with a step result. `usage` replaces the usage record,
 * `usage_delta` is added to it (safe for concurrent branches); `checkpoint` only moves forward.
 * Ignored when the run is already terminal (the step result is still recorded).
 */
export interface StepRunPatch {
  usage?: RunUsage;
  usage_delta?: Partial<RunUsage>;
  checkpoint?: number;
}

/** Paging of {@link RunStore.listEvents}. */
export interface ListEventsQuery {
  /** Only events with `seq > afterSeq` (SSE `Last-Event-ID`). */
  afterSeq?: number;
  /** Default 1000, clamped to 1..10000. */
  limit?: number;
}

/** A decision on a pending approval. */
export interface ApprovalDecision {
  status: Exclude<ApprovalStatus, 'pending'>;
  decided_by: string | null;
  reason?: string | null;
}

/** Filters of {@link RunStore.listApprovals}, newest first. */
export interface ListApprovalsQuery {
  status?: ApprovalStatus;
  run_id?: string;
  limit?: number;
  /** Only approvals of runs created by this principal (run visibility). */
  principal?: string;
}

/** Filters of {@link RunStore.listAudit}, newest first, with cursor pagination. */
export interface ListAuditQuery {
  run_id?: string;
  principal?: string;
  action?: string;
  target?: string;
  /** ISO timestamps: entries at or after `since`, strictly before `until`. */
  since?: string;
  until?: string;
  /** Default 100, clamped to 1..1000. */
  limit?: number;
  /** Opaque cursor from a previous page's `next_cursor` (`invalid_cursor` otherwise). */
  cursor?: string;
}

/** One page of {@link RunStore.listAudit}, newest first. */
export interface AuditPage {
  entries: AuditEntry[];
  next_cursor: string | null;
}

/** Options of {@link RunStore.claimRuns}. */
export interface ClaimOptions {
  statuses: RunStatus[];
  leaseMs: number;
  limit: number;
}

/** Result of {@link RunStore.health}. */
export interface StoreHealth {
  ok: boolean;
  detail?: string;
  /** Why it is not ok, when known: `store_corrupt` (the database is damaged), … */
  code?: string;
}

/**
 * Durable storage of runs, steps, events, approvals, idempotency keys and the audit trail.
 * Every method is atomic: a method that writes several records does so in one transaction.
 * Errors: `NotFoundError` (`not_found`) for a missing run/step/approval, `ConflictError` with codes
 * `idempotency_conflict`, `already_terminal`, `invalid_transition`, `not_owner`, `step_not_running`,
 * `already_decided`, and `SkillplaneError` `unsupported_schema_version` for a run written by a newer build.
 */
export interface RunStore {
  /** Name of the driver (`memory`, `sqlite`, `postgres`). */
  readonly driver: string;
  /** The clock every timestamp, lease and expiry of this store is read from. */
  readonly clock: Clock;

  /**
   * Creates a run and its first event in one transaction; `input.id` is required (make it with
   * {@link newRunId}). With `idempotency`, an unexpired key with the same fingerprint returns the
   * existing run (`created: false`, nothing written); another fingerprint throws
   * `idempotency_conflict`; an expired key is forgotten and a new run is created.
   */
  createRun(input: NewRun, opts: CreateRunOptions): Promise<CreateRunResult>;
  /** One run, or `undefined`. */
  getRun(id: string): Promise<Run | undefined>;
  /** Runs newest first (by `created_at`, then `id`), with a cursor stable under concurrent inserts. */
  listRuns(query?: ListRunsQuery): Promise<RunPage>;
  /**
   * Applies `patch` verbatim and appends `event` in one transaction. A terminal run never changes
   * (`already_terminal`); a `from` mismatch throws `invalid_transition`, an `owner` mismatch
   * `not_owner`. Only the lifecycle module calls this.
   */
  transitionRun(id: string, patch: RunPatch, event: EventInput, opts?: TransitionOptions): Promise<Run>;

  /**
   * Starts a step, assigning its `seq`, and appends `event`. When a step with the same key exists and
   * is completed it is returned unchanged (no event; the caller replays its output); a
   * failed/cancelled/running one is restarted with the same seq and `attempt + 1`. Starting a new
   * step of a terminal run throws `already_terminal`; with `opts.owner`, a run owned by another
   * node throws `not_owner`.
   */
  beginStep(step: NewStep, event: EventInput, opts?: StepWriteOptions): Promise<Step>;
  /**
   * Records a running step's outcome, the run's usage/checkpoint and an event in ONE transaction,
   * so the result is durable before the next step is dispatched. A step that is not running throws
   * `step_not_running`; with `opts.owner`, a run owned by another node throws `not_owner`.
   */
  finishStep(
    runId: string,
    seq: number,
    result: StepResult,
    runPatch: StepRunPatch | undefined,
    event: EventInput,
    opts?: StepWriteOptions,
  ): Promise<Step>;
  /** Steps of a run ordered by seq. */
  getSteps(runId: string): Promise<Step[]>;
  /** The step with this replay key, or `undefined`. */
  getStepByKey(runId: string, key: string): Promise<Step | undefined>;

  /** Appends an event with the next gap-free seq of the run. */
  appendEvent(runId: string, event: EventInput): Promise<RunEvent>;
  /** Events in seq order. */
  listEvents(runId: string, query?: ListEventsQuery): Promise<RunEvent[]>;

  /**
   * Creates a pending approval and appends `event` (`approval.requested`) in one transaction. The
   * run's status is not touched (the lifecycle module suspends the run when its execution stops).
   */
  createApproval(a: NewApproval, event: EventInput): Promise<Approval>;
  /** One approval, or `undefined`. */
  getApproval(id: string): Promise<Approval | undefined>;
  /** Approvals newest first. */
  listApprovals(query?: ListApprovalsQuery): Promise<Approval[]>;
  /**
   * Decides a pending approval (else `already_decided`) and appends `event` (`approval.decided`) to
   * its run in the same transaction.
   */
  decideApproval(id: string, decision: ApprovalDecision, event: EventInput): Promise<Approval>;
  /** The newest approval requested for a step of a run, or `undefined`. */
  getApprovalForStep(runId: string, stepKey: string): Promise<Approval | undefined>;

  /** Appends to the audit trail. */
  appendAudit(entry: NewAuditEntry): Promise<AuditEntry>;
  /** Audit entries newest first, filtered, one page at a time. */
  listAudit(query?: ListAuditQuery): Promise<AuditPage>;

  /**
   * Takes up to `limit` runs (oldest first) in `statuses` that have no owner or an expired lease and
   * sets `owner` and a lease; two concurrent claimers never get the same run.
   */
  claimRuns(owner: string, opts: ClaimOptions): Promise<Run[]>;
  /** Extends the leases of runs still owned by `owner`; returns the ids actually renewed. */
  renewLeases(owner: string, runIds: string[], leaseMs: number): Promise<string[]>;
  /** Clears owner and lease when `owner` holds the run; returns whether it did. */
  releaseRun(id: string, owner: string): Promise<boolean>;

  /** Deletes terminal runs finished before `olderThan` with their steps, events, approvals and keys. */
  pruneFinished(olderThan: Date): Promise<number>;
  /**
   * Checks that the backing database answers and is not known to be damaged (a driver that
   * detected corruption reports `{ok: false, code: 'store_corrupt'}` from then on).
   */
  health(): Promise<StoreHealth>;
  /** Flushes pending writes and releases connections. */
  close(): Promise<void>;
}
