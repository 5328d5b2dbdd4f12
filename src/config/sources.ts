import type { z } from 'zod';
import type { Issue } from '../errors/index.js';

/** One `SKILLPLANE_*` variable that sets a config key. */
export interface EnvOverride {
  /** The variable's name, e.g. `SKILLPLANE_SERVER__PORT`. */
  name: string;
  /** The config key it sets, e.g. `['server', 'port']`. */
  path: string[];
  /** Its raw text. */
  raw: string;
}

/** Variables whose value may be a secret (or a URL with credentials in it): never echoed. */
const SECRET_NAME = /KEY|SECRET|TOKEN|PASSWORD|URL/;
const MAX_ECHO = 60;

function startsWith(path: readonly string[], prefix: readonly string[]): boolean {
  return prefix.length <= path.length && prefix.every((p, i) => path[i] === p);
}

/** `NAME=value` for a message, the value hidden for secrets and cut when long. */
export function describeEnvVar(e: EnvOverride): string {
  if (SECRET_NAME.test(e.name)) return `${e.name} (value hidden)`;
  const v = e.raw.length > MAX_ECHO ? `${e.raw.slice(0, MAX_ECHO)}…` : e.raw;
  return `${e.name}=${v}`;
}

/**
 * The env variable a config key came from: the one that set the key or a key above it (a variable
 * wins over the file, so a value below a variable's key is the variable's). An unknown key is
 * also blamed on a variable that set something below it.
 */
export function envSourceOf(
  path: readonly string[],
  env: readonly EnvOverride[],
  opts: { unknownKey?: boolean } = {},
): EnvOverride | undefined {
  let best: EnvOverride | undefined;
  for (const e of env) {
    const hit = startsWith(path, e.path) || (opts.unknownKey === true && startsWith(e.path, path));
    if (hit && (best === undefined || e.path.length > best.path.length)) best = e;
  }
  return best;
}

/**
 * Formats zod issues of a merged config, each blamed on where its value came from: a
 * `SKILLPLANE_*` variable (named, with its value unless secret) or else the file (or `fallback`).
 * Overrides given in code (CLI flags, tests) are checked before they are merged and blamed on
 * the file like before.
 */
export function blameIssues(
  error: z.ZodError,
  env: readonly EnvOverride[],
  fallback: string,
  overridden: (path: readonly string[]) => boolean = () => false,
): Issue[] {
  const out: Issue[] = [];
  for (const issue of error.issues) {
    const path = issue.path.map(String);
    const dotted = path.join('.');
    if (issue.code === 'unrecognized_keys') {
      // One issue per key, so a key from the environment is not blamed on the file and back.
      const fromFile: string[] = [];
      for (const key of issue.keys) {
        const at = [...path, key];
        const source = overridden(at) ? undefined : envSourceOf(at, env, { unknownKey: true });
        if (source === undefined) fromFile.push(key);
        else
          out.push({
            path: dotted,
            message: `${describeEnvVar(source)}: unknown setting "${at.join('.')}"`,
          });
      }
      if (fromFile.length === issue.keys.length)
        out.push({ file: fallback, path: dotted, message: issue.message });
      else if (fromFile.length > 0)
        out.push({
          file: fallback,
          path: dotted,
          message: `Unrecognized key(s): ${fromFile.map((k) => `"${k}"`).join(', ')}`,
        });
      continue;
    }
    const source = overridden(path) ? undefined : envSourceOf(path, env);
    out.push(
      source === undefined
        ? { file: fallback, path: dotted, message: issue.message }
        : { path: dotted, message: `${describeEnvVar(source)}: ${issue.message}` },
    );
  }
  return out;
}
