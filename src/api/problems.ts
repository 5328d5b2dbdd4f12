import { z } from 'zod';

/*
 * The problem document of the OpenAPI document and the error answers each operation lists. What
 * the server sends is built by `toProblem` in errors.ts; test/api/openapi.test.ts holds the two
 * together.
 */

/** The media type of every error answer of the API (RFC 9457). */
export const PROBLEM_MEDIA_TYPE = 'application/problem+json';

/** A problem document (`application/problem+json`, RFC 9457) with skillplane's stable `code`. */
export const problemSchema = z
  .looseObject({
    type: z.string().describe('A URI naming the kind of problem (`https://skillplane.dev/problems/<code>`)'),
    title: z.string().describe('The HTTP status phrase'),
    status: z.number().int().describe('The HTTP status code'),
    detail: z.string().describe('What went wrong, for a person'),
    code: z.string().describe('The stable error code to branch on (`invalid_request`, `not_found`, …)'),
    request_id: z.string().optional().describe('The `x-request-id` of the request'),
    issues: z
      .array(
        z.looseObject({
          path: z.string().describe('Dotted path of the field (empty: the whole request)'),
          message: z.string(),
        }),
      )
      .optional()
      .describe('Each problem of a refused request, by field'),
    error: z
      .looseObject({ message: z.string(), type: z.string(), code: z.string() })
      .describe(
        'The same error as Opta-LMX’s clients read it (`error.code`: Opta’s name of the code, e.g. `queue_saturated`)',
      ),
  })
  .describe("An error; fields of the error's data (`retry_after_ms`, `scope`, …) may appear beside these")
  .meta({ id: 'Problem' });

/** What each error status of the API means, by the codes it carries. */
const PROBLEM_DESCRIPTIONS = {
  400: 'The request is invalid (`invalid_request`; `issues` names each field)',
  401: 'No valid API key (`unauthorized`); send `Authorization: Bearer <key>`',
  403: 'Refused: the key lacks the scope (`forbidden`), or the host or origin is not allowed',
  404: 'No such resource (`not_found`)',
  409: "Conflicts with the resource's state (`conflict`, `already_terminal`, `already_decided`, …)",
  413: 'The body is larger than the server accepts (`payload_too_large`)',
  415: 'The body is not JSON (`unsupported_media_type`)',
  422: 'The skill could not finish within its limits (`budget_exhausted`)',
  429: 'Too many requests (`rate_limited`, `queue_full`, `too_many_streams`); retry after `Retry-After`',
  500: 'The skill or the server failed (`skill_failed`, `internal_error`)',
  503: 'Not ready (`store_unavailable`, `store_corrupt`, `models_unavailable`, `shutting_down`)',
  504: 'The skill ran past its deadline (`timeout`)',
} as const;

/** An error status documented by {@link problemResponses}. */
export type ProblemStatus = keyof typeof PROBLEM_DESCRIPTIONS;

const retryAfterHeader = {
  'Retry-After': { type: 'integer', minimum: 1, description: 'Seconds to wait before retrying' },
};
const wwwAuthenticateHeader = {
  'WWW-Authenticate': { type: 'string', description: 'The authentication scheme: `Bearer`' },
};

/**
 * The documented error answers of an operation: one `application/problem+json` response per
 * status, and `default` for any other error (every error of the API is a problem document).
 */
export function problemResponses<S extends ProblemStatus>(...statuses: S[]) {
  const problem = (description: string, headers?: Record<string, object>) => ({
    description,
    content: { [PROBLEM_MEDIA_TYPE]: { schema: problemSchema } },
    ...(headers === undefined ? {} : { headers }),
  });
  const out = {} as Record<S | 'default', ReturnType<typeof problem>>;
  for (const status of statuses)
    out[status] = problem(
      PROBLEM_DESCRIPTIONS[status],
      status === 429 || status === 503
        ? retryAfterHeader
        : status === 401
          ? wwwAuthenticateHeader
          : undefined,
    );
  out.default = problem('Any other error');
  return out;
}
