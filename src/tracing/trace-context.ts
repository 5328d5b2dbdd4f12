import { randomBytes } from 'node:crypto';

/** A parsed W3C `traceparent`. */
export interface TraceContext {
  traceId: string;
  spanId: string;
  flags: string;
  /** `tracestate`, kept only when the traceparent was valid. */
  tracestate?: string;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$/;
const ZERO_TRACE = '0'.repeat(32);
const ZERO_SPAN = '0'.repeat(16);

/** A random, non-zero 16-byte trace id in lowercase hex. */
export function newTraceId(): string {
  let id = randomBytes(16).toString('hex');
  while (id === ZERO_TRACE) id = randomBytes(16).toString('hex');
  return id;
}

/** A random, non-zero 8-byte span id in lowercase hex. */
export function newSpanId(): string {
  let id = randomBytes(8).toString('hex');
  while (id === ZERO_SPAN) id = randomBytes(8).toString('hex');
  return id;
}

/**
 * Parses `traceparent` per W3C Trace Context: `00-<32 hex>-<16 hex>-<2 hex>`, lowercase; version
 * `ff` and all-zero ids are invalid. Future versions may append fields after a dash. Returns
 * `undefined` for anything invalid (the caller then starts a new trace and drops `tracestate`).
 */
export function parseTraceparent(header: string | undefined, tracestate?: string): TraceContext | undefined {
  if (header === undefined) return undefined;
  const m = TRACEPARENT.exec(header.trim());
  if (m === null) return undefined;
  const [, version, traceId, spanId, flags, rest] = m as unknown as [
    string,
    string,
    string,
    string,
    string,
    string?,
  ];
  if (version === 'ff' || traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  if (version === '00' && rest !== undefined) return undefined;
  const state = normaliseTracestate(tracestate);
  return { traceId, spanId, flags, ...(state === undefined ? {} : { tracestate: state }) };
}

/** Formats a `traceparent` (version 00). */
export function formatTraceparent(traceId: string, spanId: string, flags = '01'): string {
  return `00-${traceId}-${spanId}-${flags}`;
}

/**
 * Keeps a `tracestate` that is safe to propagate: at most 32 list members, empty members dropped.
 * Values are passed on unchanged otherwise (we add no member of our own).
 */
export function normaliseTracestate(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const members = value
    .split(',')
    .map((m) => m.trim())
    .filter((m) => m !== '' && m.includes('='));
  if (members.length === 0) return undefined;
  return members.slice(0, 32).join(',');
}

/** Continues an inbound trace or starts a new one; returns the context of a new child span. */
export function childContext(parent: TraceContext | undefined): TraceContext {
  if (parent === undefined) return { traceId: newTraceId(), spanId: newSpanId(), flags: '01' };
  return { ...parent, spanId: newSpanId() };
}
