/**
 * Agents: the bounded scheduler, the durable run runtime and the orchestration strategies
 * (`single`, `router`, `handoff`, `parallel_map`).
 */
export { Runtime } from './runtime.js';
export type { RuntimeOptions, CallerContext, RunNotification } from './runtime.js';
export { Scheduler } from './scheduler.js';
export { Semaphore, mapWithConcurrency } from './semaphore.js';
export { linkedAbortController, abortableSleep } from './abort.js';
export { AgentCatalog, buildAgentCatalog, loadAgentFiles, skillPatternMatches } from './definitions.js';
export { runRequestSchema, requestFingerprint, PRIORITIES, STRATEGIES } from './request.js';
export type { RunRequest, RunRequestInput, Priority, StrategyName } from './request.js';
export type { RunEnvironment, ChatBackend, SkillPort } from './environment.js';
export { RunExecution, InterruptedStepError } from './execution.js';
export { SuspendForApproval, ApprovalDeniedError } from './agent-loop.js';
export { isRetryable, backoffDelayMs } from './retry.js';
