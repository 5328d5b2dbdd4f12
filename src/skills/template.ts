import { Ajv, type ValidateFunction } from 'ajv';
import type { JsonSchema } from './manifest.js';

/** Reads a dotted path (`a.b.0.c`) out of a value; `undefined` when any part is missing. */
export function getPath(value: unknown, path: string): unknown {
  if (path === '') return value;
  let node: unknown = value;
  for (const part of path.split('.')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function stringify(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value, null, 2);
}

const MUSTACHE = /\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g;

/**
 * Renders `{{ field }}` / `{{ a.b }}` placeholders from `vars`. No logic, no HTML escaping: the
 * result is a prompt, not markup. Missing values render as empty text.
 */
export function renderTemplate(template: string, vars: unknown): string {
  return template.replace(MUSTACHE, (_m, path: string) => stringify(getPath(vars, path)));
}

const WHOLE_EXPR = /^\$\{\s*([A-Za-z0-9_.-]+)\s*\}$/;
const EXPR = /\$\{\s*([A-Za-z0-9_.-]+)\s*\}/g;

/**
 * Resolves a workflow input mapping: a string that is exactly `${path}` takes the value at that
 * path as it is (object, list, number…); `${path}` inside a longer string is interpolated as
 * text; objects and arrays are mapped recursively; other values pass through.
 */
export function resolveMapping(mapping: unknown, scope: unknown): unknown {
  if (typeof mapping === 'string') {
    const whole = WHOLE_EXPR.exec(mapping);
    if (whole !== null) return getPath(scope, whole[1]!);
    return mapping.replace(EXPR, (_m, path: string) => stringify(getPath(scope, path)));
  }
  if (Array.isArray(mapping)) return mapping.map((m) => resolveMapping(m, scope));
  if (mapping !== null && typeof mapping === 'object') {
    return Object.fromEntries(Object.entries(mapping).map(([k, v]) => [k, resolveMapping(v, scope)]));
  }
  return mapping;
}

// A separate instance: filling defaults mutates what it validates, the shared validator must not.
// addUsedSchema: false — two skills may reuse one $id; formats are not needed to place defaults.
const defaultsAjv = new Ajv({
  useDefaults: true,
  strict: false,
  addUsedSchema: false,
  validateFormats: false,
});
const withDefaults = new WeakMap<JsonSchema, ValidateFunction | null>();

/**
 * A copy of `input` with the `default` of every property its JSON Schema declares and the input
 * leaves out (`properties.*.default`, nested objects and array items included). The input itself
 * is not changed. A schema ajv cannot compile leaves the input as it is (validation reports it).
 */
export function applySchemaDefaults(schema: JsonSchema, input: unknown): unknown {
  let fill = withDefaults.get(schema);
  if (fill === undefined) {
    try {
      fill = defaultsAjv.compile(schema);
    } catch {
      fill = null;
    }
    withDefaults.set(schema, fill);
  }
  if (fill === null || input === null || typeof input !== 'object') return input;
  const copy: unknown = structuredClone(input);
  fill(copy);
  return copy;
}

/**
 * Renders a prompt skill's template from its input with the input schema's defaults applied, so
 * `{{max_words}}` shows the declared `default: 80` when the caller leaves `max_words` out.
 */
export function renderPromptTemplate(template: string, schema: JsonSchema, input: unknown): string {
  return renderTemplate(template, applySchemaDefaults(schema, input));
}
