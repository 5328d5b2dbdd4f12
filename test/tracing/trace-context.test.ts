import { describe, expect, it } from 'vitest';
import { childContext, formatTraceparent, parseTraceparent } from '../../src/tracing/index.js';

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('traceparent', () => {
  it('parses a valid header and keeps tracestate', () => {
    expect(parseTraceparent(VALID, 'congo=t61rcWkgMzE, rojo=00f067aa0ba902b7')).toEqual({
      traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
      spanId: '00f067aa0ba902b7',
      flags: '01',
      tracestate: 'congo=t61rcWkgMzE,rojo=00f067aa0ba902b7',
    });
  });

  it.each([
    ['uppercase hex', VALID.toUpperCase()],
    ['version ff', VALID.replace(/^00/, 'ff')],
    ['all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['all-zero span id', `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`],
    ['short trace id', '00-4bf92f35-00f067aa0ba902b7-01'],
    ['extra field on version 00', `${VALID}-extra`],
    ['garbage', 'hello'],
  ])('rejects %s', (_name, header) => {
    expect(parseTraceparent(header, 'a=b')).toBeUndefined();
  });

  it('accepts a future version with extra fields', () => {
    expect(parseTraceparent(`01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz`)?.traceId).toBe(
      '4bf92f3577b34da6a3ce929d0e0e4736',
    );
  });

  it('caps tracestate at 32 members', () => {
    const state = Array.from({ length: 40 }, (_, i) => `k${i}=v${i}`).join(',');
    expect(parseTraceparent(VALID, state)?.tracestate?.split(',')).toHaveLength(32);
  });

  it('continues a trace with a new span, or starts a new trace', () => {
    const parent = parseTraceparent(VALID)!;
    const child = childContext(parent);
    expect(child.traceId).toBe(parent.traceId);
    expect(child.spanId).not.toBe(parent.spanId);
    const fresh = childContext(undefined);
    expect(formatTraceparent(fresh.traceId, fresh.spanId)).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
  });
});
