// The shapes a run's execution works with: a step's spec and outcome, the execution's options
// and the state its branch views share, and the warnings a run's result carries.
import type { Logger } from 'pino';
import type { RunUsage, Step, StepKind } from '../store/index.js';
import type { Attributes, SpanKind, Tracing } from '../tracing/index.js';

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
export interface ExecutionState {
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
