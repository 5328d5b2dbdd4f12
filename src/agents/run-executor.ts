import type { Logger } from 'pino';
import { ConflictError, SkillplaneError, TimeoutError, toSkillplaneError } from '../errors/index.js';
import type { Run, RunStore } from '../store/index.js';
import { isTerminal, type Clock, type UsageData } from '../vocabulary/index.js';
import { SuspendForApproval } from './agent-loop.js';
import type { ApprovalDesk } from './approvals.js';
import type { RunEnvironment } from './environment.js';
import { RunExecution } from './execution.js';
import type { RunLifecycle } from './lifecycle.js';
import type { RunStepChange } from './notifier.js';
import { isStoreOutage, LeaseLostError, type RunRecovery } from './recovery.js';
import { toAbortError } from './abort.js';
import type { RunRequest } from './request.js';
import type { Scheduler } from './scheduler.js';
import { runStrategy } from './strategies/index.js';
import type { Tracing } from '../tracing/index.js';

/** The reason runs are interrupted at shutdown: they stay resumable, not cancelled. */
export class ShutdownError extends SkillplaneError {
  constructor() {
    super('shutting_down', 'server shutting down');
  }
}

/** What the executor is wired with. */
export interface RunExecutorOptions {
  store: RunStore;
  lifecycle: RunLifecycle;
  approvals: () => ApprovalDesk;
  scheduler: Scheduler;
  recovery: RunRecovery;
  env: RunEnvironment;
  clock: Clock;
  nodeId: string;
  leaseMs: number;
  logger: Logger | undefined;
  retryBaseMs: number;
  sleep: ((ms: number, signal: AbortSignal) => Promise<void>) | undefined;
  notify: (runId: string) => void;
  /** Told of each step's start, end and replay (the notifier's `'step'` events: metrics). */
  onStep?: (change: RunStepChange) => void;
  /** True once shutdown began. */
  closing: () => boolean;
  /** Spans of the runs' agent loops and steps. */
  tracing?: Tracing;
}

/** What the executor keeps per run it holds. */
interface Held {
  readonly resumed: boolean;
  /** The run's cancel controller, made when it starts or is aborted. */
  cancel: AbortController | undefined;
  /** Made when someone waits for the run to be let go of. */
  released: Promise<void> | undefined;
  resolve: (() => void) | undefined;
}

/**
 * Runs stored runs on this node: admits them to the scheduler, drives their strategy through the
 * journal when a slot is free, and settles them through the lifecycle (completed, failed,
 * cancelled, suspended for approval, or left for a reclaim when the node lost its lease or the
 * store is out of reach). Tracks every run it holds until it lets go of it.
 */
export class RunExecutor {
  /** Every run this node holds (queued or executing), by id, until it lets go of it. */
  readonly #held = new Map<string, Held>();

  constructor(private readonly o: RunExecutorOptions) {}

  /** Runs (or resumes) a stored run under the scheduler; tracked until it settles. */
  schedule(run: Run, resumed: boolean, admitted = false): void {
    const { scheduler, store, nodeId, logger } = this.o;
    if (!admitted) {
      try {
        scheduler.admit({ id: run.id, priority: run.priority });
      } catch (err) {
        if (this.o.closing()) {
          void store.releaseRun(run.id, nodeId).catch(() => undefined);
          return;
        }
        // Resumed work never gets lost to a full queue: try again shortly.
        const t = setTimeout(() => this.schedule(run, resumed), 500);
        t.unref();
        logger?.warn(
          { run_id: run.id, trace_id: run.trace_id, err: toSkillplaneError(err).code },
          'queue full, run resume deferred',
        );
        return;
      }
    }
    this.o.recovery.hold(run);
    this.enqueue(run.id, resumed);
  }

  /** Whether this node holds run `id` (queued or executing). */
  holds(id: string): boolean {
    return this.#held.has(id);
  }

  /** Runs held here (queued or executing). */
  get size(): number {
    return this.#held.size;
  }

  /**
   * Aborts run `id` held here with `reason` (a queued run does not start: pair this with
   * `scheduler.cancel`). Returns false when it is not held here.
   */
  abort(id: string, reason: unknown): boolean {
    const held = this.#held.get(id);
    if (held === undefined) return false;
    held.cancel ??= new AbortController();
    if (!held.cancel.signal.aborted) held.cancel.abort(reason);
    return true;
  }

  /** Aborts every run held here with `reason`. */
  abortAll(reason: unknown): void {
    for (const id of [...this.#held.keys()]) this.abort(id, reason);
  }

  /** Resolves once this node let go of run `id`; undefined when it does not hold it. */
  released(id: string): Promise<void> | undefined {
    const held = this.#held.get(id);
    if (held === undefined) return undefined;
    held.released ??= new Promise<void>((resolve) => (held.resolve = resolve));
    return held.released;
  }

  /** Resolves once this node let go of every run it holds now. */
  async releasedAll(): Promise<void> {
    await Promise.all([...this.#held.keys()].map((id) => this.released(id)));
  }

  /**
   * Queues the admitted run `id` under the scheduler and tracks it until it settles. A queued run
   * costs its `Held` record and its scheduler entry, nothing else: the scheduler calls the
   * executor's two shared callbacks with the id, the cancel controller is made when the run starts
   * or is aborted, the `released` promise when someone waits for it, and the run itself is read
   * from the store when it starts.
   */
  private enqueue(id: string, resumed: boolean): void {
    this.#held.set(id, { resumed, cancel: undefined, released: undefined, resolve: undefined });
    this.o.scheduler.enqueue(id, this.#task, this.#settled);
  }

  readonly #task = (slotSignal: AbortSignal, id: string): Promise<void> => {
    let held = this.#held.get(id);
    if (held === undefined) {
      // Not expected (the record outlives its ticket); a run that starts is held all the same.
      held = { resumed: true, cancel: undefined, released: undefined, resolve: undefined };
      this.#held.set(id, held);
    }
    held.cancel ??= new AbortController();
    return this.execute(id, slotSignal, held.cancel, held.resumed);
  };

  readonly #settled = (ok: boolean, err: unknown, id: string): void => {
    // This ticket's record, taken now: while a failed run is settled below, its id may be queued
    // again (a deferred resume) under a new record, which the old one must not let go of.
    const held = this.#held.get(id);
    if (ok) this.#letGo(id, held);
    else void this.#endQueued(id, err, held).finally(() => this.#letGo(id, held));
  };

  /** A run whose execution threw or that left the queue before it started. */
  async #endQueued(id: string, err: unknown, held: Held | undefined): Promise<void> {
    const { store, nodeId } = this.o;
    if (err instanceof LeaseLostError || held?.cancel?.signal.reason instanceof LeaseLostError) return;
    if (isStoreOutage(err)) return;
    const e = toSkillplaneError(err);
    if (this.o.closing()) {
      // Shutdown: hand the queued run back at once instead of letting its lease run out.
      await store.releaseRun(id, nodeId).catch(() => undefined);
      return;
    }
    await this.o.lifecycle
      .tryMove(id, e.code === 'cancelled' ? 'cancel' : 'fail', { error: e, from: ['queued'] })
      .catch(() => undefined);
  }

  /** Lets go of run `id` as held by `held` (not of a newer record of the same id). */
  #letGo(id: string, held: Held | undefined): void {
    const current = this.#held.get(id);
    if (current === held) {
      this.#held.delete(id);
      this.o.recovery.drop(id);
    }
    held?.resolve?.();
  }

  /** Schedules a run once the execution that re-queued it (if still held) let go of its slot. */
  scheduleAfterCurrent(run: Run): void {
    const current = this.released(run.id);
    if (current === undefined) this.schedule(run, true);
    else void current.then(() => this.schedule(run, true));
  }

  private async execute(
    runId: string,
    slotSignal: AbortSignal,
    cancel: AbortController,
    resumed: boolean,
  ): Promise<void> {
    const cancelSignal = cancel.signal;
    const { store, lifecycle, nodeId, clock } = this.o;
    const stored = await store.getRun(runId);
    if (stored === undefined || isTerminal(stored.status) || stored.status === 'waiting_approval') return;
    const startedAt = stored.started_at;
    const started = startedAt === null ? clock.now() : Date.parse(startedAt);
    const deadline = started + stored.limits.timeout_sec * 1000;
    const controller = new AbortController();
    const abort = (reason: unknown) => {
      if (!controller.signal.aborted) controller.abort(reason);
    };
    const onSlot = () => abort(slotSignal.reason);
    const onCancel = () => abort(cancelSignal.reason);
    slotSignal.addEventListener('abort', onSlot, { once: true });
    cancelSignal.addEventListener('abort', onCancel, { once: true });
    // Either may have aborted while the run was read (an abort listener added late never fires).
    if (slotSignal.aborted) onSlot();
    else if (cancelSignal.aborted) onCancel();
    const limitSec = stored.limits.timeout_sec;
    const timer = setTimeout(
      () => abort(new TimeoutError(`run timed out after ${limitSec} s`, limitSec * 1000)),
      Math.max(0, deadline - clock.now()),
    );
    const cleanup = () => {
      clearTimeout(timer);
      slotSignal.removeEventListener('abort', onSlot);
      cancelSignal.removeEventListener('abort', onCancel);
    };
    // Cancelled, abandoned or shut down while the run was read: it does not start (the caller's
    // catch settles it as a queued run's end would).
    if (controller.signal.aborted) {
      cleanup();
      throw toAbortError(controller.signal.reason);
    }
    let run: Run;
    try {
      const move = resumed || startedAt !== null ? 'resume' : 'start';
      run = await lifecycle.move(runId, move, {
        node: nodeId,
        leaseMs: this.o.leaseMs,
        startedAt: startedAt ?? new Date(started).toISOString(),
      });
    } catch (err) {
      cleanup();
      if (err instanceof ConflictError) return; // cancelled, settled or claimed elsewhere meanwhile
      throw err;
    }
    // Every line about this run carries its id and trace id (steps add their span id).
    const log = this.o.logger?.child({ run_id: runId, trace_id: run.trace_id });
    const moved = run;
    const exec = new RunExecution(run, store, controller.signal, {
      retryBaseMs: this.o.retryBaseMs,
      // Never started before (started_at unset when read): nothing to replay.
      firstExecution: startedAt === null,
      onStep: (step, phase) => {
        this.o.notify(runId);
        this.o.onStep?.({ run: moved, step, phase });
      },
      ...(log === undefined ? {} : { logger: log }),
      onEvent: () => this.o.notify(runId),
      ...(this.o.sleep === undefined ? {} : { sleep: this.o.sleep }),
      ...(this.o.tracing === undefined ? {} : { tracing: this.o.tracing }),
    });
    try {
      const answer = await runStrategy(exec, this.o.env, run.input as RunRequest);
      await exec.flush();
      controller.signal.throwIfAborted();
      const warnings = [...exec.warnings];
      if (warnings.length > 0) log?.warn({ warnings }, 'run completed with warnings');
      const result = warnings.length === 0 ? answer : { ...answer, warnings };
      await lifecycle.tryMove(runId, 'complete', { node: nodeId, result, usage: exec.usage });
    } catch (raw) {
      await exec.flush().catch(() => undefined);
      await this.settleFailure(runId, raw, controller.signal, exec.usage, log);
    } finally {
      cleanup();
    }
  }

  /** How an execution that threw ends: suspended, left for a reclaim, or failed/cancelled. */
  private async settleFailure(
    runId: string,
    raw: unknown,
    signal: AbortSignal,
    usage: UsageData,
    logger: Logger | undefined,
  ): Promise<void> {
    const { store, lifecycle, nodeId } = this.o;
    const reason: unknown = signal.aborted ? signal.reason : raw;
    // Lease lost: another node owns the run now (or will); leave it untouched. Store outage: the
    // run is not at fault; its lease runs out and a reclaim resumes it from its journal.
    if (reason instanceof LeaseLostError) return;
    if (isStoreOutage(reason)) {
      logger?.warn({ err: toSkillplaneError(reason).message }, 'store outage, run left to reclaim');
      return;
    }
    if (reason instanceof ShutdownError) {
      // Shutdown: leave the run for the next process; its journal makes the resume exact.
      await store.releaseRun(runId, nodeId).catch(() => undefined);
      return;
    }
    if (raw instanceof SuspendForApproval && !signal.aborted) {
      await this.o
        .approvals()
        .suspend(runId, usage, raw.approvalId)
        .catch((err: unknown) =>
          logger?.warn({ err: toSkillplaneError(err).message }, 'suspending for approval failed'),
        );
      return;
    }
    const e = toSkillplaneError(reason);
    await lifecycle.tryMove(runId, e.code === 'cancelled' ? 'cancel' : 'fail', {
      error: e,
      usage,
      node: nodeId,
    });
  }
}
