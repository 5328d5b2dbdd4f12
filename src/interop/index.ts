/**
 * The edge's translations, shared by the HTTP API and MCP: Opta-LMX's request shapes mapped onto
 * ours and its answers shaped the way its clients read them, and the one presenter of runs,
 * steps, approvals and skills.
 */
export {
  presentApproval,
  presentRun,
  presentSkill,
  presentStep,
  runSummary,
  toRunRequest,
} from './present.js';
export type { PresentedApproval, PresentedRun, PresentedSkill, PresentedStep } from './present.js';
export { fromOpta, optaMarker, optaRequest, optaResult, parsePriority, roleOf } from './opta.js';
export type { OptaMarker } from './opta.js';
export {
  OPTA_STRATEGIES,
  optaLegacyRunBodySchema,
  optaPrioritySchema,
  optaRunBodySchema,
} from './opta-schemas.js';
export type { OptaFields, OptaLegacyRunBody, OptaRunBody } from './opta-schemas.js';
