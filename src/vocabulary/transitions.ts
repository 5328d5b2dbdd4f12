import type { RunEventType } from './events.js';
import type { RunStatus } from './states.js';

/** One named move of the run state machine. */
export interface RunMove {
  /** Statuses the run may be in for the move to apply. */
  from: readonly RunStatus[];
  to: RunStatus;
  /** The event written with the move, in the same transaction. */
  event: RunEventType;
}

/**
 * The run state machine as data. Every change of a run's status is one of these moves, applied by
 * the lifecycle module (the only caller of the store's `transitionRun`). Terminal statuses appear
 * in no `from`: a finished run never changes. A run is created `queued`, or `waiting_approval` when
 * its request asks for a run-level approval (the approval is stored with it; approving re-queues it,
 * so its first start is the `start` move).
 *
 * ```
 * queued ─start─▶ running ─complete─▶ completed
 *   │  ▲            │  ▲ resume (after a crash or a lost lease: running → running)
 *   │  └─requeue────┤  │
 *   │             suspend
 *   │               ▼
 *   │        waiting_approval ─requeue (approved)─▶ queued
 *   └───────────────┴──────── fail / cancel ─────▶ failed / cancelled
 * ```
 */
export const RUN_MOVES = {
  start: { from: ['queued'], to: 'running', event: 'run.started' },
  resume: { from: ['queued', 'running'], to: 'running', event: 'run.resumed' },
  suspend: { from: ['running', 'waiting_approval'], to: 'waiting_approval', event: 'run.waiting_approval' },
  requeue: { from: ['waiting_approval', 'running'], to: 'queued', event: 'run.queued' },
  complete: { from: ['running'], to: 'completed', event: 'run.completed' },
  fail: { from: ['queued', 'running', 'waiting_approval'], to: 'failed', event: 'run.failed' },
  cancel: { from: ['queued', 'running', 'waiting_approval'], to: 'cancelled', event: 'run.cancelled' },
} as const satisfies Record<string, RunMove>;

/** The name of a move. */
export type RunMoveName = keyof typeof RUN_MOVES;

/** Every move name. */
export const RUN_MOVE_NAMES = Object.keys(RUN_MOVES) as RunMoveName[];

/** Whether `move` applies to a run in `status`. */
export function moveAllowed(move: RunMoveName, status: RunStatus): boolean {
  return (RUN_MOVES[move].from as readonly RunStatus[]).includes(status);
}
