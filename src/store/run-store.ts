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

/** An event written in the same transaction as the change it describes. */
export interface EventInput {
  type: string;
  data: unknown;
}

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
  /** First event of the run; `{type: 'run.created', data: {status}}` when omitted. */
  event?: EventInput;
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
  /** Only runs created by this principal (run visibility). */
  principal?: string;
}

/** One page of {@link RunStore.listRuns}, newest first. */
export interface RunPage {
  runs: Run[];
  next_cursor: string | null;
}

/**
 * Changes applied by {@link RunStore.transitionRun}. `usage` replaces the whole usage record,
 * `metadata` is shallow-merged. Entering a terminal status also sets `finished_at` (unless given)
 * and clears `owner` and `lease_expires_at`; entering `running` sets `started_at` if still unset.
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
  from?: RunStatus[];
  /** The run must currently be owned by this node, else `not_owner`. */
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

/** Run change applied with an approval write (see {@link RunStore.createApproval}). */
export interface ApprovalRunChange {
  patch?: RunPatch;
  event?: EventInput;
  from?: RunStatus[];
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

/** Filters of {@link RunStore.listAudit}, newest first. */
export interface ListAuditQuery {
  target?: string;
  action?: string;
  /** Default 100, clamped to 1..1000. */
  limit?: number;
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

  /**
   * Creates a run and its first event in one transaction. With `idempotency`, an unexpired key with
   * the same fingerprint returns the existing run (`created: false`); another fingerprint throws
   * `idempotency_conflict`; an expired key is forgotten and a new run is created.
   */
  createRun(input: NewRun, opts?: CreateRunOptions): Promise<CreateRunResult>;
  /** One run, or `undefined`. */
  getRun(id: string): Promise<Run | undefined>;
  /** Runs newest first (by `created_at`, then `id`), with a cursor stable under concurrent inserts. */
  listRuns(query?: ListRunsQuery): Promise<RunPage>;
  /**
   * Applies `patch` (and appends `event`) in one transaction. A terminal run never changes
   * (`already_terminal`); a `from` mismatch throws `invalid_transition`.
   */
  transitionRun(id: string, patch: RunPatch, event?: EventInput, opts?: TransitionOptions): Promise<Run>;

  /**
   * Starts a step, assigning its `seq`. When a step with the same key exists and is completed it is
   * returned unchanged (the caller replays its output); a failed/cancelled/running one is restarted
   * with the same seq and `attempt + 1`. Starting a new step of a terminal run throws `already_terminal`.
   */
  beginStep(step: NewStep, event?: EventInput): Promise<Step>;
  /**
   * Records a running step's outcome, the run's usage/checkpoint and an event in ONE transaction,
   * so the result is durable before the next step is dispatched. A step that is not running throws
   * `step_not_running`.
   */
  finishStep(
    runId: string,
    seq: number,
    result: StepResult,
    runPatch?: StepRunPatch,
    event?: EventInput,
  ): Promise<Step>;
  /** Steps of a run ordered by seq. */
  getSteps(runId: string): Promise<Step[]>;
  /** The step with this replay key, or `undefined`. */
  getStepByKey(runId: string, key: string): Promise<Step | undefined>;

  /** Appends an event with the next gap-free seq of the run. */
  appendEvent(runId: string, type: string, data: unknown): Promise<RunEvent>;
  /** Events in seq order. */
  listEvents(runId: string, query?: ListEventsQuery): Promise<RunEvent[]>;

  /**
   * Creates a pending approval, moves the run to `waiting_approval` (plus `change.patch`) and appends
   * `change.event` (default `approval.requested`) in one transaction.
   */
  createApproval(a: NewApproval, change?: ApprovalRunChange): Promise<{ approval: Approval; run: Run }>;
  /** One approval, or `undefined`. */
  getApproval(id: string): Promise<Approval | undefined>;
  /** Approvals newest first. */
  listApprovals(query?: ListApprovalsQuery): Promise<Approval[]>;
  /**
   * Decides a pending approval (else `already_decided`); with `change`, the run patch and event are
   * committed in the same transaction.
   */
  decideApproval(id: string, decision: ApprovalDecision, change?: ApprovalRunChange): Promise<Approval>;
  /** The newest approval requested for a step of a run, or `undefined`. */
  getApprovalForStep(runId: string, stepKey: string): Promise<Approval | undefined>;

  /** Appends to the audit trail. */
  appendAudit(entry: NewAuditEntry): Promise<AuditEntry>;
  /** Audit entries newest first. */
  listAudit(query?: ListAuditQuery): Promise<AuditEntry[]>;

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
