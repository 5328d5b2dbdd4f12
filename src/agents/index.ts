/**
 * Agents: the bounded scheduler, the durable run runtime with its lifecycle (the one owner of run
 * status changes) and approval desk, and the orchestration strategies (`single`, `router`,
 * `handoff`, `parallel_map`, `sequence`).
 */
export { Runtime } from './runtime.js';
export type { RuntimeOptions, CallerContext, RunNotification, RuntimeAuditEntry } from './runtime.js';
export { RunLifecycle } from './lifecycle.js';
export type { MoveArgs, RunNotify } from './lifecycle.js';
export { ApprovalDesk } from './approvals.js';
export type { ApprovalRequest } from './approvals.js';
export { RunNotifier } from './notifier.js';
export type { RunLifecycleChange, RunStepChange } from './notifier.js';
export { Scheduler } from './scheduler.js';
export type { SchedulerStats } from './scheduler.js';
export { Semaphore, mapWithConcurrency } from './semaphore.js';
export { linkedAbortController, abortableSleep } from './abort.js';
export { AgentCatalog, buildAgentCatalog, loadAgentFiles, skillPatternMatches } from './definitions.js';
export { runRequestSchema, requestFingerprint, PRIORITIES, STRATEGIES } from './request.js';
export type { RunRequest, RunRequestInput, Priority, StrategyName } from './request.js';
export type { RunEnvironment, ChatBackend, SkillPort } from './environment.js';
export { RunExecution } from './execution.js';
export { InterruptedStepError } from './step-failures.js';
export { SuspendForApproval, ApprovalDeniedError } from './skill-call.js';
export { isRetryable, backoffDelayMs } from './retry.js';
