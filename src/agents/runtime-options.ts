// What a Runtime is built from (its store, skills, models, agents, bus, tracing and tuning), and
// who is calling it.
import type { Logger } from 'pino';
import type { RunBus } from '../bus/index.js';
import type { Config } from '../config/index.js';
import type { RunStore } from '../store/index.js';
import type { Tracing } from '../tracing/index.js';
import type { Clock } from '../vocabulary/index.js';
import type { AgentCatalog } from './definitions.js';
import type { ChatBackend, SkillPort } from './environment.js';
import type { RunRequest } from './request.js';

/** Who is asking, and the trace they are part of. */
export interface CallerContext {
  principal?: string | null;
  idempotencyKey?: string;
  traceparent?: string;
  tracestate?: string;
}

/** What a `Runtime` is built with. */
export interface RuntimeOptions {
  config: Config;
  store: RunStore;
  skills: SkillPort;
  models: { get(name: string): ChatBackend; has(name: string): boolean; names(): string[] };
  agents: AgentCatalog;
  /** This process's id as a run owner (leases). */
  nodeId?: string;
  logger?: Logger;
  /** Time source (tests inject a fake one); default the store's clock. */
  clock?: Clock;
  /** Base delay of step retries (tests shorten it). */
  retryBaseMs?: number;
  /** Sleep used between retries (tests inject fake time). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** How long a run's ownership lease lasts; renewed while it runs. */
  leaseMs?: number;
  /** Period of the reclaim loop (default `leaseMs / 2` with jitter). */
  reclaimIntervalMs?: number;
  /**
   * `'off'`: this runtime executes only the runs it submits (an in-process CLI run): it never
   * adopts, claims or resumes other nodes' runs, nor expires their approvals or prunes the store.
   * Default `'on'`.
   */
  recovery?: 'on' | 'off';
  /**
   * Checked for each valid request before anything is stored: throws to refuse it (the worker
   * plane refuses runs that need it while its broker is down: `worker_unavailable`, 503).
   */
  admit?: (request: RunRequest) => void | Promise<void>;
  /**
   * The nodes sharing the store: run notifications go both ways (streams and waits on any node
   * follow a run executing on another) and a cancel of a run another live node executes is asked
   * of that node. Closed by `Runtime.close`.
   */
  bus?: RunBus;
  /** How long a cancel waits for the owner node to settle the run before settling it here (default 5 s). */
  cancelWaitMs?: number;
  /** Spans of runs, agent loops and steps (none when absent or disabled). */
  tracing?: Tracing;
}
