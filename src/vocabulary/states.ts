/** Lifecycle state of a run (see the transition table in `transitions.ts`). */
export const RUN_STATUSES = [
  'queued',
  'running',
  'waiting_approval',
  'completed',
  'failed',
  'cancelled',
] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];

/** Statuses a run never leaves. */
export const TERMINAL_STATUSES: readonly RunStatus[] = ['completed', 'failed', 'cancelled'];

/** True when `status` is terminal (`completed`, `failed` or `cancelled`). */
export function isTerminal(status: RunStatus): boolean {
  return status === 'completed' || status === 'failed' || status === 'cancelled';
}

/** Scheduling classes, most urgent first. */
export const PRIORITIES = ['interactive', 'normal', 'batch'] as const;
export type Priority = (typeof PRIORITIES)[number];

/** What a step does. */
export const STEP_KINDS = ['model', 'skill', 'route', 'handoff', 'map', 'reduce', 'approval'] as const;
export type StepKind = (typeof STEP_KINDS)[number];

/** Lifecycle state of a step. */
export const STEP_STATUSES = ['running', 'completed', 'failed', 'cancelled'] as const;
export type StepStatus = (typeof STEP_STATUSES)[number];

/** State of an approval request. */
export const APPROVAL_STATUSES = ['pending', 'approved', 'denied', 'expired'] as const;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];

/**
 * What an approval gates: one risk-tagged skill call of a running run (`skill`), or a whole run
 * before any of its work starts, asked for by its request (`run`).
 */
export const APPROVAL_KINDS = ['skill', 'run'] as const;
export type ApprovalKind = (typeof APPROVAL_KINDS)[number];

/** The step key of a run-level approval: no step has it (step keys name a branch and a turn). */
export const RUN_APPROVAL_STEP_KEY = 'run';

/** The kind of an approval, from its step key. */
export function approvalKind(approval: { step_key: string }): ApprovalKind {
  return approval.step_key === RUN_APPROVAL_STEP_KEY ? 'run' : 'skill';
}
