/**
 * The timing a sandboxed child reported for its part of a call, checked against what the parent
 * saw: finite epoch milliseconds, start before end, clamped into the window between the call's
 * frame being sent and its result arriving (a child cannot place its span outside the call).
 * Returns `undefined` for anything else (no span is made from it).
 */
export function reportedSpanTiming(
  reported: unknown,
  window: { sentAt: number; receivedAt: number },
): { start: number; end: number } | undefined {
  if (reported === null || typeof reported !== 'object') return undefined;
  const { start_ms: start, end_ms: end } = reported as Record<string, unknown>;
  if (typeof start !== 'number' || typeof end !== 'number') return undefined;
  if (!Number.isFinite(start) || !Number.isFinite(end) || start > end) return undefined;
  const from = Math.min(Math.max(start, window.sentAt), window.receivedAt);
  const to = Math.min(Math.max(end, from), window.receivedAt);
  return { start: from, end: to };
}
