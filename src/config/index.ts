/** Configuration: one zod schema, loaded from `skillplane.yaml` and `SKILLPLANE_*` env. */
export { configSchema, modelBackendSchema, agentDefinitionSchema, SCOPES, QUEUE_NAME } from './schema.js';
export type { Scope, Config, ConfigInput, ModelBackendConfig, AgentDefinition } from './schema.js';
export {
  loadConfig,
  resolveConfigPath,
  envOverrides,
  envOverrideEntries,
  deepMerge,
  zodIssues,
} from './load.js';
export type { LoadedConfig, LoadConfigOptions, EnvOverride } from './load.js';
/** Settings accepted without effect yet (warned at start-up) and ones refused as `config_unsupported`. */
export { configWarnings } from './unsupported.js';
export type { ConfigWarning, SourceOf } from './unsupported.js';
