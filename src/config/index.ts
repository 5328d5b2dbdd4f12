/** Configuration: one zod schema, loaded from `skillplane.yaml` and `SKILLPLANE_*` env. */
export { configSchema, modelBackendSchema } from './schema.js';
export type { Config, ConfigInput, ModelBackendConfig } from './schema.js';
export { loadConfig, resolveConfigPath, envOverrides, deepMerge, zodIssues } from './load.js';
export type { LoadedConfig, LoadConfigOptions } from './load.js';
