import { loadConfig, type LoadedConfig } from '../config/index.js';

/** Options every command accepts. */
export interface GlobalOptions {
  config?: string;
}

/** Loads the configuration for a command; `overrides` carries flags such as `--port`. */
export function loadCliConfig(globals: GlobalOptions, overrides?: Record<string, unknown>): LoadedConfig {
  return loadConfig({
    ...(globals.config === undefined ? {} : { file: globals.config }),
    ...(overrides === undefined ? {} : { overrides }),
  });
}
