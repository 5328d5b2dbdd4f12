import { SkillplaneError, TimeoutError } from '../errors/index.js';
import type { ErrorData } from '../errors/index.js';

/**
 * Why a model call failed, finer than the error code; stable strings in `data.reason`.
 * - `http_status`: a non-2xx status (`data.status`).
 * - `unreachable`: no HTTP answer at all (refused, reset, DNS); `data.status` is null.
 * - `gateway_page`: a 502/503/504 whose body is not JSON (an HTML page from a proxy).
 * - `error_body`: an HTTP 2xx answer carrying an `error` member (LM Studio with no model loaded).
 * - `stream_error`: an `error` event or chunk in a stream.
 * - `no_choices`: a 2xx answer or a finished stream without any choice.
 * - `malformed_json`: a body or a stream chunk that is not JSON.
 * - `stream_truncated`: the connection closed before `[DONE]` and before any finish reason.
 */
export type ModelErrorReason =
  | 'http_status'
  | 'unreachable'
  | 'gateway_page'
  | 'error_body'
  | 'stream_error'
  | 'no_choices'
  | 'malformed_json'
  | 'stream_truncated';

/** Details of a {@link ModelError}. */
export interface ModelErrorDetails {
  /** The HTTP status received; null when none was. */
  status: number | null;
  backend: string;
  reason?: ModelErrorReason;
  /**
   * Whether another attempt may succeed, when the client knows better than the status does
   * (copied to `data.retryable`, which the runtime's step retries honour).
   */
  retryable?: boolean;
  cause?: unknown;
}

function modelErrorData(details: ModelErrorDetails): ErrorData {
  const data: ErrorData = { status: details.status, backend: details.backend };
  if (details.reason !== undefined) data.reason = details.reason;
  if (details.retryable !== undefined) data.retryable = details.retryable;
  return data;
}

/**
 * A model backend refused or failed a request: a non-retryable HTTP status, retries exhausted,
 * an unreachable server or a malformed answer. `status` is null when no HTTP status was received;
 * `data.reason` says which ({@link ModelErrorReason}).
 */
export class ModelError extends SkillplaneError {
  readonly status: number | null;
  readonly backend: string;
  readonly reason: ModelErrorReason | undefined;
  constructor(
    message: string,
    details: ModelErrorDetails,
    code: 'model_error' | 'model_unavailable' = 'model_error',
  ) {
    super(code, message, {
      data: modelErrorData(details),
      ...(details.cause === undefined ? {} : { cause: details.cause }),
    });
    this.status = details.status;
    this.backend = details.backend;
    this.reason = details.reason;
  }
}

/**
 * Code `model_unavailable`: something in front of the model server (a reverse proxy, a gateway)
 * answered 502/503/504 with a page that is not an OpenAI-style JSON error. Retried like any 5xx.
 */
export class ModelUnavailableError extends ModelError {
  constructor(message: string, details: Omit<ModelErrorDetails, 'reason'>) {
    super(message, { ...details, reason: 'gateway_page' }, 'model_unavailable');
  }
}

/**
 * Code `model_timeout`: a stream that had started went silent (no bytes) for longer than the
 * backend's `timeout_sec`. A `TimeoutError`, so `timeoutMs` is set; `data` adds `backend`.
 */
export class ModelTimeoutError extends TimeoutError {
  override readonly code: string = 'model_timeout';
  override readonly data: ErrorData;
  readonly backend: string;
  constructor(message: string, details: { timeoutMs: number; backend: string }) {
    super(message, details.timeoutMs);
    this.backend = details.backend;
    this.data = { timeout_ms: details.timeoutMs, backend: details.backend };
  }
}

/** No backend of that name is configured under `models`. */
export class ModelNotFoundError extends SkillplaneError {
  constructor(name: string, available: string[]) {
    super('model_not_found', `model backend not found: ${name}`, { data: { model: name, available } });
  }
}
