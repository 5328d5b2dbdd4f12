/**
 * The narrow ports the edges (HTTP API, MCP, OpenClaw, dashboard) work through instead of the
 * whole application: runs, approvals, skills, health, audit and models. The app implements them
 * (src/app/ports.ts); the edges import only these types, never the composition root.
 */
import type { AgentDefinition, Config } from '../config/index.js';
import type { Runtime, SchedulerStats } from '../agents/index.js';
import type {
  Confinement,
  SkillInvoker,
  SkillLoadError,
  SkillPolicy,
  SkillRegistry,
} from '../skills/index.js';
import type { Approval, AuditPage, ListApprovalsQuery, ListAuditQuery, StoreHealth } from '../store/index.js';
import type { BackendHealth } from '../models/index.js';
import type { RunNotification } from '../agents/index.js';
import type { Priority } from '../vocabulary/index.js';
import type { RunBusHealth } from '../bus/index.js';
import type { BrokerState, DeadLetter, WorkerPlaneStatus } from '../workers/index.js';
import type { ObservationListener } from '../observability/index.js';

/** Runs: create, read, follow, wait for and cancel. */
export interface RunsPort extends Pick<
  Runtime,
  'submit' | 'getRun' | 'listRuns' | 'getSteps' | 'listEvents' | 'cancel' | 'wait' | 'subscribe'
> {
  /** This node's id in run leases. */
  readonly nodeId: string;
  /** Scheduler occupancy: running, queued per priority, capacity. */
  stats(): SchedulerStats;
  /** Runs queued or executing in this process. */
  active(): number;
  /** Calls `listener` for every run notification; returns the unsubscribe function. */
  onAny(listener: (n: RunNotification) => void): () => void;
  /** The agent definitions. */
  agents(): AgentDefinition[];
}

/** Approvals of risk-tagged skill calls. */
export interface ApprovalsPort {
  list(query: ListApprovalsQuery): Promise<Approval[]>;
  /** One approval, or `not_found`. */
  get(id: string): Promise<Approval>;
  decide(
    id: string,
    decision: { approve: boolean; reason?: string; principal: string | null },
  ): Promise<Approval>;
}

/** The skill catalogue and the one skill call. */
export interface SkillsPort {
  registry: Pick<SkillRegistry, 'get' | 'resolve' | 'list' | 'versions' | 'on' | 'off'>;
  policy: Pick<SkillPolicy, 'riskTags' | 'approvalTags'>;
  invoker: SkillInvoker;
  /** Problems of the last load. */
  loadErrors(): SkillLoadError[];
  reload(opts?: { resetRiskTags?: boolean }): Promise<{ skills: number; errors: SkillLoadError[] }>;
  /** The OS confinement skills run under. */
  confinement: Confinement;
}

/** Readiness of what the server depends on. */
export interface HealthPort {
  store(): Promise<StoreHealth>;
  /** Whether each model backend answers `GET /models` (cached a few seconds). */
  models(): Promise<BackendHealth[]>;
  /** The bus to the other API nodes sharing the store; undefined on a single node. */
  bus(): RunBusHealth | undefined;
}

/** One audit entry to append (every door's actions). */
export interface AuditRecord {
  principal: string | null;
  action: string;
  target: string | null;
  runId?: string | null;
  traceId?: string | null;
  data?: Record<string, unknown> | null;
}

/** The audit trail. */
export interface AuditPort {
  /** Appends an entry; a failure is logged, never thrown. */
  append(entry: AuditRecord): Promise<void>;
  /** Entries newest first, filtered, one page at a time (`invalid_cursor` for a foreign cursor). */
  list(query: ListAuditQuery): Promise<AuditPage>;
}

/** Model backends, for metrics and the dashboard. */
export interface ModelsPort {
  stats(): Record<string, { inFlight: number; capacity: number; waiting: Record<Priority, number> }>;
}

/** The BullMQ worker plane, when `workers.enabled`. */
export interface WorkersPort {
  /** Whether the broker answers now, and since when (no I/O). */
  health(): BrokerState;
  /** Workers seen, queue depths, health (reads the broker; never throws). */
  status(): Promise<WorkerPlaneStatus>;
  /** Dead letters, newest first; `worker_unavailable` while the broker is down. */
  listDeadLetters(query: { queue?: string; limit: number }): Promise<DeadLetter[]>;
  /** Queues a dead letter's call again; `not_found`, `worker_unavailable`. */
  redrive(id: string, principal: string | null): Promise<{ dead_letter: DeadLetter; job_id: string }>;
}

/** Everything an edge gets. */
export interface EdgePorts {
  config: Config;
  runs: RunsPort;
  approvals: ApprovalsPort;
  skills: SkillsPort;
  health: HealthPort;
  audit: AuditPort;
  models: ModelsPort;
  /** The worker plane; undefined when it is not enabled (every skill runs in this process). */
  workers: WorkersPort | undefined;
  /**
   * Calls `listener` for each of this process's observations (run moves and steps, model calls
   * and limiter waits, skill calls: metrics); returns the unsubscribe function. Optional for
   * edges built over hand-made ports.
   */
  observe?: (listener: ObservationListener) => () => void;
}
