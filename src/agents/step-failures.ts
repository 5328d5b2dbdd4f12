// A step's failure as the journal keeps it, and the failures that belong to the node running a
// step rather than to the step: an interrupted step that is not safe to run again.
import { SkillplaneError } from '../errors/index.js';
import type { Step, StoredError } from '../store/index.js';

/** Failure codes that come from the node running a step, not from the step itself. */
export const NODE_FAILURES = new Set([
  'lease_lost',
  'not_owner',
  'shutting_down',
  'cancelled',
  'interrupted',
]);

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

/** The journal's shape of an error. */
export function storedError(err: SkillplaneError): StoredError {
  return { code: err.code, message: err.message, ...(err.data === undefined ? {} : { data: err.data }) };
}
