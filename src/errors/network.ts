/*
 * Why a `fetch` threw, in words — one table for every caller (the API client, the model client,
 * the readiness probe): undici says only `fetch failed` and keeps the system error (or an
 * AggregateError of one per address) in `cause`.
 */

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host not found',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  UND_ERR_SOCKET: 'connection closed',
};

/**
 * Why `fetch` threw, in words: undici says only `fetch failed` and keeps the system error (or an
 * AggregateError of one per address) in `cause`.
 */
export function describeNetworkFailure(err: unknown): { reason: string; errno?: string } {
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 5; depth++) {
    const candidates = e instanceof AggregateError ? [e, ...(e.errors as unknown[])] : [e];
    for (const c of candidates) {
      const code = (c as { code?: unknown }).code;
      if (typeof code === 'string' && NETWORK_REASONS[code] !== undefined)
        return { reason: NETWORK_REASONS[code], errno: code };
    }
    e = e.cause;
  }
  // No system code: the innermost message says most (`bad port`, not `fetch failed`).
  let inner: unknown = err;
  for (let depth = 0; inner instanceof Error && inner.cause instanceof Error && depth < 5; depth++)
    inner = inner.cause;
  return { reason: inner instanceof Error ? inner.message : String(inner) };
}
