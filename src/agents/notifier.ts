import { EventEmitter } from 'node:events';
import type { RunBus, RunBusDelivery } from '../bus/index.js';
import type { Run, Step } from '../store/index.js';
import { isTerminal, type RunEventInput, type RunMoveName, type RunStatus } from '../vocabulary/index.js';

/** A live notification that a run has new events. Listeners read them from the store. */
export interface RunNotification {
  runId: string;
  status?: RunStatus;
  /**
   * The run bus was reconnected: notifications of other nodes may have been missed, so the run
   * may have changed in any way (listeners re-read it).
   */
  resync?: true;
}

/** Options of {@link RunNotifier.attach}. */
export interface RunBusLinkOptions {
  /** Another node asks to cancel run `runId` (acted on only if it runs here). */
  onCancel(runId: string, principal: string | null): void;
  /** How long notifications without a status change are gathered per run before one is sent (default 25 ms). */
  coalesceMs?: number;
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

/** A step of a run began, ended or was replayed from the journal (metrics, logs). */
export interface RunStepChange {
  run: Run;
  step: Step;
  phase: 'started' | 'finished' | 'replayed';
}

/**
 * Live notifications of run changes: per-run listeners (waits, event streams), O(listeners of that
 * run), `'run'` events for listeners of every run (metrics) and `'lifecycle'` events for each
 * creation and move (logs). Attached to a {@link RunBus} ({@link attach}), it also sends each run
 * notification to the other nodes and hands theirs to its per-run listeners only — `'run'` and
 * `'lifecycle'` stay about this process's own work, so per-node metrics and logs count each change
 * once.
 */
export class RunNotifier extends EventEmitter<{
  run: [RunNotification];
  lifecycle: [RunLifecycleChange];
  /** This process's steps (`'step'`), for metrics and logs; never sent to other nodes. */
  step: [RunStepChange];
}> {
  private readonly perRun = new Map<string, Set<(n: RunNotification) => void>>();
  private bus: RunBus | undefined;
  private detachBus: (() => void) | undefined;
  private coalesceMs = 25;
  /** Runs with step notifications gathered for the bus, and the timer that sends them. */
  private readonly outgoing = new Set<string>();
  private outgoingTimer: NodeJS.Timeout | undefined;

  constructor() {
    super();
    this.setMaxListeners(0);
  }

  /**
   * Tells the run's listeners, then everyone's, that run `runId` has new events; with `change`
   * (a creation or a lifecycle move), `'lifecycle'` listeners too. With a bus, the other nodes
   * hear it too: a status change at once, plain new events (steps) gathered per run for
   * `coalesceMs` so a burst is one message.
   */
  notify(runId: string, status?: RunStatus, change?: RunLifecycleChange): void {
    const n: RunNotification = status === undefined ? { runId } : { runId, status };
    this.toListeners(n);
    this.emit('run', n);
    if (change !== undefined) this.emit('lifecycle', change);
    if (this.bus !== undefined) this.publish(this.bus, runId, status);
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

  /**
   * Links this notifier to the nodes on `bus`: local notifications are published; other nodes'
   * reach the per-run listeners (never re-published); their cancel requests go to `onCancel`;
   * a reconnect of the bus tells every per-run listener to re-read its run.
   */
  attach(bus: RunBus, opts: RunBusLinkOptions): void {
    this.detach();
    this.bus = bus;
    this.coalesceMs = opts.coalesceMs ?? 25;
    const unsubscribe = bus.subscribe((d: RunBusDelivery) => {
      if (d.type === 'resync') {
        for (const runId of [...this.perRun.keys()]) this.toListeners({ runId, resync: true });
      } else if (d.type === 'cancel') opts.onCancel(d.runId, d.principal);
      else
        this.toListeners(d.status === undefined ? { runId: d.runId } : { runId: d.runId, status: d.status });
    });
    this.detachBus = unsubscribe;
  }

  /** Sends what is still gathered and stops using the bus (which stays open). */
  detach(): void {
    this.flushOutgoing();
    this.detachBus?.();
    this.detachBus = undefined;
    this.bus = undefined;
  }

  private toListeners(n: RunNotification): void {
    const listeners = this.perRun.get(n.runId);
    if (listeners === undefined) return;
    for (const l of [...listeners]) l(n);
  }

  private publish(bus: RunBus, runId: string, status: RunStatus | undefined): void {
    if (status !== undefined) {
      // A status change says everything a gathered step notification would: it replaces it.
      this.outgoing.delete(runId);
      bus.publish({ type: 'run', runId, status });
      return;
    }
    this.outgoing.add(runId);
    if (this.outgoingTimer !== undefined) return;
    this.outgoingTimer = setTimeout(() => this.flushOutgoing(), this.coalesceMs);
    this.outgoingTimer.unref();
  }

  private flushOutgoing(): void {
    clearTimeout(this.outgoingTimer);
    this.outgoingTimer = undefined;
    const ids = [...this.outgoing];
    this.outgoing.clear();
    for (const runId of ids) this.bus?.publish({ type: 'run', runId });
  }
}

/**
 * Waits until run `runId` is terminal or waiting for approval, or `timeoutMs` passes (or `signal`
 * aborts), then returns it as stored. It subscribes before each read, so a change that lands
 * while the read is in flight is not missed: the run is read again instead of waited for. A
 * notification that the run settled (or a bus resync) only wakes it to read again: it returns
 * once the run read is settled, or at the deadline.
 */
export async function waitForSettled(
  notifier: RunNotifier,
  getRun: (id: string) => Promise<Run>,
  runId: string,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<Run> {
  const settled = (r: Run) => isTerminal(r.status) || r.status === 'waiting_approval';
  const deadline = Date.now() + opts.timeoutMs;
  let wake: (() => void) | undefined;
  let changed = false;
  const unsubscribe = notifier.subscribe(runId, (n) => {
    if (n.resync !== true && (n.status === undefined || n.status === 'running' || n.status === 'queued'))
      return;
    changed = true;
    wake?.();
  });
  try {
    for (;;) {
      changed = false;
      const run = await getRun(runId);
      const left = deadline - Date.now();
      if (settled(run) || left <= 0 || opts.signal?.aborted === true) return run;
      if (changed) continue;
      await new Promise<void>((resolve) => {
        // Read again at least every 5 s: a notification lost between nodes costs seconds, not the wait.
        const timer = setTimeout(done, Math.min(left, 5000));
        function done(): void {
          clearTimeout(timer);
          opts.signal?.removeEventListener('abort', done);
          wake = undefined;
          resolve();
        }
        wake = done;
        opts.signal?.addEventListener('abort', done, { once: true });
      });
    }
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
    const base = { run_id: run.id, trace_id: run.trace_id, agent: run.agent, status: run.status };
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
