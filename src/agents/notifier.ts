import { EventEmitter } from 'node:events';
import type { Run } from '../store/index.js';
import { isTerminal, type RunEventInput, type RunMoveName, type RunStatus } from '../vocabulary/index.js';

/** A live notification that a run has new events. Listeners read them from the store. */
export interface RunNotification {
  runId: string;
  status?: RunStatus;
}

/**
 * A run's life moved on: created (`create`) or one of the lifecycle's moves, with the run as
 * stored after it and the event written.
 */
export interface RunLifecycleChange {
  move: RunMoveName | 'create';
  run: Run;
  event?: RunEventInput;
}

/**
 * Live notifications of run changes inside one process: per-run listeners (waits, event streams),
 * O(listeners of that run), `'run'` events for listeners of every run (metrics) and `'lifecycle'`
 * events for each creation and move (logs).
 */
export class RunNotifier extends EventEmitter<{ run: [RunNotification]; lifecycle: [RunLifecycleChange] }> {
  private readonly perRun = new Map<string, Set<(n: RunNotification) => void>>();

  constructor() {
    super();
    this.setMaxListeners(0);
  }

  /**
   * Tells the run's listeners, then everyone's, that run `runId` has new events; with `change`
   * (a creation or a lifecycle move), `'lifecycle'` listeners too.
   */
  notify(runId: string, status?: RunStatus, change?: RunLifecycleChange): void {
    const n: RunNotification = status === undefined ? { runId } : { runId, status };
    const listeners = this.perRun.get(runId);
    if (listeners !== undefined) for (const l of [...listeners]) l(n);
    this.emit('run', n);
    if (change !== undefined) this.emit('lifecycle', change);
  }

  /** Calls `listener` on every notification of run `runId`; returns the unsubscribe function. */
  subscribe(runId: string, listener: (n: RunNotification) => void): () => void {
    let set = this.perRun.get(runId);
    if (set === undefined) {
      set = new Set();
      this.perRun.set(runId, set);
    }
    set.add(listener);
    return () => {
      const current = this.perRun.get(runId);
      if (current === undefined) return;
      current.delete(listener);
      if (current.size === 0) this.perRun.delete(runId);
    };
  }
}

/**
 * Waits until run `runId` is terminal or waiting for approval, or `timeoutMs` passes (or `signal`
 * aborts), then returns it as stored. It subscribes before the first read, so a change that lands
 * while the read is in flight is not missed: the run is read again instead of waited for.
 */
export async function waitForSettled(
  notifier: RunNotifier,
  getRun: (id: string) => Promise<Run>,
  runId: string,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<Run> {
  const settled = (r: Run) => isTerminal(r.status) || r.status === 'waiting_approval';
  let wake: (() => void) | undefined;
  let changed = false;
  const unsubscribe = notifier.subscribe(runId, (n) => {
    if (n.status === undefined || n.status === 'running' || n.status === 'queued') return;
    changed = true;
    wake?.();
  });
  try {
    const run = await getRun(runId);
    if (settled(run) || opts.timeoutMs <= 0) return run;
    if (!changed) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, opts.timeoutMs);
        function done(): void {
          clearTimeout(timer);
          opts.signal?.removeEventListener('abort', done);
          resolve();
        }
        wake = done;
        opts.signal?.addEventListener('abort', done, { once: true });
      });
    }
    return await getRun(runId);
  } finally {
    unsubscribe();
  }
}

/** The part of a pino logger lifecycle logs use. */
export interface LifecycleLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

const SETTLING_MOVES: ReadonlySet<string> = new Set(['complete', 'fail', 'cancel', 'interrupt']);

function msBetween(from: string | null | undefined, to: string | null | undefined): number | undefined {
  if (from == null || to == null) return undefined;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) ? ms : undefined;
}

/**
 * Logs each run's life from the notifier's `'lifecycle'` events: `run created`, `run started`
 * (and `run resumed`), `run waiting` (for an approval), `run queued` (approved, back in the
 * queue), `run settled` (completed, failed, cancelled) — with `run_id`, `agent`, `status` and,
 * when it failed, `error_code`; at info, failures at warn. Returns the unsubscribe function.
 */
export function logRunLifecycle(notifier: RunNotifier, logger: LifecycleLogger): () => void {
  const onChange = ({ move, run, event }: RunLifecycleChange): void => {
    const base = { run_id: run.id, agent: run.agent, status: run.status };
    if (move === 'create') {
      logger.info({ ...base, strategy: run.strategy, priority: run.priority }, 'run created');
      if (run.status === 'waiting_approval') logger.info({ ...base, approval: 'run' }, 'run waiting');
      return;
    }
    if (move === 'start' || move === 'resume') {
      logger.info(base, move === 'start' ? 'run started' : 'run resumed');
      return;
    }
    if (move === 'suspend') {
      const data = event?.type === 'run.waiting_approval' ? event.data : undefined;
      logger.info(
        { ...base, ...(data === undefined ? {} : { approval_id: data.approval_id }) },
        'run waiting',
      );
      return;
    }
    if (!SETTLING_MOVES.has(move)) {
      logger.info(base, `run ${run.status}`);
      return;
    }
    const fields = {
      ...base,
      error_code: run.error?.code ?? null,
      ...(run.error === null || run.error === undefined ? {} : { error: run.error.message }),
      steps: run.usage.steps,
      duration_ms: msBetween(run.created_at, run.finished_at),
    };
    if (run.status === 'failed') logger.warn(fields, 'run settled');
    else logger.info(fields, 'run settled');
  };
  notifier.on('lifecycle', onChange);
  return () => notifier.off('lifecycle', onChange);
}
