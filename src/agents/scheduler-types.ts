/** The scheduler's options, tickets and stats (the class is in scheduler.ts). */
import type { Priority } from '../vocabulary/index.js';
import type { WaitStats } from './scheduler-queues.js';

/** What the caller admits: a run id and its priority. */
export interface Ticket {
  id: string;
  priority: Priority;
}

/** Options of {@link Scheduler}. */
export interface SchedulerOptions {
  /** Tasks allowed to run at once (≥ 1). */
  maxConcurrent: number;
  /** Queue places: admitted tickets not yet running (≥ 1). */
  maxQueued: number;
  /** Relative share of dispatches each class gets while several are waiting (each > 0). */
  weights: Record<Priority, number>;
  /** A ticket waiting longer than this is promoted one class per `agingMs` (default 2000). */
  agingMs?: number;
  /**
   * Share of `maxConcurrent` batch tickets may hold at once (0 < share ≤ 1, default 0.75; at least
   * one slot). The rest stays free for interactive and normal runs, so one arriving behind a
   * batch backlog starts at once instead of waiting for a whole batch run to finish.
   */
  batchShare?: number;
  /** Clock in milliseconds (default `Date.now`). */
  now?: () => number;
}

/** A snapshot of the scheduler, for metrics and health endpoints. */
export interface SchedulerStats {
  running: number;
  /** Tickets waiting for a slot, by priority. */
  queued: Record<Priority, number>;
  /** Tickets admitted whose `run` has not been called yet (they hold a queue place too). */
  admitted: number;
  /** Queue places (`maxQueued`). */
  capacity: number;
  maxConcurrent: number;
  /** Time from `run()` to start, in ms, per priority. */
  queueWaitMs: Record<Priority, WaitStats>;
}
