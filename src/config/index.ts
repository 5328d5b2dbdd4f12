/** Configuration: one zod schema, loaded from `skillplane.yaml` and `SKILLPLANE_*` env. */
export { configSchema, modelBackendSchema, agentDefinitionSchema, SCOPES } from './schema.js';
export type { Scope, Config, ConfigInput, ModelBackendConfig, AgentDefinition } from './schema.js';
export { loadConfig, resolveConfigPath, envOverrides, deepMerge, zodIssues } from './load.js';
export type { LoadedConfig, LoadConfigOptions } from './load.js';
