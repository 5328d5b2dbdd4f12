import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type Issue } from '../errors/index.js';
import { configSchema, type Config } from './schema.js';

/** Where a configuration came from, for messages and for resolving relative paths. */
export interface LoadedConfig {
  config: Config;
  /** The file read, or `null` when defaults and env alone were used. */
  file: string | null;
  /** The folder relative paths in the config are resolved against. */
  baseDir: string;
}

export interface LoadConfigOptions {
  /** An explicit file (`--config`); it must exist. */
  file?: string;
  /** Folder searched for `skillplane.yaml` when no file is given. Defaults to the working folder. */
  cwd?: string;
  /** Environment to read `SKILLPLANE_*` overrides from. Defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Values applied last (CLI flags such as `--port`). */
  overrides?: Record<string, unknown>;
}

/** Formats zod issues as our `Issue` list. */
export function zodIssues(error: z.ZodError, file?: string): Issue[] {
  return error.issues.map((i) => ({
    ...(file === undefined ? {} : { file }),
    path: i.path.map(String).join('.'),
    message: i.message,
  }));
}

/**
 * Parses an env value as YAML so `SKILLPLANE_SERVER__PORT=9000` is a number and
 * `SKILLPLANE_SKILLS__DIRECTORIES=[a, b]` a list; plain strings stay strings.
 */
function parseEnvValue(raw: string): unknown {
  try {
    const doc = parseDocument(raw);
    if (doc.errors.length > 0) return raw;
    const value: unknown = doc.toJS();
    return value === null && raw.trim() !== 'null' && raw.trim() !== '~' ? raw : value;
  } catch {
    return raw;
  }
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path[path.length - 1]!] = value;
}

/** `SKILLPLANE_<SECTION>__<KEY>[__<KEY>…]` → nested keys, lower-cased. */
export function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('SKILLPLANE_') || raw === undefined) continue;
    const parts = name
      .slice('SKILLPLANE_'.length)
      .split('__')
      .map((p) => p.toLowerCase());
    if (parts.length < 2 || parts.some((p) => p === '')) continue;
    setPath(out, parts, parseEnvValue(raw));
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge where `b` wins; arrays are replaced, not concatenated. */
export function deepMerge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] = isPlainObject(prev) && isPlainObject(v) ? deepMerge(prev, v) : v;
  }
  return out;
}

function readYamlFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${file}`, [
      { file, path: '', message: (err as Error).message },
    ]);
  }
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      `config file ${file} is not valid YAML`,
      doc.errors.map((e) => ({ file, path: '', message: e.message })),
    );
  }
  const value: unknown = doc.toJS() ?? {};
  if (!isPlainObject(value)) {
    throw new ConfigError(`config file ${file} must hold a mapping`, [
      { file, path: '', message: 'expected a mapping at the top level' },
    ]);
  }
  return value;
}

/**
 * Loads the configuration: defaults ← `skillplane.yaml` (or `options.file`) ← `SKILLPLANE_*` env ←
 * `options.overrides`. Throws a `ConfigError` listing every problem; never returns a partial config.
 */
export function loadConfig(options: LoadConfigOptions = {}): LoadedConfig {
  const cwd = options.cwd ?? process.cwd();
  let file: string | null = null;
  if (options.file !== undefined) {
    file = isAbsolute(options.file) ? options.file : resolve(cwd, options.file);
    if (!existsSync(file)) {
      throw new ConfigError(`config file not found: ${file}`, [
        { file, path: '', message: 'file does not exist' },
      ]);
    }
  } else {
    const candidate = resolve(cwd, 'skillplane.yaml');
    if (existsSync(candidate)) file = candidate;
  }
  let raw: Record<string, unknown> = file === null ? {} : readYamlFile(file);
  raw = deepMerge(raw, envOverrides(options.env ?? process.env));
  if (options.overrides !== undefined) raw = deepMerge(raw, options.overrides);
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    throw new ConfigError(
      `invalid configuration${file === null ? '' : ` in ${file}`}`,
      zodIssues(parsed.error, file ?? 'environment'),
    );
  }
  return { config: parsed.data, file, baseDir: file === null ? cwd : dirname(file) };
}

/** Resolves a path from the config against the config's folder. */
export function resolveConfigPath(loaded: LoadedConfig, p: string): string {
  return isAbsolute(p) ? p : resolve(loaded.baseDir, p);
}
