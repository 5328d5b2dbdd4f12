/**
 * Helpers below the engine and the drivers: ids, JSON encoding, cursors, page sizes, the
 * schema-version guard.
 */
import { SkillplaneError, ValidationError } from '../errors/index.js';
import { randomHex, systemClock } from '../vocabulary/index.js';
import { RUN_SCHEMA_VERSION } from './types.js';

let lastMs = 0;
let lastRand = 0n;
const RAND_MAX = (1n << 64n) - 1n;

/**
 * A time-ordered id: `prefix` + 12 hex digits of epoch ms + 16 random hex digits. Ids made by one
 * process are strictly increasing even within the same millisecond.
 */
export function newId(prefix: string, nowMs = systemClock.now()): string {
  let ms = nowMs;
  let rand: bigint;
  if (ms <= lastMs) {
    ms = lastMs;
    rand = lastRand + 1n;
    if (rand > RAND_MAX) {
      ms += 1;
      rand = BigInt(`0x${randomHex(8)}`) >> 1n;
    }
  } else {
    rand = BigInt(`0x${randomHex(8)}`) >> 1n;
  }
  lastMs = ms;
  lastRand = rand;
  // Joined, not a template: one flat string rather than a tree of parts (ids live as long as runs).
  return [prefix, ms.toString(16).padStart(12, '0'), rand.toString(16).padStart(16, '0')].join('');
}

/** A new run id: time-ordered (`run_` + 12 hex ms + 16 hex), strictly increasing in one process. */
export function newRunId(nowMs = systemClock.now()): string {
  return newId('run_', nowMs);
}

/** Throws `unsupported_schema_version` for a run written by a newer build. */
export function checkSchemaVersion(id: string, version: number): void {
  if (version > RUN_SCHEMA_VERSION) {
    throw new SkillplaneError(
      'unsupported_schema_version',
      `run ${id} has schema version ${version}; this build understands up to ${RUN_SCHEMA_VERSION}`,
      { data: { run_id: id, schema_version: version, supported: RUN_SCHEMA_VERSION } },
    );
  }
}

/** Clamps a page size. */
export function clampLimit(limit: number | undefined, def: number, max: number): number {
  if (limit === undefined || !Number.isFinite(limit)) return def;
  return Math.min(max, Math.max(1, Math.floor(limit)));
}

/** A position in a newest-first list: its timestamp and id. */
export interface Position {
  at: string;
  id: string;
}

/** Encodes a list position; `list` tells the lists apart (`''` for runs, `audit`). */
export function encodeCursor(at: string, id: string, list = ''): string {
  return Buffer.from(JSON.stringify(list === '' ? [at, id] : [at, id, list])).toString('base64url');
}

/** Decodes a cursor made by {@link encodeCursor} for `list`, or throws `invalid_cursor`. */
export function decodeCursor(cursor: string, list = ''): Position {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (
      Array.isArray(v) &&
      v.length === (list === '' ? 2 : 3) &&
      typeof v[0] === 'string' &&
      typeof v[1] === 'string' &&
      (list === '' || v[2] === list)
    ) {
      return { at: v[0], id: v[1] };
    }
  } catch {
    // fall through
  }
  throw new ValidationError(
    'invalid cursor',
    [{ path: 'cursor', message: `not a cursor of this list${list === '' ? '' : ` (${list})`}` }],
    'invalid_cursor',
  );
}

/** The string `code` of a caught error, if it has one. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string')
    return err.code;
  return undefined;
}

/**
 * Serialises a value for a JSON column. A value JSON cannot hold (too deep for the stack, a cycle,
 * a bigint) is refused as `input_invalid` instead of escaping as a raw error: a bad value never
 * reaches the database and never crashes a caller.
 */
export function encodeJson(v: unknown): string {
  try {
    // A function or symbol stringifies to undefined: stored as null, like a missing field.
    const s = JSON.stringify(v ?? null) ?? 'null';
    // JSON.stringify returns a tree of concatenated strings (7 per queued run here, ~350 bytes of
    // tree nodes a run keeps while it is stored in memory). ToNumber flattens it in place; the GC
    // then drops the tree. The number itself is ignored.
    Number(s);
    return s;
  } catch (err) {
    throw new ValidationError(
      `a value cannot be stored as JSON: ${(err as Error).message}`,
      [{ path: '', message: 'not serialisable' }],
      'input_invalid',
    );
  }
}
