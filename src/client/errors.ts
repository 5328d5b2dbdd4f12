import { SkillplaneError } from '../errors/index.js';

export { describeNetworkFailure } from '../errors/index.js';

/**
 * A non-2xx answer of the API. `code` is the problem document's stable code (or `http_<status>`
 * when the body is not a problem document), `data` the whole problem document.
 */
export class SkillplaneApiError extends SkillplaneError {
  /** HTTP status. */
  readonly status: number;
  /** The problem's `detail` (the human-readable reason). */
  readonly detail: string;
  /** From `Retry-After` (seconds or an HTTP date), when the server sent one. */
  readonly retryAfterMs: number | undefined;
  /** The server's `x-request-id`, to find the request in its log. */
  readonly requestId: string | undefined;

  constructor(
    status: number,
    code: string,
    detail: string,
    options: { data?: Record<string, unknown>; retryAfterMs?: number; requestId?: string } = {},
  ) {
    super(code, detail, options.data === undefined ? {} : { data: options.data });
    this.status = status;
    this.detail = detail;
    this.retryAfterMs = options.retryAfterMs;
    this.requestId = options.requestId;
  }
}

/**
 * The server could not be reached, or a connection dropped and reconnecting gave up. `data.url`
 * is the server, `data.reason` a short phrase (`connection refused`, `host not found`, …) and
 * `data.errno` the system code (`ECONNREFUSED`) when the network layer gave one.
 */
export class SkillplaneConnectionError extends SkillplaneError {
  constructor(message: string, cause?: unknown, data?: { url?: string; reason?: string; errno?: string }) {
    super('connection_failed', message, {
      ...(cause === undefined ? {} : { cause }),
      ...(data === undefined ? {} : { data }),
    });
  }
}

/** Milliseconds from a `Retry-After` value: delay-seconds or an HTTP date. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null) return undefined;
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Math.round(Number(v) * 1000);
  const at = Date.parse(v);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

/** Builds the error of a non-2xx response from its problem document (or whatever body it has). */
export async function apiErrorFrom(res: Response): Promise<SkillplaneApiError> {
  const text = await res.text().catch(() => '');
  let body: unknown;
  try {
    body = text === '' ? undefined : JSON.parse(text);
  } catch {
    body = undefined;
  }
  const problem =
    typeof body === 'object' && body !== null && !Array.isArray(body)
      ? (body as Record<string, unknown>)
      : undefined;
  const code = typeof problem?.code === 'string' ? problem.code : `http_${res.status}`;
  const detail =
    typeof problem?.detail === 'string'
      ? problem.detail
      : `${res.status} ${res.statusText}${text === '' || problem !== undefined ? '' : `: ${text.slice(0, 200)}`}`;
  const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'));
  const requestId = res.headers.get('x-request-id') ?? undefined;
  return new SkillplaneApiError(res.status, code, detail, {
    ...(problem === undefined ? {} : { data: problem }),
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
    ...(requestId === undefined ? {} : { requestId }),
  });
}
