import { describe, expect, it } from 'vitest';
import {
  childContext,
  formatTraceparent,
  normaliseTracestate,
  parseTraceparent,
} from '../../src/tracing/index.js';

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
    ['uppercase flags', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A'],
    ['a one-digit version', '0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['a non-hex version', 'g0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ['three-digit flags', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011'],
    ['underscores for dashes', '00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01'],
    [
      'a future version without the dash after flags',
      '01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x',
    ],
    ['a future version with a bad trace id', '01-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01'],
    ['empty', ''],
  ])('rejects %s', (_name, header) => {
    expect(parseTraceparent(header, 'a=b')).toBeUndefined();
  });

  it('accepts a future version with extra fields', () => {
    expect(parseTraceparent(`01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz`)?.traceId).toBe(
      '4bf92f3577b34da6a3ce929d0e0e4736',
    );
  });

  it('keeps a tracestate of 32 members and drops one of 33 (the traceparent stays)', () => {
    const members = (n: number) => Array.from({ length: n }, (_, i) => `k${i}=v${i}`).join(',');
    expect(parseTraceparent(VALID, members(32))?.tracestate?.split(',')).toHaveLength(32);
    const over = parseTraceparent(VALID, members(33));
    expect(over?.traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
    expect(over?.tracestate).toBeUndefined();
  });

  it.each([
    ['a member over 512 characters in total', `a=${'x'.repeat(511)}`],
    ['an uppercase key', 'Congo=t61'],
    ['a key starting with a digit (not multi-tenant)', '1congo=t61'],
    ['a value with a tab inside', 'congo=t61\tx'],
    ['a value with =', 'congo=a=b'],
    ['a value with a control character', 'congo=a\u0001b'],
    ['an empty value', 'congo='],
    ['a missing =', 'congo'],
    ['a duplicate key', 'congo=a,rojo=b,congo=c'],
    ['a system id over 14 characters', `t@${'s'.repeat(15)}=v`],
    ['a tenant id over 241 characters', `${'t'.repeat(242)}@sys=v`],
  ])('drops a tracestate with %s and keeps the traceparent', (_name, state) => {
    const parsed = parseTraceparent(VALID, state);
    expect(parsed?.spanId).toBe('00f067aa0ba902b7');
    expect(parsed?.tracestate).toBeUndefined();
  });

  it('keeps multi-tenant keys, keys with _ - * / and values with spaces inside', () => {
    const state = 'tenant1@vendor=a b,k_-*/9=x!~, rojo=00f067aa0ba902b7 ,,';
    expect(normaliseTracestate(state)).toBe('tenant1@vendor=a b,k_-*/9=x!~,rojo=00f067aa0ba902b7');
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
