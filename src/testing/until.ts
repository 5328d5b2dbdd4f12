/**
 * Polls `fn` until it returns a truthy value (which is returned) or `timeoutMs` passes, then
 * throws an error naming `what`. For tests that wait on an effect with no event to await: every
 * wait has a deadline and says what it waited for.
 */
export async function until<T>(
  fn: () => Promise<T> | T,
  timeoutMs: number,
  what = 'a condition',
  intervalMs = 10,
): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
