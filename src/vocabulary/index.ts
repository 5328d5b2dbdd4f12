/**
 * The one vocabulary of skillplane, below every layer: run, step and approval statuses, priorities,
 * step kinds, event types with their payloads, the run state machine as a table of named moves,
 * and the clock. Every folder imports these from here; none declares its own copy.
 */
export {
  RUN_STATUSES,
  TERMINAL_STATUSES,
  isTerminal,
  PRIORITIES,
  STEP_KINDS,
  STEP_STATUSES,
  APPROVAL_STATUSES,
  APPROVAL_KINDS,
  RUN_APPROVAL_STEP_KEY,
  approvalKind,
} from './states.js';
export type { RunStatus, Priority, StepKind, StepStatus, ApprovalStatus, ApprovalKind } from './states.js';
export { randomHex } from './random.js';
export { RUN_EVENT_TYPES, TERMINAL_EVENT_TYPES, isTerminalEvent } from './events.js';
export type { RunEventMap, RunEventType, RunEventInput, UsageData, EventError, StepRef } from './events.js';
export { RUN_MOVES, RUN_MOVE_NAMES, moveAllowed } from './transitions.js';
export type { RunMove, RunMoveName } from './transitions.js';
export { systemClock, isoNow, isoIn } from './clock.js';
export type { Clock } from './clock.js';
