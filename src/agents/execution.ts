import type { Logger } from 'pino';
import { BudgetExhaustedError, SkillplaneError, toSkillplaneError } from '../errors/index.js';
import type { RunStore, Run, RunUsage, Step, StepKind, StoredError } from '../store/index.js';
import {
  newSpanId,
  parseTraceparent,
  recordSpanError,
  SpanKind,
  type Attributes,
  type SpanParent,
  type Tracing,
} from '../tracing/index.js';
import type { StepRef } from '../vocabulary/index.js';
import { abortableSleep } from './abort.js';
import { isStoreOutage } from './recovery.js';
import { backoffDelayMs, isRetryable } from './retry.js';

/** What a step function reports besides its output. */
export interface StepOutcome<T> {
  output: T;
  /** Tokens and cost this step spent (model steps). */
  usage?: { input_tokens: number; output_tokens: number; cost_usd: number };
  /** Attributes for the step's span (a model's finish reasons, a tool-level error's type). */
  attributes?: Attributes;
}

/** How one step is identified, dispatched and retried. */
export interface StepSpec {
  /** Deterministic key: the same step on a resumed run has the same key. */
  key: string;
  kind: StepKind;
  name: string;
  input: unknown;
  branch: string;
  /** The agent the step runs for (model and skill steps of an agent loop). */
  agent?: string;
  parentSeq?: number | null;
  /** Attempts after the first a failed attempt may get (ignored when `notRepeatable`). */
  maxRetries: number;
  /**
   * Set for a skill whose repeated call is not harmless (risk-tagged, or `idempotent: false`): it
   * is never retried automatically, and if it was in flight when the previous execution stopped
   * it is not run again: the step fails and the run settles as `interrupted` (at most once).
   * Every other step in flight at a crash is run again (at least once).
   */
  notRepeatable?: 'risk_tagged' | 'not_idempotent';
  /** Tokens the step is expected to use, checked against the budget before dispatch. */
  estimatedTokens?: number;
  /** Cost the step is expected to incur, checked against the budget before dispatch. */
  estimatedCostUsd?: number;
  /** The step's span: its name (default `{kind} {name}`) and attributes (GenAI conventions). */
  span?: { name: string; kind?: SpanKind; attributes?: Attributes };
}

/** Failure codes that come from the node running a step, not from the step itself. */
const NODE_FAILURES = new Set(['lease_lost', 'not_owner', 'shutting_down', 'cancelled', 'interrupted']);

/** Why a step in flight at a crash is not run again. */
const NOT_REPEATABLE_WHY = {
  risk_tagged: 'it is risk-tagged',
  not_idempotent: 'its skill is not idempotent (idempotent: false)',
} as const;

/**
 * Thrown (and settling the run as failed with code `interrupted`) when a step was in flight when
 * the previous execution stopped and is not safe to run again.
 */
export class InterruptedStepError extends SkillplaneError {
  constructor(step: Step, reason: 'risk_tagged' | 'not_idempotent') {
    super(
      'interrupted',
      `step ${step.key} (${step.name}) was in flight when the run was interrupted and is not run again: ${NOT_REPEATABLE_WHY[reason]}; its effect may or may not have happened`,
      { data: { step_key: step.key, seq: step.seq, skill: step.name, reason, attempt: step.attempt } },
    );
  }
}

function storedError(err: SkillplaneError): StoredError {
  return { code: err.code, message: err.message, ...(err.data === undefined ? {} : { data: err.data }) };
}

/** Options of a run's execution. */
export interface ExecutionOptions {
  retryBaseMs: number;
  /**
   * The run's first execution: it has no journal yet, so the replay lookup before each step is
   * skipped (beginStep still returns a completed step unchanged if one ever exists).
   */
  firstExecution?: boolean;
  onStep?: (step: Step, phase: 'started' | 'finished' | 'replayed') => void;
  /** Called after an event that is not a step's start or end was written (`step.progress`). */
  onEvent?: () => void;
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** The run's logger (bound to `run_id` and `trace_id`); step lines add `span_id`. */
  logger?: Logger;
  /** Spans for steps and agent loops (each step's span has the step's journaled `span_id`). */
  tracing?: Tracing;
}

/** Mutable state shared by an execution and its branch views. */
interface ExecutionState {
  usage: RunUsage;
  checkpoint: number;
  writes: Promise<unknown>;
  replayed: number;
  /** Estimates of steps in flight, so concurrent branches cannot overspend together. */
  reservedTokens: number;
  reservedCost: number;
  /** Warnings recorded by the steps of this execution (a truncated answer, …). */
  warnings: RunWarning[];
}

/** Something a run's result should carry besides its answer: a truncated model answer, … */
export interface RunWarning {
  code: string;
  message: string;
  step_key?: string;
  agent?: string;
}

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
    return tracing.startSpan(spec.span?.name ?? `${spec.kind} ${spec.name}`, {
      parent,
      spanId,
      kind: spec.span?.kind ?? SpanKind.INTERNAL,
      attributes: {
        ...spec.span?.attributes,
        'skillplane.run.id': this.run.id,
        'skillplane.step.key': spec.key,
        'skillplane.step.kind': spec.kind,
        'skillplane.step.branch': spec.branch,
      },
    });
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
    const { limits } = this.run;
    const usage = { ...this.state.usage };
    if (usage.steps + 1 > limits.max_steps) {
      throw new BudgetExhaustedError(`run reached max_steps (${limits.max_steps})`, {
        limit: 'max_steps',
        usage,
      });
    }
    const tokens = usage.input_tokens + usage.output_tokens + this.state.reservedTokens;
    if (limits.token_budget !== null && tokens + (spec.estimatedTokens ?? 0) > limits.token_budget) {
      throw new BudgetExhaustedError(
        `run would exceed its token budget (${tokens} used + ~${spec.estimatedTokens ?? 0} for ${spec.name} > ${limits.token_budget})`,
        { limit: 'token_budget', usage },
      );
    }
    if (
      limits.cost_budget_usd !== null &&
      usage.cost_usd + this.state.reservedCost + (spec.estimatedCostUsd ?? 0) > limits.cost_budget_usd
    ) {
      throw new BudgetExhaustedError(
        `run would exceed its cost budget ($${usage.cost_usd.toFixed(6)} spent, limit $${limits.cost_budget_usd})`,
        { limit: 'cost_budget_usd', usage },
      );
    }
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
        if (span !== undefined) {
          span.setAttribute('skillplane.step.seq', begun.seq);
          span.setAttribute('skillplane.step.attempt', begun.attempt);
          if (outcome.usage !== undefined)
            span.setAttributes({
              'gen_ai.usage.input_tokens': outcome.usage.input_tokens,
              'gen_ai.usage.output_tokens': outcome.usage.output_tokens,
            });
          if (outcome.attributes !== undefined) span.setAttributes(outcome.attributes);
          span.end();
        }
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
        if (span !== undefined) {
          span.setAttribute('skillplane.step.attempt', begun.attempt);
          recordSpanError(span, err.code, err.message);
          span.end();
        }
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
