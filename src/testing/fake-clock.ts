/**
 * A {@link Clock} that moves only when told to: tests of leases, expiries, retention and
 * timeouts advance it instead of sleeping (like Temporal's time-skipping test environment).
 */
import type { Clock } from '../vocabulary/index.js';

/** The default start of a {@link FakeClock}: 2026-01-01T00:00:00.000Z. */
export const FAKE_CLOCK_START = Date.UTC(2026, 0, 1);

/** A clock that stands still until {@link FakeClock.advance} or {@link FakeClock.set}. */
export class FakeClock implements Clock {
  private ms: number;

  /** Starts at `start` (epoch ms or an ISO string), default {@link FAKE_CLOCK_START}. */
  constructor(start: number | string = FAKE_CLOCK_START) {
    this.ms = FakeClock.parse(start);
  }

  private static parse(t: number | string): number {
    const ms = typeof t === 'number' ? t : Date.parse(t);
    if (!Number.isFinite(ms)) throw new RangeError(`not a time: ${String(t)}`);
    return ms;
  }

  /** The current fake time, in epoch ms. */
  now(): number {
    return this.ms;
  }

  /** The current fake time as ISO-8601 with milliseconds. */
  iso(): string {
    return new Date(this.ms).toISOString();
  }

  /** Moves the clock forward by `ms` (never backward: use {@link set}); returns the new time. */
  advance(ms: number): number {
    if (!(ms >= 0)) throw new RangeError(`cannot advance a clock by ${ms} ms`);
    this.ms += ms;
    return this.ms;
  }

  /** Sets the clock to `t` (epoch ms or an ISO string), forward or backward. */
  set(t: number | string): void {
    this.ms = FakeClock.parse(t);
  }
}
