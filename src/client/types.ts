/*
 * The shapes of the HTTP API as the client sees them. Records come from the store and the worker
 * plane as types only, so importing the client never loads server code.
 */
import type {
  Approval,
  ApprovalStatus,
  AuditEntry,
  Priority,
  Run,
  RunEvent,
  RunStatus,
  Step,
} from '../store/index.js';

import type { BrokerState, DeadLetter, QueueDepth, WorkerInfo as PlaneWorkerInfo } from '../workers/index.js';

export type { Approval, ApprovalStatus, AuditEntry, Priority, Run, RunEvent, RunStatus, Step };
export type { BrokerState, DeadLetter, QueueDepth };

/** A step as the API returns it: the record plus Opta-LMX's `role` and `order`. */
export type ApiStep = Step & { role: string; order: number };

/**
 * A run as the API returns it: the store record without its lease fields, plus links, Opta-LMX's
 * `checkpoint_pointer`, `tokens_used`, `estimated_cost_usd`, and its steps when the route adds them.
 */
export type ApiRun = Omit<Run, 'owner' | 'lease_expires_at'> & {
  checkpoint_pointer: number;
  tokens_used: number;
  estimated_cost_usd: number;
  links: { self: string; events: string; cancel: string };
  steps?: ApiStep[];
  /** Its newest 100 audit entries, newest first, when the caller has `audit:read` (`getRun`). */
  audit?: AuditEntry[];
};

/** Our run-creation body (Opta-LMX's `{request: …}` and legacy bodies are accepted too). */
export interface CreateRunBody {
  agent?: string;
  agents?: string[];
  strategy?: 'single' | 'router' | 'handoff' | 'parallel_map';
  input: unknown;
  items?: unknown[];
  priority?: Priority;
  limits?: {
    max_steps?: number;
    max_handoff_depth?: number;
    token_budget?: number | null;
    cost_budget_usd?: number | null;
    timeout_sec?: number;
  };
  metadata?: Record<string, unknown>;
  options?: Record<string, unknown>;
  idempotency_key?: string;
  /** Other accepted shapes (Opta-LMX) pass through unchanged. */
  [field: string]: unknown;
}

/** Options of {@link SkillplaneClient.createRun}. */
export interface CreateRunOptions {
  /** `Idempotency-Key`: the same key and body return the same run. */
  idempotencyKey?: string;
  /** Seconds the server waits for the run to settle (terminal or waiting for approval) before answering. */
  wait?: number;
  /** W3C trace context to continue. */
  traceparent?: string;
  tracestate?: string;
  signal?: AbortSignal;
}

/** Filters of {@link SkillplaneClient.listRuns}: the store's own query shape. */
export type { ListRunsQuery } from '../store/index.js';

/** One page of runs, newest first; `next_cursor` is null on the last page. */
export interface RunPage {
  runs: ApiRun[];
  next_cursor: string | null;
}

/** Filters of {@link SkillplaneClient.listApprovals}. */
export interface ListApprovalsQuery {
  status?: ApprovalStatus;
  run_id?: string;
  limit?: number;
}

/** A decision on a pending approval. */
export interface ApprovalDecisionBody {
  decision: 'approve' | 'deny';
  reason?: string;
}

/** An agent definition as `GET /v1/agents` lists it. */
export interface AgentSummary {
  name: string;
  description: string;
  model: string;
  skills: string[];
  handoffs: string[];
  [field: string]: unknown;
}

/** Filters of {@link SkillplaneClient.listSkills}. */
export interface ListSkillsQuery {
  namespace?: string;
  kind?: 'tool' | 'prompt' | 'workflow';
  tag?: string;
  /** Every version, not only the latest of each id. */
  allVersions?: boolean;
}

/** A skill as the catalogue lists it. */
export interface SkillSummary {
  id: string;
  version: string;
  ref: string;
  tool_name: string;
  kind: string;
  description: string;
  tags: string[];
  risk_tags: string[];
  /** False: a call in flight at a crash is settled as interrupted, never run again. */
  idempotent: boolean;
  requires_approval: boolean;
  execution: string;
  [field: string]: unknown;
}

/** One skill with its versions, schemas and manifest. */
export interface SkillDetail extends SkillSummary {
  versions: string[];
  input_schema: Record<string, unknown>;
  output_schema: Record<string, unknown> | null;
  manifest: Record<string, unknown>;
}

/** Options of {@link SkillplaneClient.executeSkill}. */
export interface ExecuteSkillOptions {
  /** Approve a risk-tagged skill (needs the `approvals:write` scope). */
  approval?: { approved: boolean; reason?: string };
  /** A deadline shorter than the skill's own. */
  timeoutSec?: number;
  traceparent?: string;
  signal?: AbortSignal;
}

/** The result of a direct skill execution. */
export interface ExecuteSkillResult {
  skill: string;
  output: unknown;
  duration_ms: number;
  ok: boolean;
  error: unknown;
  timed_out: boolean;
  denied: boolean;
  requires_approval: boolean;
  approved_by: string | null;
  [field: string]: unknown;
}

/** The result of `POST /v1/skills/reload`. */
export interface ReloadResult {
  skills: number;
  errors: unknown[];
}

/** `GET /healthz` and `GET /readyz`. */
export interface HealthStatus {
  status: string;
  [field: string]: unknown;
}

/** Options of {@link SkillplaneClient.events}. */
export interface EventsOptions {
  /** Start after this event seq (0 = from the beginning). */
  afterSeq?: number;
  signal?: AbortSignal;
  /** Reconnect attempts in a row without receiving an event before giving up (default 5). */
  maxRetries?: number;
  /** First reconnect delay, doubled each attempt up to 10 s (default 500 ms). */
  retryBaseMs?: number;
}

/** Options of {@link SkillplaneClient.waitForRun}. */
export interface WaitForRunOptions {
  /** Give up after this long and return the run as it is then (default: no limit). */
  timeoutMs?: number;
  /** Also return when the run waits for an approval (default true, like `?wait`). */
  stopOnApproval?: boolean;
  signal?: AbortSignal;
}

/** One `skillplane worker` process, as its last heartbeat describes it (`alive`: a recent one). */
export type WorkerInfo = Omit<PlaneWorkerInfo, 'alive'> & { alive: boolean };

/** `GET /v1/workers`: where skills run; with the worker plane enabled, its broker, workers and queues. */
export interface WorkersStatus {
  enabled: boolean;
  /** `in-process`, or `bullmq` with the worker plane enabled. */
  executor: 'in-process' | 'bullmq';
  description: string;
  node_id: string;
  scheduler: { running: number; max_concurrent: number; queued: Record<string, number> };
  /** The broker URL, password redacted (plane enabled). */
  broker?: string;
  /** The broker's health (plane enabled). */
  health?: BrokerState;
  workers: WorkerInfo[];
  queues: QueueDepth[];
}

/** Filters of {@link SkillplaneClient.deadLetters}. */
export interface DeadLettersQuery {
  queue?: string;
  /** 1–500 (server default 50). */
  limit?: number;
}

/** The answer of `POST /v1/workers/dead-letters/{id}/retry`. */
export interface DeadLetterRetry {
  dead_letter: DeadLetter;
  /** The job queued for the retry. */
  job_id: string;
}

/** Filters of {@link SkillplaneClient.audit}; they combine. */
export interface ListAuditQuery {
  run_id?: string;
  principal?: string;
  /** e.g. `run.create`, `approval.decide`, `skill.execute`, `auth.failure`. */
  action?: string;
  /** A run, approval or skill id, or a route. */
  target?: string;
  /** ISO timestamp: entries at or after it. */
  since?: string;
  /** ISO timestamp: entries strictly before it. */
  until?: string;
  /** Page size, 1..1000 (default 100). */
  limit?: number;
  /** The `next_cursor` of the previous page. */
  cursor?: string;
}

/** One page of the audit trail, newest first; `next_cursor` is null on the last page. */
export interface AuditPage {
  entries: AuditEntry[];
  next_cursor: string | null;
}
