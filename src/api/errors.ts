import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { SkillplaneError, ValidationError, toSkillplaneError, type Issue } from '../errors/index.js';
import { optaErrorMember } from '../interop/index.js';

/**
 * The one map from error codes to HTTP statuses. `unknown_agent` is a 400, not a 404: the agent is
 * named in the request body, so the request is what is wrong, not the URL.
 */
const STATUS_BY_CODE: Readonly<Record<string, number>> = {
  validation_failed: 400,
  invalid_request: 400,
  input_invalid: 400,
  unknown_agent: 400,
  unknown_model: 400,
  invalid_cursor: 400,
  invalid_input_json: 400,
  invalid_idempotency_key: 400,
  plan_exceeds_max_steps: 400,
  unauthorized: 401,
  permission_denied: 403,
  approval_required: 403,
  approval_denied: 403,
  forbidden: 403,
  forbidden_host: 403,
  forbidden_origin: 403,
  not_found: 404,
  model_not_found: 404,
  route_not_found: 404,
  method_not_allowed: 405,
  request_timeout: 408,
  conflict: 409,
  idempotency_conflict: 409,
  ambiguous_skill: 409,
  already_terminal: 409,
  already_decided: 409,
  invalid_transition: 409,
  cancelled: 409,
  worker_plane_disabled: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  headers_too_large: 431,
  budget_exhausted: 422,
  queue_full: 429,
  rate_limited: 429,
  model_rate_limited: 429,
  too_many_streams: 429,
  too_many_sessions: 429,
  model_unavailable: 502,
  model_error: 502,
  shutting_down: 503,
  store_unavailable: 503,
  store_busy: 503,
  store_corrupt: 503,
  models_unavailable: 503,
  worker_unavailable: 503,
  ui_not_built: 503,
  timeout: 504,
  model_timeout: 504,
};

/** Codes answered with `Retry-After` (from `data.retry_after_ms`, default 1 s). */
const RETRY_CODES = new Set([
  'queue_full',
  'rate_limited',
  'shutting_down',
  'too_many_streams',
  'too_many_sessions',
  'worker_unavailable',
]);

/** Codes whose message may reveal internals: the client sees a generic detail instead. */
const HIDDEN_CODES = new Set(['internal_error']);

/** The HTTP status of an error code (500 for codes not in the map). */
export function statusForCode(code: string): number {
  return STATUS_BY_CODE[code] ?? 500;
}

/** An RFC 9457 problem document with skillplane's stable `code` and the error's data fields. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  issues?: Issue[];
  request_id?: string;
  [field: string]: unknown;
}

const TITLES: Readonly<Record<number, string>> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  431: 'Request Header Fields Too Large',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Builds the problem document of an error; internal errors keep their message to the log. */
export function toProblem(err: SkillplaneError, requestId?: string): Problem {
  const status = statusForCode(err.code);
  const hidden = HIDDEN_CODES.has(err.code);
  const data = hidden ? {} : { ...(err.data ?? {}) };
  // `data` may not override the problem's own members.
  for (const k of ['type', 'title', 'status', 'detail', 'code', 'request_id', 'error']) delete data[k];
  const detail = hidden ? 'internal error' : err.message;
  return {
    ...data,
    type: `https://skillplane.dev/problems/${err.code.replace(/_/g, '-')}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail,
    code: err.code,
    ...(requestId === undefined ? {} : { request_id: requestId }),
    // Opta-LMX's clients read `error.code` (and `error.message`) of an error body.
    error: optaErrorMember(err.code, detail, status),
  };
}

/** Maps Fastify's own errors (body limit, bad JSON, validation, …) onto our codes. */
export function fromFastifyError(err: FastifyError): SkillplaneError {
  if (err instanceof SkillplaneError) return err;
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return new SkillplaneError('payload_too_large', 'request body is larger than the server accepts');
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE':
      return new SkillplaneError('unsupported_media_type', err.message);
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
      return new ValidationError(
        'request body is not valid JSON',
        [{ path: '', message: err.message }],
        'invalid_request',
      );
    default:
      break;
  }
  if (err.validation !== undefined) {
    const issues = err.validation.map((v) => ({
      path: v.instancePath.replace(/^\//, '').replace(/\//g, '.'),
      message: v.message ?? 'invalid',
    }));
    return new ValidationError('invalid request', issues, 'invalid_request');
  }
  if (err instanceof SyntaxError)
    return new ValidationError(
      'request body is not valid JSON',
      [{ path: '', message: err.message }],
      'invalid_request',
    );
  const status = err.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    const code = status === 404 ? 'not_found' : status === 413 ? 'payload_too_large' : 'invalid_request';
    return new SkillplaneError(code, err.message);
  }
  return toSkillplaneError(err);
}

/** Sends an error as `application/problem+json`. */
export function sendProblem(reply: FastifyReply, err: SkillplaneError): FastifyReply {
  const problem = toProblem(err, reply.request.id);
  if (RETRY_CODES.has(err.code)) {
    const ms = typeof err.data?.retry_after_ms === 'number' ? err.data.retry_after_ms : 1000;
    if (!reply.hasHeader('retry-after'))
      void reply.header('retry-after', String(Math.max(1, Math.ceil(ms / 1000))));
  }
  if (problem.status === 401 && !reply.hasHeader('www-authenticate'))
    void reply.header('www-authenticate', 'Bearer');
  return reply.status(problem.status).type('application/problem+json').send(problem);
}

/**
 * Installs the error and not-found handlers on the root instance; encapsulated plugins registered
 * later inherit them. A stack trace never reaches the client.
 */
export function installErrorHandler(fastify: FastifyInstance): void {
  fastify.setErrorHandler((raw: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    const err = fromFastifyError(raw);
    const status = statusForCode(err.code);
    // A 503 is a known, passing condition (a broker or store away, shutting down), said once by its
    // owner: a warning per request without a stack; anything else 5xx is an error with one.
    if (status === 503) request.log.warn({ code: err.code, detail: err.message }, 'request refused');
    else if (status >= 500) request.log.error({ err: raw, code: err.code }, 'request failed');
    else request.log.debug({ code: err.code }, err.message);
    return sendProblem(reply, err);
  });
  fastify.setNotFoundHandler((request: FastifyRequest, reply: FastifyReply) =>
    sendProblem(
      reply,
      new SkillplaneError('not_found', `no route ${request.method} ${request.url.split('?')[0]}`),
    ),
  );
}
