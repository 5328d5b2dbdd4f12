// A run's durable step journal: replay, budget check, durable begin and finish, retries, agent-loop
// spans and the step events of one execution and its branch views.
import type { Logger } from 'pino';
import { SkillplaneError, toSkillplaneError } from '../errors/index.js';
import type { RunStore, Run, RunUsage, Step } from '../store/index.js';
import {
  newSpanId,
  parseTraceparent,
  recordSpanError,
  type Attributes,
  type SpanParent,
  type Tracing,
} from '../tracing/index.js';
import type { StepRef } from '../vocabulary/index.js';
import { abortableSleep } from './abort.js';
import type {
  ExecutionOptions,
  ExecutionState,
  RunWarning,
  StepOutcome,
  StepSpec,
} from './execution-types.js';
import { isStoreOutage } from './recovery.js';
import { backoffDelayMs, isRetryable } from './retry.js';
import { checkRunBudget } from './run-budget.js';
import { InterruptedStepError, NODE_FAILURES, storedError } from './step-failures.js';
import { endStepSpan, failStepSpan, startStepSpan } from './step-span.js';

/**
 * The durable journal of one run's execution: every step is written before it is dispatched and
 * its result (with the run's usage and checkpoint) is durable before the caller continues. On a
 * resumed run a completed step is replayed from the store instead of executed. Budgets are checked
 * before dispatch, so a run stops before it overspends.
 */
export class RunExecution {
  private readonly state: ExecutionState;

  constructor(
    readonly run: Run,
    private readonly store: RunStore,
    readonly signal: AbortSignal,
    private readonly opts: ExecutionOptions,
    state?: ExecutionState,
    /** The span new spans hang under: an agent loop's, else the run's (from `run.traceparent`). */
    private readonly spanParent?: () => SpanParent,
  ) {
    this.state = state ?? {
      usage: { ...run.usage },
      checkpoint: run.checkpoint,
      writes: Promise.resolve(),
      replayed: 0,
      reservedTokens: 0,
      reservedCost: 0,
      warnings: [],
    };
  }

  /** The same execution seen by a branch with its own signal (shares usage, journal and budgets). */
  withSignal(signal: AbortSignal): RunExecution {
    return new RunExecution(this.run, this.store, signal, this.opts, this.state, this.spanParent);
  }

  /**
   * Runs `fn` inside a span (an agent loop: `invoke_agent {agent}`) whose steps are its children;
   * without tracing, just runs it. The span starts with the first step that is not replayed (a
   * resumed loop that only replays its journal leaves no span). A suspension for an approval ends
   * it without an error.
   */
  async inSpan<T>(name: string, attributes: Attributes, fn: (exec: RunExecution) => Promise<T>): Promise<T> {
    const tracing = this.opts.tracing;
    if (tracing?.enabled !== true) return fn(this);
    const parent = this.currentSpanParent();
    if (parent === undefined) return fn(this);
    let span: ReturnType<Tracing['startSpan']> | undefined;
    const lazy = (): SpanParent => {
      span ??= tracing.startSpan(name, { parent, attributes });
      const { traceId, spanId } = span.spanContext();
      return { traceId, spanId };
    };
    const view = new RunExecution(this.run, this.store, this.signal, this.opts, this.state, lazy);
    try {
      return await fn(view);
    } catch (err) {
      const e = toSkillplaneError(err);
      if (span === undefined) throw err;
      if (e.code === 'waiting_approval') span.setAttribute('skillplane.suspended', true);
      else recordSpanError(span, this.signal.aborted ? 'cancelled' : e.code, e.message);
      throw err;
    } finally {
      span?.end();
    }
  }

  private currentSpanParent(): SpanParent | undefined {
    return this.spanParent?.() ?? parseTraceparent(this.run.traceparent);
  }

  /** The span of one attempt of a step, with the journal's span id (only when tracing). */
  private startStepSpan(spec: StepSpec, spanId: string) {
    const tracing = this.opts.tracing;
    if (tracing?.enabled !== true) return undefined;
    const parent = this.currentSpanParent();
    if (parent === undefined) return undefined;
    return startStepSpan(tracing, parent, this.run.id, spec, spanId);
  }

  /** The run's logger (`run_id`, `trace_id` bound), if any. */
  get logger(): Logger | undefined {
    return this.opts.logger;
  }

  /** Usage so far (live, shared by every branch). */
  get usage(): RunUsage {
    return this.state.usage;
  }

  /** Records a warning; the run's result carries every warning of its execution. */
  warn(warning: RunWarning): void {
    if (!this.state.warnings.some((w) => w.code === warning.code && w.step_key === warning.step_key))
      this.state.warnings.push(warning);
  }

  /** The warnings recorded so far. */
  get warnings(): readonly RunWarning[] {
    return this.state.warnings;
  }

  /** Steps replayed from the store in this execution (for tests and metrics). */
  get replayed(): number {
    return this.state.replayed;
  }

  /** Throws `budget_exhausted` if dispatching a step of this shape would pass a limit. */
  checkBudget(spec: Pick<StepSpec, 'kind' | 'name' | 'estimatedTokens' | 'estimatedCostUsd'>): void {
    checkRunBudget(this.run, this.state, spec);
  }

  /** Serialises this run's writes so usage snapshots reach the store in order. */
  private write<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.state.writes.then(fn, fn);
    this.state.writes = next.catch(() => undefined);
    return next;
  }

  /** Looks a step up by key: a completed one is replayed, nothing else is. */
  async replay<T>(
    key: string,
  ): Promise<{ hit: true; output: T; step: Step } | { hit: false; previous?: Step }> {
    const previous = await this.store.getStepByKey(this.run.id, key);
    if (previous === undefined) return { hit: false };
    if (previous.status === 'completed') {
      this.state.replayed++;
      this.opts.onStep?.(previous, 'replayed');
      return { hit: true, output: previous.output as T, step: previous };
    }
    return { hit: false, previous };
  }

  /**
   * Runs one step through the journal: replay if completed; budget check; durable begin; the
   * function (retried with backoff when the error is retryable and `maxRetries` allows); durable
   * finish with usage and checkpoint. A step that was in flight when the previous execution
   * stopped is run again, unless it is `notRepeatable`: then it fails as `interrupted`.
   *
   * `fn` gets the journaled attempt number (1-based; it counts retries and re-runs after a crash)
   * and the step's seq (stable across both), from which skills get `ctx.attempt` and
   * `ctx.idempotencyKey`.
   */
  async step<T>(
    spec: StepSpec,
    fn: (signal: AbortSignal, attempt: number, spanId: string, seq: number) => Promise<StepOutcome<T>>,
  ): Promise<T> {
    const found = this.opts.firstExecution ? undefined : await this.replay<T>(spec.key);
    if (found?.hit === true) return found.output;
    // In flight when the previous execution stopped (crash: still `running`; shutdown or lost
    // lease: `cancelled`): it may have had its effect already.
    const prev = found?.previous;
    if (
      prev !== undefined &&
      spec.notRepeatable !== undefined &&
      (prev.status === 'running' || prev.status === 'cancelled')
    ) {
      throw await this.interrupt(prev, spec, spec.notRepeatable);
    }
    // A not-repeatable call that failed was never retried; a resumed run replays the failure
    // (which the model may already have seen) instead of calling the skill again. A failure that
    // was the node's, not the skill's (the store went away mid-step), says nothing of the effect:
    // interrupted, as if in flight.
    if (prev !== undefined && spec.notRepeatable !== undefined && prev.status === 'failed') {
      const e = prev.error ?? { code: 'skill_failed', message: `step ${prev.key} failed` };
      const failure = new SkillplaneError(e.code, e.message, e.data === undefined ? {} : { data: e.data });
      if (isStoreOutage(failure) || NODE_FAILURES.has(e.code))
        throw await this.interrupt(prev, spec, spec.notRepeatable);
      this.state.replayed++;
      this.opts.onStep?.(prev, 'replayed');
      throw failure;
    }
    const maxRetries = spec.notRepeatable === undefined ? spec.maxRetries : 0;
    let attempt = 0;
    for (;;) {
      this.signal.throwIfAborted();
      this.checkBudget(spec);
      const spanId = newSpanId();
      const span = this.startStepSpan(spec, spanId);
      const usage = this.state.usage;
      usage.steps++;
      const reservedTokens = spec.estimatedTokens ?? 0;
      const reservedCost = spec.estimatedCostUsd ?? 0;
      this.state.reservedTokens += reservedTokens;
      this.state.reservedCost += reservedCost;
      const unreserve = () => {
        this.state.reservedTokens -= reservedTokens;
        this.state.reservedCost -= reservedCost;
      };
      const begun = await this.write(() =>
        this.store.beginStep(
          {
            run_id: this.run.id,
            key: spec.key,
            kind: spec.kind,
            name: spec.name,
            input: spec.input,
            branch: spec.branch,
            agent: spec.agent ?? null,
            parent_seq: spec.parentSeq ?? null,
            span_id: spanId,
          },
          { type: 'step.started', data: this.ref(spec) },
          this.fence(),
        ),
      );
      if (begun.status === 'completed') {
        span?.setAttribute('skillplane.step.replayed', true);
        span?.end();
        usage.steps--;
        unreserve();
        return begun.output as T;
      }
      this.opts.onStep?.(begun, 'started');
      try {
        let outcome: StepOutcome<T>;
        try {
          outcome = await fn(this.signal, begun.attempt, spanId, begun.seq);
        } finally {
          unreserve();
        }
        if (outcome.usage !== undefined) {
          usage.input_tokens += outcome.usage.input_tokens;
          usage.output_tokens += outcome.usage.output_tokens;
          usage.cost_usd += outcome.usage.cost_usd;
        }
        this.state.checkpoint = Math.max(this.state.checkpoint, begun.seq);
        const snapshot = { ...usage };
        const checkpoint = this.state.checkpoint;
        const finished = await this.write(() =>
          this.store.finishStep(
            this.run.id,
            begun.seq,
            { status: 'completed', output: outcome.output },
            { usage: snapshot, checkpoint },
            {
              type: 'step.completed',
              data: { ...this.ref(spec), seq: begun.seq, usage: snapshot },
            },
            this.fence(),
          ),
        );
        this.opts.onStep?.(finished, 'finished');
        if (span !== undefined) endStepSpan(span, begun, outcome);
        return outcome.output;
      } catch (raw) {
        const err = this.signal.aborted
          ? toSkillplaneError(this.signal.reason, 'cancelled')
          : toSkillplaneError(raw);
        const cancelled = this.signal.aborted;
        const snapshot = { ...usage };
        const failed = await this.write(() =>
          this.store.finishStep(
            this.run.id,
            begun.seq,
            { status: cancelled ? 'cancelled' : 'failed', error: storedError(err) },
            { usage: snapshot },
            {
              type: cancelled ? 'step.cancelled' : 'step.failed',
              data: { ...this.ref(spec), seq: begun.seq, error: storedError(err), attempt: begun.attempt },
            },
            this.fence(),
          ),
        ).catch(() => undefined);
        if (failed !== undefined) this.opts.onStep?.(failed, 'finished');
        if (span !== undefined) failStepSpan(span, begun.attempt, err);
        const final = cancelled || attempt >= maxRetries || !isRetryable(err);
        const line = {
          span_id: spanId,
          step_key: spec.key,
          kind: spec.kind,
          name: spec.name,
          attempt: begun.attempt,
          error_code: err.code,
          ...(final ? {} : { retrying: true }),
        };
        if (cancelled) this.opts.logger?.info(line, 'step cancelled');
        else this.opts.logger?.warn({ ...line, error: err.message }, 'step failed');
        if (final) throw err;
        attempt++;
        const delay = backoffDelayMs(attempt - 1, { baseMs: this.opts.retryBaseMs });
        await (this.opts.sleep ?? abortableSleep)(delay, this.signal);
      }
    }
  }

  /**
   * Step writes are fenced on the run's owner: once another node has claimed the run (this node
   * lost its lease without noticing in time, e.g. a long pause), its writes are refused with
   * `not_owner` instead of overwriting the new owner's journal.
   */
  private fence(): { owner: string } | undefined {
    return this.run.owner === null ? undefined : { owner: this.run.owner };
  }

  /** Records a not-repeatable step found in flight as failed (`interrupted`), and returns the error. */
  private async interrupt(
    prev: Step,
    spec: StepSpec,
    reason: 'risk_tagged' | 'not_idempotent',
  ): Promise<InterruptedStepError> {
    const err = new InterruptedStepError(prev, reason);
    if (prev.status !== 'running') return err;
    const failed = await this.write(() =>
      this.store.finishStep(
        this.run.id,
        prev.seq,
        { status: 'failed', error: storedError(err) },
        undefined,
        {
          type: 'step.failed',
          data: { ...this.ref(spec), seq: prev.seq, error: storedError(err), attempt: prev.attempt },
        },
        this.fence(),
      ),
    ).catch(() => undefined);
    if (failed !== undefined) this.opts.onStep?.(failed, 'finished');
    return err;
  }

  /**
   * Records progress of a step in flight on the worker plane (`step.progress`), in order with the
   * step's other writes; a failed write is dropped (progress is informative, the step goes on).
   */
  progress(
    spec: StepSpec,
    seq: number,
    p: { stage: string; worker?: string; attempt?: number; code?: string; message?: string },
  ): void {
    void this.write(() =>
      this.store.appendEvent(this.run.id, { type: 'step.progress', data: { ...this.ref(spec), seq, ...p } }),
    ).then(
      () => this.opts.onEvent?.(),
      () => undefined,
    );
  }

  /** How a step is named in its events. */
  private ref(spec: StepSpec): StepRef {
    return {
      key: spec.key,
      kind: spec.kind,
      name: spec.name,
      branch: spec.branch,
      ...(spec.agent === undefined ? {} : { agent: spec.agent }),
    };
  }

  /** Waits for every pending store write of this run. */
  async flush(): Promise<void> {
    await this.state.writes;
  }
}
