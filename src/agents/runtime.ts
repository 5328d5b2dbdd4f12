import { EventEmitter } from 'node:events';
import { randomBytes } from 'node:crypto';
import type { Logger } from 'pino';
import type { Config } from '../config/index.js';
import {
  CancelledError,
  ConflictError,
  NotFoundError,
  PermissionDeniedError,
  SkillplaneError,
  TimeoutError,
  ValidationError,
  toSkillplaneError,
} from '../errors/index.js';
import { zodIssues } from '../config/index.js';
import type { Approval, ListRunsQuery, Run, RunEvent, RunPage, RunStore, Step } from '../store/index.js';
import { isTerminal } from '../vocabulary/index.js';
import { childContext, formatTraceparent, parseTraceparent } from '../tracing/index.js';
import type { AgentCatalog } from './definitions.js';
import type { ChatBackend, RunEnvironment, SkillPort } from './environment.js';
import { RunExecution } from './execution.js';
import { skillsOutsideGrant, SuspendForApproval } from './agent-loop.js';
import { ApprovalDesk } from './approvals.js';
import { requestFingerprint, runRequestSchema, type RunRequest, type RunRequestInput } from './request.js';
import { isStoreOutage, LeaseLostError, RunRecovery } from './recovery.js';
import { Scheduler } from './scheduler.js';
import { runStrategy } from './strategies/index.js';

/** Who is asking, and the trace they are part of. */
export interface CallerContext {
  principal?: string | null;
  idempotencyKey?: string;
  traceparent?: string;
  tracestate?: string;
}

export interface RuntimeOptions {
  config: Config;
  store: RunStore;
  skills: SkillPort;
  models: { get(name: string): ChatBackend };
  agents: AgentCatalog;
  /** This process's id as a run owner (leases). */
  nodeId?: string;
  logger?: Logger;
  /** Base delay of step retries (tests shorten it). */
  retryBaseMs?: number;
  /** Sleep used between retries (tests inject fake time). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** How long a run's ownership lease lasts; renewed while it runs. */
  leaseMs?: number;
  /** Period of the reclaim loop (default `leaseMs / 2` with jitter). */
  reclaimIntervalMs?: number;
}

/** A live notification that a run has new events. Listeners read them from the store. */
export interface RunNotification {
  runId: string;
  status?: Run['status'];
}

const IDEMPOTENCY_TTL_SEC = 24 * 3600;

/** The reason runs are interrupted at shutdown: they stay resumable, not cancelled. */
class ShutdownError extends SkillplaneError {
  constructor() {
    super('shutting_down', 'server shutting down');
  }
}

function nowIso(): string {
  return new Date().toISOString();
}

function newRunId(): string {
  return `run_${Date.now().toString(16).padStart(12, '0')}${randomBytes(8).toString('hex')}`;
}

/**
 * The runtime facade: validates and admits run requests, stores them, executes them under the
 * scheduler with their strategy, and handles cancel, approvals, waiting, recovery and shutdown.
 * Emits `'run'` notifications ({@link RunNotification}) whenever a run has new events.
 */
export class Runtime extends EventEmitter {
  readonly scheduler: Scheduler;
  readonly nodeId: string;
  /** Lease keeper, reclaim loop and retention job (see recovery.ts). */
  readonly recovery: RunRecovery;
  private readonly config: Config;
  private readonly store: RunStore;
  private readonly env: RunEnvironment;
  private readonly approvals: ApprovalDesk;
  private readonly controllers = new Map<string, AbortController>();
  private readonly runListeners = new Map<string, Set<(n: RunNotification) => void>>();
  private readonly inflight = new Map<string, Promise<void>>();
  private readonly logger: Logger | undefined;
  private readonly leaseMs: number;
  private closing = false;
  private timers: NodeJS.Timeout[] = [];

  constructor(private readonly options: RuntimeOptions) {
    super();
    this.setMaxListeners(0);
    this.config = options.config;
    this.store = options.store;
    this.logger = options.logger;
    this.nodeId = options.nodeId ?? `node-${randomBytes(4).toString('hex')}`;
    this.leaseMs = options.leaseMs ?? 30_000;
    this.approvals = new ApprovalDesk({
      store: options.store,
      config: options.config,
      nodeId: this.nodeId,
      leaseMs: this.leaseMs,
      notify: (runId, status) => this.notify(runId, status),
      fail: (runId, error, from) => this.settle(runId, 'failed', error, {}, from),
      // A run re-queued from inside its own (suspending) execution is scheduled once that
      // execution has let go of its scheduler ticket.
      schedule: (run) => {
        const current = this.inflight.get(run.id);
        if (current === undefined) this.schedule(run, true);
        else void current.finally(() => this.schedule(run, true));
      },
      audit: (...args) => this.audit(...args),
    });
    const a = options.config.agents;
    this.scheduler = new Scheduler({
      maxConcurrent: a.max_parallel_agents,
      maxQueued: a.max_queued_runs,
      weights: a.priority_weights,
    });
    this.recovery = new RunRecovery({
      store: options.store,
      nodeId: this.nodeId,
      leaseMs: this.leaseMs,
      retentionDays: options.config.store.retention_days,
      logger: options.logger,
      ...(options.reclaimIntervalMs === undefined ? {} : { reclaimIntervalMs: options.reclaimIntervalMs }),
    });
    this.env = {
      config: options.config,
      store: options.store,
      models: options.models,
      skills: options.skills,
      agents: options.agents,
      requestApproval: (exec, req) => this.approvals.request(exec, req),
      audit: (run, action, target, data) => this.audit(run.principal, action, target, run.trace_id, data),
    };
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
        if (this.controllers.has(run.id)) return false; // already held here (lease refreshed)
        this.schedule(run, true);
        return true;
      },
      abandon: (runId, reason) => this.abandon(runId, reason),
      freePlaces: () => {
        const st = this.scheduler.stats();
        const q = st.queued;
        return st.capacity - st.admitted - q.interactive - q.normal - q.batch;
      },
    });
    const sweep = setInterval(() => void this.expireApprovals().catch(() => undefined), 5_000);
    sweep.unref();
    this.timers.push(sweep);
    if (resumed > 0) this.logger?.info({ resumed }, 'resumed runs left by a previous process');
    return { resumed };
  }

  /**
   * Aborts a run's local execution (queued or running) because this node lost its lease; the run
   * is not settled here, its new owner (or a later reclaim by this node) continues it.
   */
  private abandon(runId: string, reason: LeaseLostError): void {
    this.controllers.get(runId)?.abort(reason);
    this.scheduler.cancel(runId, reason);
  }

  /** Parses a request body into a `RunRequest`, or throws `invalid_request` with every issue. */
  parseRequest(input: unknown): RunRequest {
    const parsed = runRequestSchema.safeParse(input);
    if (!parsed.success)
      throw new ValidationError('invalid run request', zodIssues(parsed.error), 'invalid_request');
    const req = parsed.data;
    const names = [req.agent, ...(req.agents ?? []), req.options.reducer].filter(
      (n): n is string => n !== undefined,
    );
    for (const r of req.options.routes ?? []) names.push(r.agent);
    const unknown = names.filter((n) => this.options.agents.get(n) === undefined);
    if (unknown.length > 0) {
      throw new ValidationError(
        `unknown agent${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`,
        unknown.map((n) => ({ path: 'agent', message: `unknown agent ${n}` })),
        'unknown_agent',
      );
    }
    // role_tools narrows what an agent may call; it can never grant a skill the agent lacks.
    for (const [role, tools] of Object.entries(req.options.role_tools ?? {})) {
      const agent = this.options.agents.get(role);
      if (agent === undefined) continue;
      const outside = skillsOutsideGrant(this.env, agent, tools);
      if (outside.length > 0) {
        throw new PermissionDeniedError(
          `role_tools.${role} names skills agent ${role} is not granted: ${outside.join(', ')}`,
          { field: `options.role_tools.${role}`, skills: outside },
        );
      }
    }
    return req;
  }

  /**
   * Creates a run: validates, reserves a queue place (a full queue throws `queue_full` and stores
   * nothing), stores it (an idempotency key returns the existing run for the same request and a
   * `idempotency_conflict` for another), then schedules it.
   */
  async submit(
    input: RunRequestInput | RunRequest,
    caller: CallerContext = {},
  ): Promise<{ run: Run; created: boolean }> {
    if (this.closing) throw new ShutdownError();
    const req = this.parseRequest(input);
    const id = newRunId();
    this.scheduler.admit({ id, priority: req.priority });
    let admittedUsed = false;
    try {
      const inbound = parseTraceparent(caller.traceparent, caller.tracestate);
      const trace = childContext(inbound);
      const a = this.config.agents;
      const { run, created } = await this.store.createRun(
        {
          id,
          agent: req.agent ?? req.agents!.join(','),
          strategy: req.strategy,
          input: req,
          priority: req.priority,
          principal: caller.principal ?? null,
          trace_id: trace.traceId,
          traceparent: formatTraceparent(trace.traceId, trace.spanId, trace.flags),
          tracestate: inbound?.tracestate ?? null,
          // Owned by this node from the start, so another node's reclaim loop never takes a run
          // that waits in our queue; execute() and settle() are guarded on the owner.
          owner: this.nodeId,
          lease_expires_at: new Date(Date.now() + this.leaseMs).toISOString(),
          limits: {
            max_steps: req.limits.max_steps ?? a.max_steps_per_run,
            max_handoff_depth: req.limits.max_handoff_depth ?? a.max_handoff_depth,
            token_budget: req.limits.token_budget ?? null,
            cost_budget_usd: req.limits.cost_budget_usd ?? null,
            timeout_sec: req.limits.timeout_sec ?? a.default_timeout_sec,
          },
          metadata: req.metadata,
        },
        {
          ...(caller.idempotencyKey === undefined
            ? {}
            : {
                idempotency: {
                  key: caller.idempotencyKey,
                  fingerprint: requestFingerprint(req),
                  ttlSec: IDEMPOTENCY_TTL_SEC,
                },
              }),
          event: {
            type: 'run.created',
            data: { agent: req.agent ?? null, strategy: req.strategy, priority: req.priority },
          },
        },
      );
      if (created) {
        admittedUsed = true;
        void this.audit(caller.principal ?? null, 'run.create', run.id, run.trace_id, {
          agent: run.agent,
          strategy: run.strategy,
        });
        this.schedule(run, false, true);
      }
      return { run, created };
    } finally {
      if (!admittedUsed) this.scheduler.cancel(id);
    }
  }

  /** Runs (or resumes) a stored run under the scheduler; tracked until it settles. */
  private schedule(run: Run, resumed: boolean, admitted = false): void {
    if (!admitted) {
      try {
        this.scheduler.admit({ id: run.id, priority: run.priority });
      } catch (err) {
        if (this.closing) {
          void this.store.releaseRun(run.id, this.nodeId).catch(() => undefined);
          return;
        }
        // Resumed work never gets lost to a full queue: try again shortly.
        const t = setTimeout(() => this.schedule(run, resumed), 500);
        t.unref();
        this.logger?.warn(
          { run: run.id, err: toSkillplaneError(err).code },
          'queue full, run resume deferred',
        );
        return;
      }
    }
    const controller = new AbortController();
    this.controllers.set(run.id, controller);
    this.recovery.hold(run);
    const p = this.scheduler
      .run(run.id, (slotSignal) => this.execute(run.id, slotSignal, controller.signal, resumed), {
        signal: controller.signal,
      })
      .catch(async (err: unknown) => {
        // Cancelled while still queued: the task never started.
        if (err instanceof LeaseLostError || controller.signal.reason instanceof LeaseLostError) return;
        if (isStoreOutage(err)) return;
        const e = toSkillplaneError(err);
        if (this.closing) {
          // Shutdown: hand the queued run back at once instead of letting its lease run out.
          await this.store.releaseRun(run.id, this.nodeId).catch(() => undefined);
          return;
        }
        await this.settle(run.id, e.code === 'cancelled' ? 'cancelled' : 'failed', e, undefined, [
          'queued',
        ]).catch(() => undefined);
      })
      .finally(() => {
        this.controllers.delete(run.id);
        this.inflight.delete(run.id);
        this.recovery.drop(run.id);
      });
    this.inflight.set(run.id, p);
  }

  private async execute(
    runId: string,
    slotSignal: AbortSignal,
    cancelSignal: AbortSignal,
    resumed: boolean,
  ): Promise<void> {
    const stored = await this.store.getRun(runId);
    if (stored === undefined || isTerminal(stored.status) || stored.status === 'waiting_approval') return;
    const started = stored.started_at ?? nowIso();
    const deadline = Date.parse(started) + stored.limits.timeout_sec * 1000;
    const controller = new AbortController();
    const abort = (reason: unknown) => {
      if (!controller.signal.aborted) controller.abort(reason);
    };
    const onSlot = () => abort(slotSignal.reason);
    const onCancel = () => abort(cancelSignal.reason);
    slotSignal.addEventListener('abort', onSlot, { once: true });
    cancelSignal.addEventListener('abort', onCancel, { once: true });
    const remaining = Math.max(0, deadline - Date.now());
    const timer = setTimeout(
      () =>
        abort(
          new TimeoutError(
            `run timed out after ${stored.limits.timeout_sec} s`,
            stored.limits.timeout_sec * 1000,
          ),
        ),
      remaining,
    );
    let run: Run;
    try {
      run = await this.store.transitionRun(
        runId,
        {
          status: 'running',
          started_at: started,
          owner: this.nodeId,
          lease_expires_at: new Date(Date.now() + this.leaseMs).toISOString(),
        },
        {
          type: resumed || stored.started_at !== null ? 'run.resumed' : 'run.started',
          data: { node: this.nodeId },
        },
        // Owner guard: a run another node claimed meanwhile is not started here.
        { from: ['queued', 'running'], owner: this.nodeId },
      );
    } catch (err) {
      clearTimeout(timer);
      slotSignal.removeEventListener('abort', onSlot);
      cancelSignal.removeEventListener('abort', onCancel);
      if (err instanceof ConflictError) return; // cancelled or settled meanwhile
      throw err;
    }
    this.notify(runId, 'running');
    const exec = new RunExecution(run, this.store, controller.signal, {
      retryBaseMs: this.options.retryBaseMs ?? 200,
      // Never started before (started_at unset when read): nothing to replay.
      firstExecution: stored.started_at === null,
      onStep: () => this.notify(runId),
      ...(this.options.sleep === undefined ? {} : { sleep: this.options.sleep }),
    });
    try {
      const result = await runStrategy(exec, this.env, run.input as RunRequest);
      await exec.flush();
      controller.signal.throwIfAborted();
      await this.settle(runId, 'completed', undefined, { result, usage: exec.usage }, undefined, this.nodeId);
    } catch (raw) {
      await exec.flush().catch(() => undefined);
      const reason: unknown = controller.signal.aborted ? controller.signal.reason : raw;
      // Lease lost: another node owns the run now (or will); leave it untouched. Store outage: the
      // run is not at fault; its lease runs out and a reclaim resumes it from its journal.
      if (reason instanceof LeaseLostError) return;
      if (isStoreOutage(reason)) {
        this.logger?.warn(
          { run: runId, err: toSkillplaneError(reason).message },
          'store outage, run left to reclaim',
        );
        return;
      }
      if (reason instanceof ShutdownError) {
        // Shutdown: leave the run for the next process; its journal makes the resume exact.
        await this.store.releaseRun(runId, this.nodeId).catch(() => undefined);
        return;
      }
      if (raw instanceof SuspendForApproval && !controller.signal.aborted) {
        await this.approvals
          .suspend(runId, exec.usage, raw.approvalId)
          .catch((err: unknown) =>
            this.logger?.warn(
              { run: runId, err: toSkillplaneError(err).message },
              'suspending for approval failed',
            ),
          );
        return;
      }
      const e = toSkillplaneError(reason);
      await this.settle(
        runId,
        e.code === 'cancelled' ? 'cancelled' : 'failed',
        e,
        { usage: exec.usage },
        undefined,
        this.nodeId,
      );
    } finally {
      clearTimeout(timer);
      slotSignal.removeEventListener('abort', onSlot);
      cancelSignal.removeEventListener('abort', onCancel);
    }
  }

  /** Moves a run to a terminal state with its event; a run already terminal is left alone. */
  private async settle(
    runId: string,
    status: 'completed' | 'failed' | 'cancelled',
    error: SkillplaneError | undefined,
    extra: { result?: unknown; usage?: Run['usage'] } = {},
    from?: Run['status'][],
    /** Settle only while this node owns the run (the executing node); a `not_owner` is ignored. */
    owner?: string,
  ): Promise<void> {
    try {
      await this.store.transitionRun(
        runId,
        {
          status,
          finished_at: nowIso(),
          owner: null,
          lease_expires_at: null,
          ...(extra.result === undefined ? {} : { result: extra.result }),
          ...(extra.usage === undefined ? {} : { usage: extra.usage }),
          ...(error === undefined
            ? {}
            : {
                error: {
                  code: error.code,
                  message: error.message,
                  ...(error.data === undefined ? {} : { data: error.data }),
                },
              }),
        },
        {
          type: `run.${status}`,
          data: {
            ...(error === undefined ? {} : { error: { code: error.code, message: error.message } }),
            ...(extra.usage === undefined ? {} : { usage: extra.usage }),
          },
        },
        from === undefined && owner === undefined
          ? undefined
          : { ...(from === undefined ? {} : { from }), ...(owner === undefined ? {} : { owner }) },
      );
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
    this.notify(runId, status);
  }

  private notify(runId: string, status?: Run['status']): void {
    const n: RunNotification = status === undefined ? { runId } : { runId, status };
    // Per-run listeners first (waits, event streams): O(listeners of this run), not of all runs.
    const listeners = this.runListeners.get(runId);
    if (listeners !== undefined) for (const l of [...listeners]) l(n);
    this.emit('run', n);
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
  expireApprovals(now = new Date()): Promise<number> {
    return this.approvals.expire(now);
  }

  /**
   * Cancels a run, reaching every branch, model request and skill process. Cancelling a
   * cancelled run returns it; a completed or failed run is `already_terminal`.
   */
  async cancel(runId: string, principal: string | null = null): Promise<Run> {
    const run = await this.store.getRun(runId);
    if (run === undefined) throw new NotFoundError('run', runId);
    if (run.status === 'cancelled') return run;
    if (isTerminal(run.status)) {
      throw new ConflictError(`run ${runId} is already ${run.status}`, 'already_terminal', {
        status: run.status,
      });
    }
    void this.audit(principal, 'run.cancel', runId, run.trace_id);
    const controller = this.controllers.get(runId);
    if (controller !== undefined) {
      controller.abort(new CancelledError(`run cancelled${principal === null ? '' : ` by ${principal}`}`));
      this.scheduler.cancel(runId);
      await this.inflight.get(runId);
    } else {
      await this.settle(runId, 'cancelled', new CancelledError('run cancelled'), {}, [
        'queued',
        'waiting_approval',
        'running',
      ]);
      for (const a of await this.store.listApprovals({ run_id: runId, status: 'pending' })) {
        await this.store
          .decideApproval(a.id, { status: 'expired', decided_by: principal, reason: 'run cancelled' })
          .catch(() => undefined);
      }
    }
    const after = await this.store.getRun(runId);
    return after!;
  }

  /**
   * Calls `listener` whenever run `runId` has new events (read them from the store with
   * {@link listEvents}). Returns the unsubscribe function. Cheaper than `on('run')` when many
   * callers each follow one run.
   */
  subscribe(runId: string, listener: (n: RunNotification) => void): () => void {
    let set = this.runListeners.get(runId);
    if (set === undefined) {
      set = new Set();
      this.runListeners.set(runId, set);
    }
    set.add(listener);
    return () => {
      const current = this.runListeners.get(runId);
      if (current === undefined) return;
      current.delete(listener);
      if (current.size === 0) this.runListeners.delete(runId);
    };
  }

  /** Waits until the run is terminal or waiting for approval, or `timeoutMs` passes. */
  async wait(runId: string, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<Run> {
    const settled = (r: Run) => isTerminal(r.status) || r.status === 'waiting_approval';
    let wake: (() => void) | undefined;
    let changed = false;
    // Subscribe before the first read, so a change in between is not missed: if it lands while
    // the read is in flight, `changed` records it and we read again instead of sleeping.
    const unsubscribe = this.subscribe(runId, (n) => {
      if (n.status === undefined || n.status === 'running' || n.status === 'queued') return;
      changed = true;
      wake?.();
    });
    try {
      let run = await this.getRun(runId);
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
      run = await this.getRun(runId);
      return run;
    } finally {
      unsubscribe();
    }
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

  listApprovals(query: {
    status?: Approval['status'];
    run_id?: string;
    limit?: number;
  }): Promise<Approval[]> {
    return this.store.listApprovals(query);
  }

  private async audit(
    principal: string | null,
    action: string,
    target: string,
    traceId: string | null,
    data?: Record<string, unknown>,
  ): Promise<void> {
    try {
      await this.store.appendAudit({ principal, action, target, trace_id: traceId, data: data ?? null });
    } catch (err) {
      this.logger?.warn({ err: toSkillplaneError(err).message, action }, 'audit write failed');
    }
  }

  /** Runs currently executing or queued in this process. */
  get activeRuns(): number {
    return this.inflight.size;
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
    const all = Promise.allSettled([...this.inflight.values()]);
    const timedOut = await Promise.race([
      all.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref()),
    ]);
    if (timedOut) {
      for (const c of this.controllers.values()) c.abort(new ShutdownError());
      this.scheduler.close();
      await Promise.allSettled([...this.inflight.values()]);
    }
    await this.recovery.stop();
  }
}
