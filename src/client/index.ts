/**
 * A typed client of the skillplane HTTP API (`skillplane/client`): runs, their event streams with
 * automatic `Last-Event-ID` resume, approvals, agents, skills and the worker plane. It imports
 * server code only as types, so it loads nothing but `fetch`-based code at runtime.
 */
export { SkillplaneClient } from './client.js';
/** The client plus the dashboard's reads: whoami, model backends, load errors, several runs' events. */
export { DashboardClient } from './dashboard.js';
export type {
  ModelBackend,
  RunChange,
  SkillCatalogue,
  SkillLoadProblem,
  SkillSource,
  Whoami,
} from './dashboard.js';
export type { SkillplaneClientOptions } from './transport.js';
/** Errors: a non-2xx answer (with the problem's `code`) and an unreachable server. */
export { SkillplaneApiError, SkillplaneConnectionError, parseRetryAfter } from './errors.js';
/** The base error class, so `instanceof SkillplaneError` works across client and server code. */
export { SkillplaneError } from '../errors/index.js';
/** The SSE parser the event iterator uses, for other `text/event-stream` endpoints. */
export { parseSse } from './sse.js';
export type { SseMessage } from './sse.js';
/** Request and response shapes. */
export type {
  AgentSummary,
  ApiRun,
  ApiStep,
  Approval,
  ApprovalDecisionBody,
  ApprovalStatus,
  AuditEntry,
  AuditPage,
  BrokerState,
  CreateRunBody,
  CreateRunOptions,
  DeadLetter,
  DeadLetterRetry,
  DeadLettersQuery,
  EventsOptions,
  ExecuteSkillOptions,
  ExecuteSkillResult,
  HealthStatus,
  ListApprovalsQuery,
  ListAuditQuery,
  ListRunsQuery,
  ListSkillsQuery,
  Priority,
  QueueDepth,
  ReloadResult,
  Run,
  RunEvent,
  RunPage,
  RunStatus,
  SkillDetail,
  SkillSummary,
  Step,
  WaitForRunOptions,
  WorkerInfo,
  WorkersStatus,
} from './types.js';
