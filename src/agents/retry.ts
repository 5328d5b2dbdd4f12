import { SkillplaneError } from '../errors/index.js';

/** Codes that describe a passing failure worth another attempt. */
const RETRYABLE_CODES = new Set([
  'model_unavailable',
  'model_rate_limited',
  'model_timeout',
  'connection_error',
  'skill_crashed',
  'worker_unavailable',
  'store_unavailable',
  'timeout',
]);

/** True when a failed step may be tried again (the error itself may say so with `data.retryable`). */
export function isRetryable(err: unknown): boolean {
  if (!(err instanceof SkillplaneError)) return false;
  const flag = err.data?.retryable;
  if (typeof flag === 'boolean') return flag;
  if (err.code === 'model_error') {
    // No status: the server could not be reached. 408, 429 and 5xx are passing conditions.
    const status = err.data?.status;
    return (
      status === null ||
      status === undefined ||
      status === 408 ||
      status === 429 ||
      (typeof status === 'number' && status >= 500)
    );
  }
  return RETRYABLE_CODES.has(err.code);
}

/** Exponential backoff with full jitter: random in [0, min(cap, base·2^attempt)]. */
export function backoffDelayMs(
  attempt: number,
  opts: { baseMs?: number; capMs?: number; random?: () => number } = {},
): number {
  const base = opts.baseMs ?? 200;
  const cap = opts.capMs ?? 10_000;
  const ceiling = Math.min(cap, base * 2 ** attempt);
  // Half fixed, half random ("equal jitter") keeps a floor so retries never hammer.
  return Math.round(ceiling / 2 + (opts.random ?? Math.random)() * (ceiling / 2));
}
