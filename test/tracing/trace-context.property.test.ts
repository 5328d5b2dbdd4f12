import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { newRunFor } from '../../src/agents/submission.js';
import { loadConfig } from '../../src/config/index.js';
import { runRequestSchema } from '../../src/agents/request.js';
import { formatTraceparent, normaliseTracestate, parseTraceparent } from '../../src/tracing/index.js';
import { systemClock } from '../../src/vocabulary/index.js';

const hex = (n: number) =>
  fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: n, maxLength: n });
const validTraceparent = fc
  .tuple(hex(32), hex(16), hex(2))
  .filter(([t, s]) => !/^0+$/.test(t) && !/^0+$/.test(s))
  .map(([t, s, f]) => formatTraceparent(t, s, f));

/** Valid traceparents broken in one of the ways the spec forbids. */
const brokenTraceparent = fc.oneof(
  validTraceparent.map((v) => v.toUpperCase()).filter((v) => /[A-F]/.test(v)),
  validTraceparent.map((v) => `ff${v.slice(2)}`),
  validTraceparent.map((v) => `${v}-extra`),
  validTraceparent.map((v) => v.slice(0, 54)),
  fc
    .tuple(validTraceparent, fc.nat(54), fc.constantFrom('g', 'Z', ' ', '_', '.', '\u00e9'))
    .map(([v, i, c]) => v.slice(0, i) + c + v.slice(i + 1)),
  hex(16).map((s) => `00-${'0'.repeat(32)}-${s}-01`),
  hex(32).map((t) => `00-${t}-${'0'.repeat(16)}-01`),
  fc.string({ maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
);

const arbitraryTracestate = fc.oneof(
  fc.string({ maxLength: 600 }),
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc
    .array(fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 })), { maxLength: 40 })
    .map((kv) => kv.map(([k, v]) => `${k}=${v}`).join(',')),
);

const config = loadConfig({ cwd: '/nonexistent-skillplane-dir', env: {} }).config;
const request = runRequestSchema.parse({ agent: 'a', input: 'x' });
const runFor = (traceparent: string, tracestate?: string) =>
  newRunFor(
    'run_1',
    request,
    { traceparent, ...(tracestate === undefined ? {} : { tracestate }) },
    {
      config,
      nodeId: 'n',
      leaseMs: 1000,
      clock: systemClock,
    },
  );

describe('W3C trace context, property-based', () => {
  it('never throws on arbitrary traceparent/tracestate input, and rejects every broken traceparent', () => {
    fc.assert(
      fc.property(brokenTraceparent, fc.option(arbitraryTracestate, { nil: undefined }), (tp, ts) => {
        expect(parseTraceparent(tp, ts)).toBeUndefined();
        expect(() => normaliseTracestate(ts)).not.toThrow();
      }),
      { numRuns: 5000 },
    );
  });

  it('a run with a broken traceparent starts a fresh trace and drops tracestate', () => {
    const seen = new Set<string>();
    fc.assert(
      fc.property(brokenTraceparent, arbitraryTracestate, (tp, ts) => {
        const run = runFor(tp, ts);
        expect(run.trace_id).toMatch(/^[0-9a-f]{32}$/);
        expect(run.trace_id).not.toBe(tp.slice(3, 35));
        expect(seen.has(run.trace_id!)).toBe(false);
        seen.add(run.trace_id!);
        expect(run.tracestate).toBeNull();
        expect(parseTraceparent(run.traceparent)?.traceId).toBe(run.trace_id);
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps every valid traceparent (and a valid tracestate with it)', () => {
    const key = fc
      .tuple(
        fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz'),
        fc.string({ unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz0123456789_-*/'), maxLength: 20 }),
      )
      .map(([a, b]) => a + b);
    const value = fc
      .string({
        unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
        minLength: 1,
        maxLength: 20,
      })
      .map((v) => v.replace(/[,=]/g, 'x').replace(/^ +| +$/g, ''))
      .filter((v) => v.length > 0);
    const state = fc
      .uniqueArray(fc.tuple(key, value), { maxLength: 10, selector: ([k]) => k, minLength: 1 })
      .map((kv) => kv.map(([k, v]) => `${k}=${v}`).join(','));
    fc.assert(
      fc.property(validTraceparent, state, (tp, ts) => {
        const parsed = parseTraceparent(tp, ts);
        expect(parsed).toBeDefined();
        expect(formatTraceparent(parsed!.traceId, parsed!.spanId, parsed!.flags)).toBe(tp);
        expect(parsed!.tracestate).toBe(ts);
        const run = runFor(tp, ts);
        expect(run.trace_id).toBe(tp.slice(3, 35));
        expect(run.tracestate).toBe(ts);
      }),
      { numRuns: 3000 },
    );
  });
});
