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

/**
 * Runs stored runs on this node: admits them to the scheduler, drives their strategy through the
 * journal when a slot is free, and settles them through the lifecycle (completed, failed,
 * cancelled, suspended for approval, or left for a reclaim when the node lost its lease or the
 * store is out of reach). Tracks every run it holds until it lets go of it.
 */
export class RunExecutor {
  readonly controllers = new Map<string, AbortController>();
  readonly inflight = new Map<string, Promise<void>>();

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

  /**
   * Queues the admitted run `id` under the scheduler and tracks it until it settles. Its closures
   * hold the id only, not the run: a deep queue keeps a few hundred bytes per run, and the run is
   * read from the store when it starts.
   */
  private enqueue(id: string, resumed: boolean): void {
    const { scheduler, store, nodeId } = this.o;
    // The run's cancel controller. Its signal is read once the run starts, or when its queued
    // ticket is rejected (Node makes it on first read): a queued run is cancelled through
    // `scheduler.cancel` — every path that aborts this controller also calls it, or
    // `scheduler.close()` at shutdown — so a deep queue holds no signal per run.
    const controller = new AbortController();
    this.controllers.set(id, controller);
    const p = scheduler
      .run(id, (slotSignal) => this.execute(id, slotSignal, controller, resumed))
      .catch(async (err: unknown) => {
        // Cancelled while still queued: the task never started.
        if (err instanceof LeaseLostError || controller.signal.reason instanceof LeaseLostError) return;
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
      })
      .finally(() => {
        this.controllers.delete(id);
        this.inflight.delete(id);
        this.o.recovery.drop(id);
      });
    this.inflight.set(id, p);
  }

  /** Schedules a run once the execution that re-queued it (if still inflight) let go of its slot. */
  scheduleAfterCurrent(run: Run): void {
    const current = this.inflight.get(run.id);
    if (current === undefined) this.schedule(run, true);
    else void current.finally(() => this.schedule(run, true));
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
