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
export { fromOpta, optaMarker, optaRequest, parsePriority, roleOf } from './opta.js';
export type { OptaInbound, OptaMarker } from './opta.js';
export {
  NO_COMPAT,
  errorText,
  optaErrorMember,
  optaFrames,
  optaShaped,
  optaSnapshot,
} from './opta-answers.js';
export type { OptaShaping } from './opta-answers.js';
export {
  OPTA_STRATEGIES,
  optaLegacyRunBodySchema,
  optaPrioritySchema,
  optaRunBodySchema,
} from './opta-schemas.js';
export type { OptaFields, OptaLegacyRunBody, OptaRunBody } from './opta-schemas.js';
