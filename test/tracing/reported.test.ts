import { describe, expect, it } from 'vitest';
import { reportedSpanTiming } from '../../src/tracing/index.js';

const window = { sentAt: 1_000, receivedAt: 2_000 };

describe('timing reported by a sandbox child', () => {
  it('keeps timing inside the window the parent saw', () => {
    expect(reportedSpanTiming({ start_ms: 1_100.5, end_ms: 1_900 }, window)).toEqual({
      start: 1_100.5,
      end: 1_900,
    });
  });

  it('clamps timing that claims to lie outside the call', () => {
    expect(reportedSpanTiming({ start_ms: 0, end_ms: 9e15 }, window)).toEqual({ start: 1_000, end: 2_000 });
    expect(reportedSpanTiming({ start_ms: 5_000, end_ms: 6_000 }, window)).toEqual({
      start: 2_000,
      end: 2_000,
    });
  });

  it.each([
    ['nothing', undefined],
    ['a string', 'soon'],
    ['end before start', { start_ms: 1_500, end_ms: 1_200 }],
    ['NaN', { start_ms: Number.NaN, end_ms: 1_200 }],
    ['Infinity', { start_ms: 1_100, end_ms: Number.POSITIVE_INFINITY }],
    ['strings for numbers', { start_ms: '1100', end_ms: '1200' }],
  ])('makes no span from %s', (_name, reported) => {
    expect(reportedSpanTiming(reported, window)).toBeUndefined();
  });
});
