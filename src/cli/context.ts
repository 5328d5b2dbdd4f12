import { userInfo } from 'node:os';
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

/**
 * Who runs the CLI: `$USER`, else the OS account name. It names the caller of remote commands
 * (`x-user-id`, the principal only while the server has no API keys; with keys the key's principal
 * wins) and, as `cli:<user>`, the principal of in-process runs and their approvals.
 */
export function cliUser(): string {
  if (process.env.USER !== undefined && process.env.USER !== '') return process.env.USER;
  try {
    return userInfo().username;
  } catch {
    return 'user';
  }
}
