/**
 * Domain records persisted by a {@link RunStore}. Field names are snake_case because the records
 * are returned as-is by the HTTP API. Timestamps are ISO-8601 strings with milliseconds (`Z`).
 */

import type { ApprovalStatus, Priority, RunStatus, StepKind, StepStatus } from '../vocabulary/index.js';

// The statuses, priorities and kinds are the shared vocabulary's; re-exported for store callers.
export { RUN_STATUSES, TERMINAL_STATUSES, isTerminal } from '../vocabulary/index.js';
export type { ApprovalStatus, Priority, RunStatus, StepKind, StepStatus };

/** Version of the persisted run record written by this build. */
export const RUN_SCHEMA_VERSION = 1;

/** Limits a run executes under. `null` budgets mean "unlimited". */
export interface RunLimits {
  max_steps: number;
  max_handoff_depth: number;
  token_budget: number | null;
  cost_budget_usd: number | null;
  timeout_sec: number;
}

/** Resources consumed by a run so far. */
export interface RunUsage {
  steps: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

/** A structured error stored on a run or a step. */
export interface StoredError {
  code: string;
  message: string;
  data?: Record<string, unknown>;
}

/** One agent run. */
export interface Run {
  /** Time-ordered, lexicographically sortable id (`run_<12 hex ms><16 hex>`). */
  id: string;
  agent: string;
  strategy: string;
  input: unknown;
  priority: Priority;
  status: RunStatus;
  idempotency_key: string | null;
  principal: string | null;
  trace_id: string;
  traceparent: string;
  tracestate: string | null;
  limits: RunLimits;
  usage: RunUsage;
  result: unknown;
  error: StoredError | null;
  /** Seq of the last durable step. */
  checkpoint: number;
  metadata: Record<string, unknown>;
  /** Node currently executing the run, if any. */
  owner: string | null;
  lease_expires_at: string | null;
  schema_version: number;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
}

/** One unit of work inside a run. Completed steps are replayed by `key`, never re-executed. */
export interface Step {
  run_id: string;
  /** Position in the run, assigned by the store (1, 2, …). */
  seq: number;
  /** Deterministic replay key, unique per run. */
  key: string;
  parent_seq: number | null;
  /** The agent the step ran for (model and skill steps of an agent loop), else `null`. */
  agent: string | null;
  branch: string;
  kind: StepKind;
  name: string;
  input: unknown;
  output: unknown;
  status: StepStatus;
  /** 1 for the first attempt, incremented each time the same key begins again. */
  attempt: number;
  error: StoredError | null;
  span_id: string | null;
  started_at: string;
  finished_at: string | null;
}

/** An entry of a run's event log; `seq` is monotonic and gap-free per run, starting at 1. */
export interface RunEvent {
  run_id: string;
  seq: number;
  type: string;
  data: unknown;
  at: string;
}

/** A human decision requested before a risk-tagged skill runs. */
export interface Approval {
  id: string;
  run_id: string;
  step_seq: number | null;
  step_key: string;
  skill_id: string;
  args: unknown;
  risk_tags: string[];
  status: ApprovalStatus;
  decided_by: string | null;
  reason: string | null;
  created_at: string;
  decided_at: string | null;
  expires_at: string | null;
}

/** One line of the audit trail: who did what to which target. */
export interface AuditEntry {
  id: string;
  at: string;
  principal: string | null;
  /** e.g. `run.create`, `skill.execute`, `approval.decide`. */
  action: string;
  target: string | null;
  /** The run the action concerns, when there is one. */
  run_id: string | null;
  trace_id: string | null;
  data: Record<string, unknown> | null;
}

/** Input of {@link RunStore.createRun}; omitted fields get defaults. */
export interface NewRun {
  /** The run's id, made with the store's time-ordered {@link newRunId}. */
  id: string;
  agent: string;
  strategy: string;
  input: unknown;
  priority?: Priority;
  /** Initial status, `queued` by default. */
  status?: RunStatus;
  principal?: string | null;
  trace_id?: string;
  traceparent?: string;
  tracestate?: string | null;
  limits?: Partial<RunLimits>;
  metadata?: Record<string, unknown>;
  /** The node that will execute the run, and its lease: owned from the start, no second write. */
  owner?: string | null;
  lease_expires_at?: string | null;
}

/** Input of {@link RunStore.beginStep}. */
export interface NewStep {
  run_id: string;
  key: string;
  kind: StepKind;
  name: string;
  input: unknown;
  parent_seq?: number | null;
  /** Branch label for parallel fan-out; `main` by default. */
  branch?: string;
  /** The agent the step runs for. */
  agent?: string | null;
  span_id?: string | null;
}

/** Input of {@link RunStore.createApproval}. */
export interface NewApproval {
  /** The approval's id, made with `newId('apr_')` so its event can name it in the same write. */
  id: string;
  run_id: string;
  step_key: string;
  step_seq?: number | null;
  skill_id: string;
  args: unknown;
  risk_tags: string[];
  expires_at?: string | null;
}

/** Input of {@link RunStore.appendAudit}. */
export interface NewAuditEntry {
  principal: string | null;
  action: string;
  target?: string | null;
  run_id?: string | null;
  trace_id?: string | null;
  data?: Record<string, unknown> | null;
}

/** Default limits of a run when {@link NewRun.limits} leaves a field out. */
export const DEFAULT_RUN_LIMITS: RunLimits = {
  max_steps: 50,
  max_handoff_depth: 5,
  token_budget: null,
  cost_budget_usd: null,
  timeout_sec: 600,
};
