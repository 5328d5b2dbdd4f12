// The runtime facade: submission, approvals, cancel, waiting, recovery and shutdown of runs over
// the scheduler, the lifecycle, the executor and the store.
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { RunBusHealth } from '../bus/index.js';
import type { Config } from '../config/index.js';
import { NotFoundError, toSkillplaneError } from '../errors/index.js';
import type {
  Approval,
  ListApprovalsQuery,
  ListRunsQuery,
  Run,
  RunEvent,
  RunPage,
  RunStore,
  Step,
} from '../store/index.js';
import { systemClock, type Clock } from '../vocabulary/index.js';
import type { AgentCatalog } from './definitions.js';
import type { RunEnvironment } from './environment.js';
import { ApprovalDesk, type RuntimeAuditEntry } from './approvals.js';
import { RunLifecycle, type RunNotify } from './lifecycle.js';
import { logRunLifecycle, RunNotifier, waitForSettled, type RunNotification } from './notifier.js';
import { RunRecovery } from './recovery.js';
import type { RunRequest, RunRequestInput } from './request.js';
import { RunCanceller } from './run-cancel.js';
import { RunExecutor, ShutdownError } from './run-executor.js';
import { RunIntake } from './run-intake.js';
import type { CallerContext, RuntimeOptions } from './runtime-options.js';
import { Scheduler } from './scheduler.js';
import { parseRunRequest } from './submission.js';
import { RunSpans } from '../tracing/index.js';

export type { RunNotification } from './notifier.js';
export type { CallerContext, RuntimeOptions } from './runtime-options.js';
export type { RuntimeAuditEntry } from './approvals.js';

/**
 * The runtime facade over the scheduler, the lifecycle and the store: validates and admits run
 * requests, stores them, executes them under the scheduler with their strategy, and handles
 * cancel, approvals, waiting, recovery and shutdown. Live notifications: {@link subscribe} for one
 * run (its changes on any node sharing the store, with a bus), `runtime.notifier.on('run')` for all
 * of this node's.
 */
export class Runtime {
  readonly scheduler: Scheduler;
  readonly nodeId: string;
  /** Lease keeper, reclaim loop and retention job (see recovery.ts). */
  readonly recovery: RunRecovery;
  readonly notifier = new RunNotifier();
  /** The one owner of run status changes. */
  readonly lifecycle: RunLifecycle;
  /** The one owner of approvals. */
  readonly approvals: ApprovalDesk;
  private readonly config: Config;
  private readonly store: RunStore;
  private readonly clock: Clock;
  private readonly env: RunEnvironment;
  private readonly executor: RunExecutor;
  private readonly logger: Logger | undefined;
  private readonly leaseMs: number;
  private closing = false;
  private timers: NodeJS.Timeout[] = [];
  private readonly runSpans: RunSpans | undefined;
  private readonly canceller: RunCanceller;
  private readonly intake: RunIntake;

  constructor(private readonly options: RuntimeOptions) {
    this.config = options.config;
    this.store = options.store;
    this.clock = options.clock ?? options.store.clock ?? systemClock;
    this.logger = options.logger;
    this.nodeId = options.nodeId ?? `node-${randomBytes(4).toString('hex')}`;
    this.leaseMs = options.leaseMs ?? 30_000;
    const notify: RunNotify = (runId, status, change) => this.notifier.notify(runId, status, change);
    if (options.logger !== undefined) logRunLifecycle(this.notifier, options.logger);
    if (options.tracing?.enabled === true) {
      const spans = new RunSpans(options.tracing);
      this.runSpans = spans;
      this.notifier.on('lifecycle', ({ move, run }) => {
        if (move !== 'create') spans.changed(run);
      });
    }
    if (options.bus !== undefined)
      this.notifier.attach(options.bus, {
        // Another node asks: only the node executing the run can stop it.
        onCancel: (runId, principal) => {
          if (!this.executor.holds(runId)) return;
          this.canceller
            .cancelHere(runId, principal)
            .catch((err: unknown) =>
              this.logger?.warn({ run: runId, err: toSkillplaneError(err).message }, 'remote cancel failed'),
            );
        },
      });
    this.lifecycle = new RunLifecycle(options.store, this.clock, notify);
    const a = options.config.agents;
    this.scheduler = new Scheduler({
      maxConcurrent: a.max_parallel_agents,
      maxQueued: a.max_queued_runs,
      weights: a.priority_weights,
      batchShare: a.batch_share,
    });
    this.recovery = new RunRecovery({
      store: options.store,
      nodeId: this.nodeId,
      leaseMs: this.leaseMs,
      retentionDays: options.config.store.retention_days,
      logger: options.logger,
      ...(options.reclaimIntervalMs === undefined ? {} : { reclaimIntervalMs: options.reclaimIntervalMs }),
      reclaim: options.recovery !== 'off',
    });
    this.approvals = new ApprovalDesk({
      store: options.store,
      lifecycle: this.lifecycle,
      config: options.config,
      clock: this.clock,
      nodeId: this.nodeId,
      leaseMs: this.leaseMs,
      notify: (runId) => notify(runId),
      // A run re-queued from inside its own (suspending) execution is scheduled once that
      // execution has let go of its scheduler ticket. A run approved before it ever started has
      // none: it starts (not resumes) like a new one.
      schedule: (run) =>
        run.started_at === null
          ? this.executor.schedule(run, false)
          : this.executor.scheduleAfterCurrent(run),
      audit: (entry) => this.audit(entry),
    });
    this.env = {
      config: options.config,
      models: options.models,
      skills: options.skills,
      agents: options.agents,
      approvals: this.approvals,
    };
    this.executor = new RunExecutor({
      store: options.store,
      lifecycle: this.lifecycle,
      approvals: () => this.approvals,
      scheduler: this.scheduler,
      recovery: this.recovery,
      env: this.env,
      clock: this.clock,
      nodeId: this.nodeId,
      leaseMs: this.leaseMs,
      logger: options.logger,
      retryBaseMs: options.retryBaseMs ?? 200,
      sleep: options.sleep,
      notify: (runId) => notify(runId),
      onStep: (change) => this.notifier.emit('step', change),
      closing: () => this.closing,
      ...(options.tracing === undefined ? {} : { tracing: options.tracing }),
    });
    this.intake = new RunIntake({
      config: this.config,
      store: this.store,
      scheduler: this.scheduler,
      approvals: this.approvals,
      executor: this.executor,
      notifier: this.notifier,
      runSpans: this.runSpans,
      clock: this.clock,
      nodeId: this.nodeId,
      leaseMs: this.leaseMs,
      closing: () => this.closing,
      parseRequest: (input) => this.parseRequest(input),
      admit: (request) => options.admit?.(request),
    });
    this.canceller = new RunCanceller({
      executor: this.executor,
      scheduler: this.scheduler,
      lifecycle: this.lifecycle,
      approvals: this.approvals,
      bus: options.bus,
      clock: this.clock,
      nodeId: this.nodeId,
      cancelWaitMs: options.cancelWaitMs,
      getRun: (runId) => this.getRun(runId),
      wait: (runId, opts) => this.wait(runId, opts),
      audit: (entry) => this.audit(entry),
    });
  }

  /** The agent catalog. */
  get agents(): AgentCatalog {
    return this.options.agents;
  }

  /**
   * Recovers runs left by a previous process or a dead node (resumes `queued`/`running` ones
   * without a live owner from their checkpoint; `waiting_approval` ones keep waiting) and starts
   * lease renewal, the reclaim loop, the retention job (recovery.ts) and approval expiry.
   */
  async start(): Promise<{ resumed: number }> {
    const { resumed } = await this.recovery.start({
      resume: (run) => {
        // A reclaim pass that ends during shutdown hands its runs straight back.
        if (this.closing) {
          void this.store.releaseRun(run.id, this.nodeId).catch(() => undefined);
          return false;
        }
        if (this.executor.holds(run.id)) return false; // already held here (lease refreshed)
        this.executor.schedule(run, true);
        return true;
      },
      abandon: (runId, reason) => {
        // This node lost the lease: stop locally without settling; the new owner continues.
        this.executor.abort(runId, reason);
        this.scheduler.cancel(runId, reason);
      },
      freePlaces: () => {
        const st = this.scheduler.stats();
        const q = st.queued;
        return st.capacity - st.admitted - q.interactive - q.normal - q.batch;
      },
    });
    if (this.options.recovery !== 'off') {
      const sweep = setInterval(() => void this.expireApprovals().catch(() => undefined), 5_000);
      sweep.unref();
      this.timers.push(sweep);
    }
    if (resumed > 0) this.logger?.info({ resumed }, 'resumed runs left by a previous process');
    return { resumed };
  }

  /** Parses a request body into a `RunRequest`, or throws `invalid_request` with every issue. */
  parseRequest(input: unknown): RunRequest {
    return parseRunRequest(input, this.options.agents, this.env, this.options.models);
  }

  /**
   * Creates a run: validates, reserves a queue place (a full queue throws `queue_full` and stores
   * nothing), stores it (an idempotency key returns the existing run for the same request and a
   * `idempotency_conflict` for another), then schedules it.
   */
  submit(
    input: RunRequestInput | RunRequest,
    caller: CallerContext = {},
  ): Promise<{ run: Run; created: boolean }> {
    return this.intake.submit(input, caller);
  }

  /**
   * Approves or denies a pending approval. Approve: once no approval of the run is pending, the
   * run is re-queued and continues from the step that asked. Deny: the run fails with
   * `approval_denied`. Deciding twice is `already_decided`.
   */
  decide(
    approvalId: string,
    decision: { approve: boolean; reason?: string; principal: string | null },
  ): Promise<Approval> {
    return this.approvals.decide(approvalId, decision);
  }

  /** Expires pending approvals past their deadline; their runs fail with `approval_denied`. */
  expireApprovals(): Promise<number> {
    return this.approvals.expire();
  }

  /**
   * Cancels a run, reaching every branch, model request and skill process. Cancelling a
   * cancelled run returns it; a completed or failed run is `already_terminal`. A run another live
   * node executes (it owns it, its lease runs) is cancelled by that node, asked over the bus; this
   * waits for it to settle the run (at most `cancelWaitMs`), then settles it here if it still has
   * not (a silent owner then loses the run at its next lease renewal), as it does when the owner
   * is dead or there is no bus.
   */
  cancel(runId: string, principal: string | null = null): Promise<Run> {
    return this.canceller.cancel(runId, principal);
  }

  /**
   * Calls `listener` whenever run `runId` has new events (read them from the store with
   * {@link listEvents}), wherever it executes when the runtime has a bus (other nodes' changes
   * arrive over it; `resync` after a reconnect: re-read). Returns the unsubscribe function.
   */
  subscribe(runId: string, listener: (n: RunNotification) => void): () => void {
    return this.notifier.subscribe(runId, listener);
  }

  /** Waits until the run is terminal or waiting for approval (on any node, with a bus), or `timeoutMs` passes. */
  wait(runId: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<Run> {
    return waitForSettled(this.notifier, (id) => this.getRun(id), runId, opts);
  }

  async getRun(runId: string): Promise<Run> {
    const run = await this.store.getRun(runId);
    if (run === undefined) throw new NotFoundError('run', runId);
    return run;
  }

  listRuns(query: ListRunsQuery): Promise<RunPage> {
    return this.store.listRuns(query);
  }

  getSteps(runId: string): Promise<Step[]> {
    return this.store.getSteps(runId);
  }

  listEvents(runId: string, afterSeq = 0, limit = 500): Promise<RunEvent[]> {
    return this.store.listEvents(runId, { afterSeq, limit });
  }

  listApprovals(query: ListApprovalsQuery): Promise<Approval[]> {
    return this.approvals.list(query);
  }

  /** Appends to the audit trail; a failure is logged, never thrown. */
  async audit(entry: RuntimeAuditEntry): Promise<void> {
    try {
      await this.store.appendAudit({
        principal: entry.principal,
        action: entry.action,
        target: entry.target,
        run_id: entry.runId,
        trace_id: entry.traceId,
        data: entry.data ?? null,
      });
    } catch (err) {
      this.logger?.warn({ err: toSkillplaneError(err).message, action: entry.action }, 'audit write failed');
    }
  }

  /** Runs currently executing or queued in this process. */
  get activeRuns(): number {
    return this.executor.size;
  }

  /**
   * Stops accepting runs, gives running ones `graceMs` to finish, then interrupts the rest and
   * leaves them for the next process (they resume from their checkpoint).
   */
  async close(graceMs = 5_000): Promise<void> {
    this.closing = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    // No more claims; leases are still renewed while runs finish within the grace period.
    this.recovery.stopClaiming();
    const all = this.executor.releasedAll();
    const timedOut = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref()),
    ]);
    if (timedOut) {
      this.executor.abortAll(new ShutdownError());
      this.scheduler.close();
      await this.executor.releasedAll();
    }
    await this.recovery.stop();
    this.notifier.detach();
    await this.options.bus?.close();
  }

  /** The run bus's state (`undefined` without one: a single node). */
  busHealth(): RunBusHealth | undefined {
    return this.options.bus?.health();
  }
}
