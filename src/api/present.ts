import type { z } from 'zod';
import {
  presentApproval as shapeApproval,
  presentRun as shapeRun,
  presentSkill as shapeSkill,
} from '../interop/index.js';
import type { OptaShaping } from '../interop/index.js';
import type { Skill } from '../skills/index.js';
import type { Approval, Run, Step } from '../store/index.js';
import type { approvalSchema, runSchema, skillSummarySchema } from './schemas.js';

/*
 * The interop presenters (the one shaping of runs, approvals and skills, shared with MCP), typed
 * as the API's response schemas for the OpenAPI document.
 */

/** A run as the API returns it. */
export type RunBody = z.infer<typeof runSchema>;
/** A skill as the catalogue lists it. */
export type SkillSummaryBody = z.infer<typeof skillSummarySchema>;
/** An approval as the API returns it. */
export type ApprovalBody = z.infer<typeof approvalSchema>;

/** A run (with its steps when given) as a response body, in Opta's shapes where it asks for them. */
export function presentRun(run: Run, steps?: Step[], shaping?: OptaShaping): RunBody {
  return shapeRun(run, steps, shaping) as unknown as RunBody;
}

/** An approval as a response body. */
export function presentApproval(approval: Approval): ApprovalBody {
  return shapeApproval(approval) as unknown as ApprovalBody;
}

/** A skill as a catalogue entry. */
export function presentSkill(
  skill: Skill,
  policy: { riskTags(skill: Skill): string[]; approvalTags(skill: Skill): string[] },
): SkillSummaryBody {
  return shapeSkill(skill, policy) as unknown as SkillSummaryBody;
}

export { toRunRequest } from '../interop/index.js';
