import { randomHex } from '../vocabulary/index.js';

/** A parsed W3C `traceparent`. */
export interface TraceContext {
  traceId: string;
  spanId: string;
  flags: string;
  /** `tracestate`, kept only when the traceparent was valid. */
  tracestate?: string;
}

const HEX2 = /^[0-9a-f]{2}$/;
const TRACE_ID = /^[0-9a-f]{32}$/;
const SPAN_ID = /^[0-9a-f]{16}$/;
/** `simple-key` or `tenant-id@system-id` (W3C Trace Context §3.3.1.3.1). */
const TRACESTATE_KEY =
  /^(?:[a-z][a-z0-9_\-*/]{0,255}|[a-z0-9][a-z0-9_\-*/]{0,240}@[a-z][a-z0-9_\-*/]{0,13})$/;
/** Printable ASCII except `,` and `=`, not ending in a space (§3.3.1.3.2). */
const TRACESTATE_VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
const MAX_TRACESTATE_MEMBERS = 32;
const MAX_TRACESTATE_CHARS = 512;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** A random, non-zero 16-byte trace id in lowercase hex. */
export function newTraceId(): string {
  let id = randomHex(16);
  while (id === ZERO_TRACE) id = randomHex(16);
  return id;
}

/** A random, non-zero 8-byte span id in lowercase hex. */
export function newSpanId(): string {
  let id = randomHex(8);
  while (id === ZERO_SPAN) id = randomHex(8);
  return id;
}

/**
 * Parses `traceparent` exactly as W3C Trace Context says: `version-traceid-parentid-flags`, all
 * lowercase hex; version `ff` is invalid; version `00` has exactly these four fields, a later
 * version may append `-`-prefixed fields (parsed as 00); all-zero ids are invalid. Returns
 * `undefined` for anything invalid (the caller then starts a new trace and drops `tracestate`);
 * never throws. `tracestate` is kept only when valid (see {@link normaliseTracestate}).
 */
export function parseTraceparent(header: string | undefined, tracestate?: string): TraceContext | undefined {
  if (typeof header !== 'string' || header.length < 55) return undefined;
  // Optional whitespace around a header value is allowed by HTTP; nothing else is.
  const value = header.replace(/^[ \t]+|[ \t]+$/g, '');
  const version = value.slice(0, 2);
  if (!HEX2.test(version) || version === 'ff' || value[2] !== '-') return undefined;
  if (version === '00' ? value.length !== 55 : value.length > 55 && value[55] !== '-') return undefined;
  const traceId = value.slice(3, 35);
  const spanId = value.slice(36, 52);
  const flags = value.slice(53, 55);
  if (value[35] !== '-' || value[52] !== '-') return undefined;
  if (!TRACE_ID.test(traceId) || !SPAN_ID.test(spanId) || !HEX2.test(flags)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  const state = normaliseTracestate(tracestate);
  return { traceId, spanId, flags, ...(state === undefined ? {} : { tracestate: state }) };
}

/** Formats a `traceparent` (version 00). */
export function formatTraceparent(traceId: string, spanId: string, flags = '01'): string {
  // Joined, not a template: one flat string rather than a tree of parts (kept with every run).
  return ['00', traceId, spanId, flags].join('-');
}

/**
 * A `tracestate` that is valid per W3C Trace Context, in its canonical form (members joined by
 * `,`, optional whitespace around them removed; empty members skipped), or `undefined` when it
 * is invalid as a whole: more than 32 members, longer than 512 characters, a key or value outside
 * the grammar, or a duplicate key. Never throws.
 */
export function normaliseTracestate(value: string | undefined): string | undefined {
  if (typeof value !== 'string' || value.length > 4 * MAX_TRACESTATE_CHARS) return undefined;
  const members: string[] = [];
  const keys = new Set<string>();
  for (const raw of value.split(',')) {
    const member = raw.replace(/^[ \t]+|[ \t]+$/g, '');
    if (member === '') continue;
    const eq = member.indexOf('=');
    if (eq <= 0) return undefined;
    const key = member.slice(0, eq);
    const val = member.slice(eq + 1);
    if (!TRACESTATE_KEY.test(key) || !TRACESTATE_VALUE.test(val) || keys.has(key)) return undefined;
    keys.add(key);
    members.push(member);
  }
  if (members.length === 0 || members.length > MAX_TRACESTATE_MEMBERS) return undefined;
  const out = members.join(',');
  return out.length > MAX_TRACESTATE_CHARS ? undefined : out;
}

/** Continues an inbound trace or starts a new one; returns the context of a new child span. */
export function childContext(parent: TraceContext | undefined): TraceContext {
  if (parent === undefined) return { traceId: newTraceId(), spanId: newSpanId(), flags: '01' };
  return { ...parent, spanId: newSpanId() };
}
