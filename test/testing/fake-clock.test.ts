import { describe, expect, it } from 'vitest';
import { FAKE_CLOCK_START, FakeClock } from '../../src/testing/index.js';

describe('FakeClock', () => {
  it('stands still until advanced or set', () => {
    const clock = new FakeClock();
    expect(clock.now()).toBe(FAKE_CLOCK_START);
    expect(clock.now()).toBe(FAKE_CLOCK_START);
    expect(clock.advance(1500)).toBe(FAKE_CLOCK_START + 1500);
    expect(clock.iso()).toBe('2026-01-01T00:00:01.500Z');
    clock.set('2025-06-01T12:00:00.000Z');
    expect(clock.now()).toBe(Date.parse('2025-06-01T12:00:00.000Z'));
  });

  it('refuses to run backwards or to a time that is not one', () => {
    const clock = new FakeClock(0);
    expect(() => clock.advance(-1)).toThrow(RangeError);
    expect(() => clock.advance(Number.NaN)).toThrow(RangeError);
    expect(() => new FakeClock('not a date')).toThrow(RangeError);
    expect(clock.now()).toBe(0);
  });
});
