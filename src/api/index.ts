/**
 * The HTTP API: a Fastify server over an {@link App} (runs, events over SSE, approvals, skills,
 * health and metrics), API-key auth with scopes, problem+json errors and an OpenAPI document.
 */
export { buildServer, startServer } from './server.js';
export type { ServerOptions, StartedServer, SkillplaneServerState } from './server.js';
export { authorize, hasScope, isLoopbackHost, resolveAuthSettings, RateLimiter, ALL_SCOPES } from './auth.js';
export type { Scope, Principal, AuthSettings } from './auth.js';
export { statusForCode, toProblem, sendProblem } from './errors.js';
export type { Problem } from './errors.js';
export type { ApiContext } from './context.js';
