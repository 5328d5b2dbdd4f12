/**
 * Size and depth limits for JSON values that come from outside (request bodies, skill inputs,
 * model output, child processes). The checks are iterative, so a hostile value can never overflow
 * the stack of the process that checks it, and they run before anything recursive (zod, ajv,
 * `JSON.stringify`) touches the value.
 */
import { ValidationError } from '../errors/index.js';

/** Limits of one JSON value. */
export interface JsonLimits {
  /** Deepest nesting of arrays and objects (the value itself is depth 0). */
  maxDepth: number;
  /** Longest string, key or value, in UTF-16 code units. */
  maxStringLength: number;
  /** Largest serialised size in bytes (UTF-8), when set. */
  maxBytes?: number;
}

/** Where a value breaks a limit, and which. */
export interface JsonLimitViolation {
  /** JSON path of the offending node (`$.a.b[3]`), shortened for very deep values. */
  path: string;
  limit: 'depth' | 'string_length' | 'bytes' | 'not_json';
  message: string;
}

interface PathNode {
  key: string | number;
  parent: PathNode | undefined;
}

function formatPath(node: PathNode | undefined): string {
  const parts: (string | number)[] = [];
  for (let n = node; n !== undefined; n = n.parent) parts.push(n.key);
  parts.reverse();
  const shown = parts.length > 12 ? [...parts.slice(0, 6), '…', ...parts.slice(-5)] : parts;
  return (
    '$' +
    shown
      .map((p) =>
        typeof p === 'number'
          ? `[${p}]`
          : p === '…'
            ? '…'
            : /^[A-Za-z_$][\w$]*$/.test(p)
              ? `.${p}`
              : `[${JSON.stringify(p)}]`,
      )
      .join('')
  );
}

/**
 * The first place where `value` breaks `limits`, or `undefined`. Walks the value without
 * recursion; cycles are reported as too deep. Values that JSON cannot hold (functions, symbols,
 * bigints) are `not_json`.
 */
export function findJsonLimitViolation(value: unknown, limits: JsonLimits): JsonLimitViolation | undefined {
  const stack: { value: unknown; depth: number; path: PathNode | undefined }[] = [
    { value, depth: 0, path: undefined },
  ];
  while (stack.length > 0) {
    const { value: v, depth, path } = stack.pop()!;
    if (typeof v === 'string') {
      if (v.length > limits.maxStringLength) {
        return {
          path: formatPath(path),
          limit: 'string_length',
          message: `a string of ${v.length} characters is longer than the limit of ${limits.maxStringLength}`,
        };
      }
      continue;
    }
    if (v === null || typeof v === 'number' || typeof v === 'boolean' || v === undefined) continue;
    if (typeof v !== 'object') {
      return { path: formatPath(path), limit: 'not_json', message: `a ${typeof v} is not JSON` };
    }
    if (depth >= limits.maxDepth) {
      return {
        path: formatPath(path),
        limit: 'depth',
        message: `nesting is deeper than the limit of ${limits.maxDepth} levels`,
      };
    }
    if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--)
        stack.push({ value: v[i], depth: depth + 1, path: { key: i, parent: path } });
      continue;
    }
    for (const key of Object.keys(v)) {
      if (key.length > limits.maxStringLength) {
        return {
          path: formatPath(path),
          limit: 'string_length',
          message: `a key of ${key.length} characters is longer than the limit of ${limits.maxStringLength}`,
        };
      }
      stack.push({
        value: (v as Record<string, unknown>)[key],
        depth: depth + 1,
        path: { key, parent: path },
      });
    }
  }
  if (limits.maxBytes !== undefined) {
    let text: string | undefined;
    try {
      text = JSON.stringify(value);
    } catch (err) {
      return { path: '$', limit: 'not_json', message: `cannot be serialised: ${(err as Error).message}` };
    }
    const bytes = text === undefined ? 0 : Buffer.byteLength(text, 'utf8');
    if (bytes > limits.maxBytes) {
      return {
        path: '$',
        limit: 'bytes',
        message: `${bytes} bytes serialised is more than the limit of ${limits.maxBytes}`,
      };
    }
  }
  return undefined;
}

/**
 * Throws a {@link ValidationError} (default code `input_invalid`) naming `what`, the path and the
 * limit when `value` breaks `limits`.
 */
export function assertJsonLimits(
  value: unknown,
  limits: JsonLimits,
  what: string,
  code = 'input_invalid',
): void {
  const v = findJsonLimitViolation(value, limits);
  if (v === undefined) return;
  throw new ValidationError(
    `${what}: ${v.message} (at ${v.path})`,
    [{ path: v.path, message: v.message }],
    code,
  );
}

/**
 * `JSON.stringify` that never throws a raw error: a value that cannot be serialised (a cycle, a
 * bigint, a stack overflow) or whose text is longer than `maxBytes` becomes a
 * {@link ValidationError} with `code`.
 */
export function safeJsonStringify(
  value: unknown,
  what: string,
  opts: { maxBytes?: number; code?: string } = {},
): string {
  const code = opts.code ?? 'input_invalid';
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new ValidationError(
      `${what} cannot be serialised as JSON: ${(err as Error).message}`,
      [{ path: '$', message: 'not serialisable' }],
      code,
    );
  }
  const out = text ?? 'null';
  if (opts.maxBytes !== undefined && Buffer.byteLength(out, 'utf8') > opts.maxBytes) {
    throw new ValidationError(
      `${what} is larger than ${opts.maxBytes} bytes`,
      [{ path: '$', message: 'too large' }],
      code,
    );
  }
  return out;
}
