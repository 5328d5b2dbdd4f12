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
