/**
 * skillplane's public API: build an application from configuration, serve it over HTTP, and the
 * types of runs and their records. The HTTP client is a separate entry point, `skillplane/client`.
 */

/** Configuration: load `skillplane.yaml` + `SKILLPLANE_*` env into a validated config. */
export { loadConfig, configSchema } from './config/index.js';
export type {
  Config,
  ConfigInput,
  LoadedConfig,
  LoadConfigOptions,
  AgentDefinition,
} from './config/index.js';

/** The composition root: config → store, skills, models, agents → runtime. */
export { createApp } from './app/index.js';
export type { App, CreateAppOptions } from './app/index.js';

/** The HTTP API over an app. */
export { buildServer, startServer } from './api/index.js';
export type { ServerOptions, StartedServer } from './api/index.js';

/** The run runtime and its request and notification types. */
export { Runtime } from './agents/index.js';
export type {
  CallerContext,
  Priority,
  RunNotification,
  RunRequest,
  RunRequestInput,
  RuntimeOptions,
  StrategyName,
} from './agents/index.js';

/** Stored records and the store contract. */
export { isTerminal, RUN_STATUSES, openRunStore, MemoryRunStore, SqliteRunStore } from './store/index.js';
export type { Approval, Run, RunEvent, RunStatus, RunStore, Step } from './store/index.js';

/** Errors, each with a stable `code`. */
export {
  SkillplaneError,
  ValidationError,
  NotFoundError,
  ConflictError,
  PermissionDeniedError,
  TimeoutError,
  RunQueueFullError,
} from './errors/index.js';

/** Test doubles: a scripted OpenAI-compatible model server. */
export { startScriptedModelServer, demoScript } from './testing/index.js';
export type { Script, ScriptedModelServer, ScriptedReply } from './testing/index.js';
