import { EventEmitter } from 'node:events';
import type { Run } from '../store/index.js';
import { isTerminal, type RunStatus } from '../vocabulary/index.js';

/** A live notification that a run has new events. Listeners read them from the store. */
export interface RunNotification {
  runId: string;
  status?: RunStatus;
}

/**
 * Live notifications of run changes inside one process: per-run listeners (waits, event streams),
 * O(listeners of that run), and `'run'` events for listeners of every run (metrics).
 */
export class RunNotifier extends EventEmitter<{ run: [RunNotification] }> {
  private readonly perRun = new Map<string, Set<(n: RunNotification) => void>>();

  constructor() {
    super();
    this.setMaxListeners(0);
  }

  /** Tells the run's listeners, then everyone's, that run `runId` has new events. */
  notify(runId: string, status?: RunStatus): void {
    const n: RunNotification = status === undefined ? { runId } : { runId, status };
    const listeners = this.perRun.get(runId);
    if (listeners !== undefined) for (const l of [...listeners]) l(n);
    this.emit('run', n);
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
