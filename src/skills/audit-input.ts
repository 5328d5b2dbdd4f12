/**
 * What a `skill.execute` audit entry records of a call's input: the arguments with the manifest's
 * `sensitive` fields replaced by {@link REDACTED}, kept only while small.
 */
import { findJsonLimitViolation } from '../limits/index.js';

/** The value a sensitive field is recorded as. */
export const REDACTED = '[redacted]';

/** Largest serialized input (UTF-8 bytes, after redaction) an audit entry records in full. */
export const AUDIT_INPUT_MAX_BYTES = 4096;

/** Deepest input an audit entry records (deeper ones are noted by size only, like large ones). */
const AUDIT_INPUT_MAX_DEPTH = 64;

/**
 * The input fields of a `skill.execute` entry's `data`: `input` holds the redacted arguments, or
 * `null` with `input_truncated: true` and their size (`input_bytes`, `null` when they are not JSON
 * or nested deeper than 64 levels) when they are larger than the cap.
 */
export type AuditedInput =
  { input: unknown } | { input: null; input_truncated: true; input_bytes: number | null };

/**
 * A copy of `input` with every `sensitive` path replaced by {@link REDACTED}. A path is a property
 * name (`password`) or dotted names through nested objects (`auth.token`); an array met on the way
 * applies the rest of the path to each of its elements. A path that is absent changes nothing.
 * The input itself is never modified.
 */
export function redactInput(input: unknown, sensitive: readonly string[]): unknown {
  let out = input;
  for (const path of sensitive) out = redactPath(out, path.split('.'));
  return out;
}

function redactPath(value: unknown, path: readonly string[]): unknown {
  if (Array.isArray(value)) {
    let changed = false;
    const next = value.map((v) => {
      const r = redactPath(v, path);
      if (r !== v) changed = true;
      return r;
    });
    return changed ? next : value;
  }
  if (value === null || typeof value !== 'object') return value;
  const [head, ...rest] = path;
  if (head === undefined || !Object.hasOwn(value, head)) return value;
  const obj = value as Record<string, unknown>;
  const replaced = rest.length === 0 ? REDACTED : redactPath(obj[head], rest);
  if (replaced === obj[head]) return value;
  return { ...obj, [head]: replaced };
}

/**
 * The input fields an audit entry records: {@link redactInput}, then, when its JSON is larger than
 * `maxBytes`, only its size (no part of a large value is half-recorded). The limits module walks the
 * value first without recursion, so a hostile input cannot overflow the stack here.
 */
export function auditedInput(
  input: unknown,
  sensitive: readonly string[],
  maxBytes: number = AUDIT_INPUT_MAX_BYTES,
): AuditedInput {
  const tooBig = (bytes: number | null): AuditedInput => ({
    input: null,
    input_truncated: true,
    input_bytes: bytes,
  });
  if (input === undefined) return { input: null };
  const shape = findJsonLimitViolation(input, {
    maxDepth: AUDIT_INPUT_MAX_DEPTH,
    maxStringLength: Number.MAX_SAFE_INTEGER,
  });
  if (shape !== undefined) return tooBig(null);
  const text = JSON.stringify(redactInput(input, sensitive));
  const bytes = Buffer.byteLength(text, 'utf8');
  return bytes > maxBytes ? tooBig(bytes) : { input: JSON.parse(text) as unknown };
}
