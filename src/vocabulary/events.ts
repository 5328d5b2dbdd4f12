import type { ApprovalKind, ApprovalStatus, Priority, StepKind } from './states.js';

/** Tokens, cost and steps a run has used. */
export interface UsageData {
  steps: number;
  input_tokens: number;
  output_tokens: number;
  cost_usd: number;
}

/** The `error` member of an event: a stable code and a message. */
export interface EventError {
  code: string;
  message: string;
}

/** A step as named in its events. */
export interface StepRef {
  key: string;
  kind: StepKind;
  name: string;
  branch: string;
  /** The agent the step ran for, when it belongs to one. */
  agent?: string | null;
}

/** Every event type of a run and the shape of its `data`. */
export interface RunEventMap {
  'run.created': { agent: string | null; strategy: string; priority: Priority };
  'run.started': { node: string };
  'run.resumed': { node: string };
  'run.queued': { after: 'approval' };
  'run.waiting_approval': { approval_id: string };
  'run.completed': { usage?: UsageData };
  'run.failed': { error?: EventError; usage?: UsageData };
  'run.cancelled': { error?: EventError; usage?: UsageData };
  'step.started': StepRef;
  'step.completed': StepRef & { seq: number; usage: UsageData };
  'step.failed': StepRef & {
    seq: number;
    error: EventError & { data?: Record<string, unknown> };
    attempt: number;
  };
  'step.cancelled': StepRef & {
    seq: number;
    error: EventError & { data?: Record<string, unknown> };
    attempt: number;
  };
  /**
   * A step running on the worker plane moved on: `started` (a worker took it), `waiting_for_broker`
   * (code `worker_unavailable`: the broker is down; the step waits for it within its deadline).
   */
  'step.progress': StepRef & {
    seq: number;
    stage: string;
    worker?: string;
    attempt?: number;
    code?: string;
    message?: string;
  };
  'approval.requested': {
    approval_id: string;
    step_key: string;
    skill_id: string;
    risk_tags: string[];
    /** `run` for a run-level approval (absent: a skill call's). */
    kind?: ApprovalKind;
  };
  'approval.decided': { approval_id: string; status: ApprovalStatus; decided_by: string | null };
}

/** A run event type. */
export type RunEventType = keyof RunEventMap;

/** Every event type, for validation and documentation. */
export const RUN_EVENT_TYPES: readonly RunEventType[] = [
  'run.created',
  'run.started',
  'run.resumed',
  'run.queued',
  'run.waiting_approval',
  'run.completed',
  'run.failed',
  'run.cancelled',
  'step.started',
  'step.completed',
  'step.failed',
  'step.cancelled',
  'step.progress',
  'approval.requested',
  'approval.decided',
];

/** An event to append: its type and the data that type carries. */
export type RunEventInput<T extends RunEventType = RunEventType> = {
  [K in T]: { type: K; data: RunEventMap[K] };
}[T];

/** The events after which a run's stream ends (its terminal transitions). */
export const TERMINAL_EVENT_TYPES: readonly RunEventType[] = ['run.completed', 'run.failed', 'run.cancelled'];

/** True for an event that ends a run's stream. */
export function isTerminalEvent(type: string): boolean {
  return (TERMINAL_EVENT_TYPES as readonly string[]).includes(type);
}
