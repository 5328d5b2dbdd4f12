import { readFile, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import path from 'node:path';
import type { createHash } from 'node:crypto';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { JsonSchema } from '../manifest.js';
import { parseYaml } from './yaml.js';
import { DEFAULT_MAX_MANIFEST_BYTES, isPlainObject, type Problems } from './types.js';
import { realpath } from './types.js';

// ajv-formats ships CommonJS; under NodeNext its default export is the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
let ajv: Ajv | undefined;
/** Compile outcome by schema text: `null` when it compiled, else the reason. Survives reloads. */
const compileCache = new Map<string, string | null>();

/**
 * Checks that a JSON Schema compiles; returns the reason when it does not. Schemas are removed from
 * the shared Ajv instance after the check (`addUsedSchema: false` keeps equal `$id`s in two skills
 * from clashing), and the outcome is cached by content so reloads do not compile again.
 */
export function schemaCompileError(schema: JsonSchema): string | undefined {
  const key = JSON.stringify(schema);
  const cached = compileCache.get(key);
  if (cached !== undefined) return cached ?? undefined;
  if (ajv === undefined) {
    ajv = new Ajv({ strict: false, allErrors: true, addUsedSchema: false, code: { optimize: false } });
    addFormats(ajv);
  }
  let outcome: string | null = null;
  try {
    ajv.compile(schema);
  } catch (err) {
    outcome = err instanceof Error ? err.message : String(err);
  } finally {
    try {
      ajv.removeSchema(schema);
    } catch {
      // Nothing was added.
    }
  }
  if (compileCache.size >= 10_000) compileCache.clear();
  compileCache.set(key, outcome);
  return outcome ?? undefined;
}

/** Forgets every cached compile outcome (benchmarks measure cold loads with it). */
export function clearSchemaCompileCache(): void {
  compileCache.clear();
}

/** Resolves `rel` inside `realDir`, following symlinks; pushes a problem and returns undefined on escape. */
export async function resolveInside(
  realDir: string,
  rel: string,
  file: string,
  field: string,
  problems: Problems,
): Promise<{ path: string; stats: Stats } | undefined> {
  const fail = (message: string) => {
    problems.push({ file, path: field, code: 'path_invalid', message });
    return undefined;
  };
  if (path.isAbsolute(rel)) return fail(`must be a path relative to the skill folder, got ${rel}`);
  const inside = (p: string) => {
    const r = path.relative(realDir, p);
    return r !== '' && !r.startsWith('..') && !path.isAbsolute(r);
  };
  if (!inside(path.resolve(realDir, rel))) return fail(`${rel} escapes the skill folder`);
  let real: string;
  try {
    real = await realpath(path.resolve(realDir, rel));
  } catch {
    return fail(`${rel} does not exist in the skill folder`);
  }
  if (!inside(real)) return fail(`${rel} resolves outside the skill folder`);
  const stats = await stat(real);
  if (!stats.isFile()) return fail(`${rel} is not a file`);
  return { path: real, stats };
}

export function isFileRef(ref: string): boolean {
  return !ref.startsWith('#') && !/^[a-z][a-z0-9+.-]*:/i.test(ref);
}

/** Resolves a `{$ref: "./file"}` schema and checks that the result compiles. */
export async function resolveSchema(
  field: 'input_schema' | 'output_schema',
  schema: JsonSchema,
  realDir: string,
  file: string,
  problems: Problems,
  hash: ReturnType<typeof createHash>,
): Promise<JsonSchema | undefined> {
  let resolved = schema;
  const ref = schema.$ref;
  if (typeof ref === 'string' && isFileRef(ref)) {
    const target = await resolveInside(realDir, ref, file, `${field}.$ref`, problems);
    if (target === undefined) return undefined;
    if (target.stats.size > DEFAULT_MAX_MANIFEST_BYTES) {
      problems.push({
        file: target.path,
        path: '',
        code: 'manifest_too_large',
        message: `is ${target.stats.size} bytes, more than the limit of ${DEFAULT_MAX_MANIFEST_BYTES}`,
      });
      return undefined;
    }
    const text = await readFile(target.path, 'utf8');
    hash.update(`\0${field}\0${text}`);
    let value: unknown;
    if (target.path.endsWith('.json')) {
      try {
        value = JSON.parse(text);
      } catch (err) {
        problems.push({
          file: target.path,
          path: '',
          code: 'schema_invalid',
          message: `invalid JSON: ${(err as Error).message}`,
        });
        return undefined;
      }
    } else {
      const parsed = parseYaml(text, target.path, 0, problems);
      if (parsed === undefined) return undefined;
      value = parsed.value;
    }
    if (!isPlainObject(value)) {
      problems.push({
        file,
        path: `${field}.$ref`,
        code: 'schema_invalid',
        message: `${ref} does not hold a JSON Schema object`,
      });
      return undefined;
    }
    resolved = value;
  }
  const reason = schemaCompileError(resolved);
  if (reason !== undefined) {
    problems.push({
      file,
      path: field,
      code: 'schema_invalid',
      message: `does not compile as a JSON Schema: ${reason}`,
    });
    return undefined;
  }
  return resolved;
}
