/** The time source of the runtime and the stores; tests inject a fake one and never sleep. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The system clock. */
export const systemClock: Clock = { now: () => Date.now() };

/** `clock.now()` as an ISO-8601 string with milliseconds. */
export function isoNow(clock: Clock): string {
  return new Date(clock.now()).toISOString();
}

/** `ms` from `clock.now()`, as ISO-8601. */
export function isoIn(clock: Clock, ms: number): string {
  return new Date(clock.now() + ms).toISOString();
}
