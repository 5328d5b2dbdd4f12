import { z } from 'zod';
import { SkillExecutionError, type ErrorData, type SkillplaneError } from '../errors/index.js';
import { findJsonLimitViolation } from '../limits/index.js';

/** Largest serialised job payload accepted on either side (the skill input is limited before). */
export const MAX_PAYLOAD_BYTES = 8 * 1024 * 1024;

const traceparent = z.string().regex(/^[\da-f]{2}-[\da-f]{32}-[\da-f]{16}-[\da-f]{2}$/);

/**
 * One skill call sent to the worker plane: plain JSON, validated by the API node before it is
 * queued and by the worker before it runs anything (the worker trusts no queue content).
 */
export const jobPayloadSchema = z.strictObject({
  /** Format version of this payload. */
  v: z.literal(1),
  /** The run the call belongs to (`null` for a direct call: REST, MCP, CLI). */
  run_id: z.string().min(1).max(200).nullable(),
  /** The step's seq in the run's journal (`null` for a direct call). */
  step_seq: z.number().int().min(0).nullable(),
  /** The journal's attempt number of the step (1-based). */
  attempt: z.number().int().min(1).max(1_000_000),
  /** `id@version` of the skill: the worker runs exactly this version or refuses. */
  skill: z.string().min(3).max(300),
  input: z.unknown(),
  /** Epoch ms after which the call is worthless: the worker does not start it and stops it. */
  deadline: z.number().int().positive(),
  /** W3C trace context of the caller. */
  traceparent: traceparent.optional(),
  tracestate: z.string().max(512).optional(),
  /** `<run id>:<step seq>` for steps (stable across retries, workers and crashes), else the caller's. */
  idempotency_key: z.string().min(1).max(512),
  /** Who asked. */
  principal: z.string().max(200).nullable(),
  /** The approval that lets a risk-tagged skill run (checked again by the worker's policy). */
  approval: z
    .strictObject({
      id: z.string().max(200).optional(),
      approved_by: z.string().min(1).max(200),
      reason: z.string().max(2000).optional(),
    })
    .optional(),
  /** Where the call came from (the audit entry's door). */
  door: z.enum(['http', 'openclaw', 'mcp', 'run', 'cli', 'workflow']),
});

/** A validated job payload. */
export type JobPayload = z.infer<typeof jobPayloadSchema>;

/** A serialised skill error, as a failed job carries it. */
export const jobErrorSchema = z.object({
  code: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/),
  message: z.string().max(8000),
  data: z.record(z.string(), z.unknown()).optional(),
});

/** What a worker returns for a job: the skill's output (validated by the API node again). */
export const jobResultSchema = z.strictObject({
  output: z.unknown(),
  /** The worker that ran it. */
  worker: z.string().max(200),
  duration_ms: z.number().min(0),
});

/** A validated job result. */
export type JobResult = z.infer<typeof jobResultSchema>;

/**
 * Checks a payload: the schema, then the size (`MAX_PAYLOAD_BYTES`). Throws `worker_payload_invalid`
 * naming the first problem.
 */
export function parseJobPayload(raw: unknown): JobPayload {
  const r = jobPayloadSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new SkillExecutionError(
      `job payload refused: ${issue === undefined ? 'invalid' : `${issue.path.join('.') || '(root)'}: ${issue.message}`}`,
      'worker_payload_invalid',
      { data: { retryable: false } },
    );
  }
  const v = findJsonLimitViolation(r.data, {
    maxDepth: 200,
    maxStringLength: MAX_PAYLOAD_BYTES,
    maxBytes: MAX_PAYLOAD_BYTES,
  });
  if (v !== undefined)
    throw new SkillExecutionError(`job payload refused: ${v.message}`, 'worker_payload_invalid', {
      data: { retryable: false },
    });
  return r.data;
}

/**
 * The error a job failed with, as a `SkillplaneError` with its stable code. BullMQ keeps only a
 * failed job's message, so the worker encodes `{code, message, data}` as JSON in it; anything
 * else (a worker that crashed, a foreign producer) is `skill_failed` with the raw text.
 */
export function decodeJobError(failedReason: string | undefined, extra: ErrorData = {}): SkillplaneError {
  const text = failedReason ?? 'the job failed without a reason';
  try {
    const parsed = jobErrorSchema.safeParse(JSON.parse(text));
    if (parsed.success)
      return new SkillExecutionError(parsed.data.message, parsed.data.code, {
        data: { ...(parsed.data.data ?? {}), ...extra },
      });
  } catch {
    // not ours
  }
  return new SkillExecutionError(text.slice(0, 2000), 'skill_failed', { data: extra });
}

/** Encodes an error for a job's failure reason (see {@link decodeJobError}). */
export function encodeJobError(err: SkillplaneError): string {
  const data = err.data === undefined ? undefined : jsonSafe(err.data);
  return JSON.stringify({
    code: err.code,
    message: err.message.slice(0, 8000),
    ...(data === undefined ? {} : { data }),
  });
}

function jsonSafe(data: ErrorData): Record<string, unknown> | undefined {
  try {
    const s = JSON.stringify(data);
    return s.length > 16_000 ? undefined : (JSON.parse(s) as Record<string, unknown>);
  } catch {
    return undefined;
  }
}
