import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type Issue } from '../errors/index.js';
import { configSchema, type Config } from './schema.js';
import { blameIssues, type EnvOverride } from './sources.js';
import { configWarnings, type ConfigWarning } from './unsupported.js';

export type { EnvOverride } from './sources.js';

/** Where a configuration came from, for messages and for resolving relative paths. */
export interface LoadedConfig {
  config: Config;
  /** The file read, or `null` when defaults and env alone were used. */
  file: string | null;
  /** The folder relative paths in the config are resolved against. */
  baseDir: string;
  /** Settings accepted but without effect yet (`serve` logs each at warn); see `configWarnings`. */
  warnings?: ConfigWarning[];
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

/** The `SKILLPLANE_<SECTION>__<KEY>[__<KEY>…]` variables of `env`, each with the key it sets. */
export function envOverrideEntries(env: NodeJS.ProcessEnv): EnvOverride[] {
  const out: EnvOverride[] = [];
  for (const [name, raw] of Object.entries(env)) {
    if (!name.startsWith('SKILLPLANE_') || raw === undefined) continue;
    const parts = name
      .slice('SKILLPLANE_'.length)
      .split('__')
      .map((p) => p.toLowerCase());
    if (parts.length < 2 || parts.some((p) => p === '')) continue;
    out.push({ name, path: parts, raw });
  }
  return out;
}

/** `SKILLPLANE_<SECTION>__<KEY>[__<KEY>…]` → nested keys, lower-cased. */
export function envOverrides(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const e of envOverrideEntries(env)) setPath(out, e.path, parseEnvValue(e.raw));
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
  const envEntries = envOverrideEntries(options.env ?? process.env);
  let raw: Record<string, unknown> = file === null ? {} : readYamlFile(file);
  raw = deepMerge(raw, envOverrides(options.env ?? process.env));
  if (options.overrides !== undefined) raw = deepMerge(raw, options.overrides);
  let parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    // `SKILLPLANE_MODELS__DEFAULT__API_KEY=12345` reads as a number; where the schema wants a
    // string, the variable's text is what was meant.
    const retyped = asStringsWhereExpected(parsed.error, envEntries, raw, options.overrides);
    if (retyped !== undefined) parsed = configSchema.safeParse(retyped);
  }
  if (!parsed.success) {
    const overrides = options.overrides;
    const issues = blameIssues(parsed.error, envEntries, file ?? 'environment', (path) =>
      overrides === undefined ? false : hasPathPrefix(overrides, path),
    );
    throw new ConfigError(`invalid configuration${whereFrom(issues, file)}`, issues);
  }
  const sourceOf = (path: readonly string[]) => sourceLabel(path, envEntries, file, options.overrides);
  return {
    config: parsed.data,
    file,
    baseDir: file === null ? cwd : dirname(file),
    warnings: configWarnings(parsed.data, sourceOf),
  };
}

/**
 * A copy of `raw` with the raw text of each env variable whose YAML-typed value (a number, a
 * boolean) failed where the schema expects a string; `undefined` when there is none.
 */
function asStringsWhereExpected(
  error: z.ZodError,
  env: readonly EnvOverride[],
  raw: Record<string, unknown>,
  overrides: Record<string, unknown> | undefined,
): Record<string, unknown> | undefined {
  let out: Record<string, unknown> | undefined;
  for (const issue of error.issues) {
    if (issue.code !== 'invalid_type' || issue.expected !== 'string') continue;
    const path = issue.path.map(String);
    if (overrides !== undefined && hasPathPrefix(overrides, path)) continue;
    const source = env.find((e) => e.path.length === path.length && e.path.every((p, i) => path[i] === p));
    if (source === undefined) continue;
    out ??= structuredClone(raw);
    setPath(out, source.path, source.raw);
  }
  return out;
}

/** True when `obj` sets `path` or a key above it. */
function hasPathPrefix(obj: Record<string, unknown>, path: readonly string[]): boolean {
  let node: unknown = obj;
  for (const key of path) {
    if (!isPlainObject(node) || !(key in node)) return false;
    node = node[key];
    if (!isPlainObject(node)) return true;
  }
  return true;
}

/** ` in FILE`, ` in SKILLPLANE_X`, ` in FILE and the environment`: where the bad values came from. */
function whereFrom(issues: Issue[], file: string | null): string {
  const fromFile = issues.some((i) => i.file !== undefined && i.file !== 'environment');
  const vars = [...new Set(issues.flatMap((i) => /^(SKILLPLANE_[A-Z0-9_]+)/.exec(i.message)?.[1] ?? []))];
  const env = vars.length === 0 ? '' : vars.length === 1 ? vars[0]! : 'the environment';
  if (fromFile && file !== null) return env === '' ? ` in ${file}` : ` in ${file} and ${env}`;
  return env === '' ? '' : ` in ${env}`;
}

/** Where the value at `path` came from, for messages: an env variable, a flag, the file or the default. */
function sourceLabel(
  path: readonly string[],
  env: readonly EnvOverride[],
  file: string | null,
  overrides: Record<string, unknown> | undefined,
): string {
  if (overrides !== undefined && hasPathPrefix(overrides, path)) return 'an explicit override';
  const source = env.find((e) => path.length >= e.path.length && e.path.every((p, i) => path[i] === p));
  if (source !== undefined) return source.name;
  return file ?? 'the defaults';
}

/** Resolves a path from the config against the config's folder. */
export function resolveConfigPath(loaded: LoadedConfig, p: string): string {
  return isAbsolute(p) ? p : resolve(loaded.baseDir, p);
}
