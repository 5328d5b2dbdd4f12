/**
 * Skills: versioned, validated, permission-gated packages (`tool`, `prompt`, `workflow`), loaded
 * from folders (`skill.yaml` or `SKILL.md`), held in a registry, executed through one runner.
 */
export {
  strictManifestSchema,
  lenientManifestSchema,
  agentSkillFrontMatterSchema,
  parseSkillRef,
  isSkillId,
  toolNameFor,
  skillIdFromToolName,
  SKILL_KINDS,
} from './manifest.js';
export type {
  SkillManifest,
  SkillKind,
  WorkflowStep,
  JsonSchema,
  AgentSkillFrontMatter,
} from './manifest.js';
export type {
  Skill,
  SkillSource,
  ApprovalGrant,
  SkillCallContext,
  SkillCallProgress,
  SkillExecutor,
} from './types.js';
export { loadSkillsFromDirectories } from './loader.js';
export type { SkillLoadError, LoadSkillsOptions, LoadSkillsResult } from './loader.js';
export { SkillRegistry } from './registry.js';
export type { SkillsChangedEvent, SkillListFilter, RiskTagsKeptEvent, ReplaceOptions } from './registry.js';
export { SkillPolicy, policyConfigFrom } from './policy.js';
export type { PolicyConfig, EffectivePermissions } from './policy.js';
export { SkillInvoker, DEFAULT_SKILL_IO_LIMITS } from './invoke.js';
export type {
  SkillInvokerOptions,
  SkillInvocation,
  SkillDoor,
  SkillCallResult,
  SkillLookup,
  SkillGate,
  SkillIoLimits,
  SkillAuditEntry,
  AuditSink,
} from './invoke.js';
export { skillPatternMatches } from './pattern.js';
export { LocalDispatcher } from './dispatch.js';
export type { Dispatcher, LocalExecutors } from './dispatch.js';
export { SkillWatcher } from './watcher.js';
export type { SkillReloadResult, SkillWatcherOptions } from './watcher.js';
export { ToolExecutor } from './executors/tool.js';
export { detectConfinement, buildLaunch, DEFAULT_SANDBOX_LIMITS } from './executors/confinement.js';
export type { Confinement, SandboxMode, SandboxLimits, LaunchSpec, Launch } from './executors/confinement.js';
export type { ToolExecutorOptions, ToolProcessEvent } from './executors/tool.js';
export { ShellExecutor } from './executors/shell.js';
export type { ShellExecutorOptions } from './executors/shell.js';
export { PromptExecutor } from './executors/prompt.js';
export type { PromptSkillOutput } from './executors/prompt.js';
export { WorkflowExecutor } from './executors/workflow.js';
export { assertMatchesSchema, compileSchema } from './validation.js';
export { renderTemplate } from './template.js';
/** Wires the skills subsystem from config; `describeLoadError` formats one load error as `file:line (field): reason`. */
export { createSkillService, describeLoadError } from './service.js';
export type { SkillService } from './service.js';
