import { z } from 'zod';
import { runRequestSchema } from '../agents/index.js';
import { optaLegacyRunBodySchema, optaRunBodySchema } from '../interop/index.js';
import { PRIORITIES, RUN_STATUSES } from '../vocabulary/index.js';
import { auditEntrySchema } from './audit-schemas.js';

/*
 * Every request and response body of the HTTP API, as zod schemas. The OpenAPI document at
 * `/openapi.json` is generated from these. Request bodies are strict (unknown fields are refused
 * with their path); response objects are loose, so a new store field never breaks a response.
 */

const runStatus = z.enum(RUN_STATUSES);
const priority = z.enum(PRIORITIES);

// The problem document and the error answers of every operation (re-exported for the routes).
export { PROBLEM_MEDIA_TYPE, problemResponses, problemSchema, type ProblemStatus } from './problems.js';
// The skill catalogue and the system routes' bodies live beside these (re-exported for the routes).
export * from './catalog-schemas.js';

// ---------------------------------------------------------------------------------------- runs

/** Our own run-creation body: the runtime's request plus `idempotency_key`. */
export const nativeRunBodySchema = z.strictObject({
  ...runRequestSchema.shape,
  priority: priority.optional(),
  idempotency_key: z.string().min(1).max(256).optional(),
});

/** Any accepted run-creation body (validated against the one its shape selects). */
export const createRunBodySchema = z
  .union([nativeRunBodySchema, optaRunBodySchema, optaLegacyRunBodySchema])
  .meta({ id: 'CreateRunBody' });

export type NativeRunBody = z.infer<typeof nativeRunBodySchema>;
export type CreateRunBody = z.infer<typeof createRunBodySchema>;

/** Picks the schema a run body is validated against, so errors name the fields of that shape. */
export function selectRunBodySchema(data: unknown): z.ZodType {
  if (typeof data === 'object' && data !== null && !Array.isArray(data)) {
    const body = data as Record<string, unknown>;
    if ('request' in body) return optaRunBodySchema;
    const input = body.input;
    if (typeof input === 'object' && input !== null && !Array.isArray(input)) return optaLegacyRunBodySchema;
  }
  return nativeRunBodySchema;
}

export const createRunQuerySchema = z.strictObject({
  /** Wait up to this many seconds for the run to settle (200) before answering 202. */
  wait: z.coerce
    .number()
    .min(0)
    .max(300)
    .optional()
    .describe(
      'Wait up to this many seconds for the run to settle (then 200 with its steps) before answering 202',
    ),
});

/** A structured error stored on a failed run or step (`StoredError`). */
export const runErrorSchema = z
  .looseObject({
    code: z.string().describe('The stable error code (`model_error`, `budget_exhausted`, `timeout`, …)'),
    message: z.string(),
    data: z.record(z.string(), z.unknown()).optional().describe('Details of the error, by code'),
  })
  .meta({ id: 'RunError' });

/** Something a completed run's result carries besides its answer (a truncated model answer, …). */
export const runWarningSchema = z
  .looseObject({
    code: z.string().describe('`truncated`, …'),
    message: z.string(),
    step_key: z.string().optional().describe('The step the warning is about'),
    agent: z.string().optional(),
  })
  .meta({ id: 'RunWarning' });

/** What a completed run answered: the final text plus what its strategy adds. */
export const runResultSchema = z
  .looseObject({
    output: z.string().describe('The final answer'),
    agent: z.string().optional().describe('single, router, handoff: the agent that gave the answer'),
    handoffs: z.array(z.string()).optional().describe('handoff: the agents the conversation passed through'),
    routed_by: z.string().optional().describe('router: how the agent was chosen (`rule` or `agent`)'),
    outputs: z
      .record(z.string(), z.string().nullable())
      .optional()
      .describe('parallel_map, sequence: each branch’s or agent’s answer (`null`: the branch failed)'),
    branches: z
      .array(
        z.looseObject({
          label: z.string(),
          agent: z.string(),
          ok: z.boolean(),
          output: z.string().optional(),
          error: runErrorSchema.optional(),
        }),
      )
      .optional()
      .describe('parallel_map: every branch, in item order'),
    roles: z.record(z.string(), z.unknown()).optional().describe('Opta-LMX runs: `outputs` by role'),
    warnings: z.array(runWarningSchema).optional(),
  })
  .meta({ id: 'RunResult' });

const usageSchema = z.looseObject({
  steps: z.number(),
  input_tokens: z.number(),
  output_tokens: z.number(),
  cost_usd: z.number(),
});

export const stepSchema = z
  .looseObject({
    run_id: z.string(),
    seq: z.number().int(),
    key: z.string(),
    parent_seq: z.number().int().nullable(),
    branch: z.string(),
    kind: z.string(),
    name: z.string(),
    input: z.unknown(),
    output: z.unknown(),
    status: z.string(),
    attempt: z.number().int(),
    error: runErrorSchema.nullable(),
    started_at: z.string(),
    finished_at: z.string().nullable(),
    /** Opta: the role (agent or branch) of the step. */
    role: z.string(),
    /** Opta: the step's position (= seq). */
    order: z.number().int(),
  })
  .extend({
    // A step of an Opta-shaped run (see Run): its error as text, ours in `error_detail`.
    error: z.union([runErrorSchema, z.string()]).nullable(),
    error_detail: runErrorSchema.nullable().optional(),
    id: z.string().optional().describe('Opta-shaped runs: `<run_id>:<seq>`'),
    completed_at: z.string().nullable().optional().describe('Opta-shaped runs: = finished_at'),
  })
  .meta({ id: 'Step' });

/** What Opta-LMX's clients read back in `request` of a run an Opta body created. */
const optaRequestEchoSchema = z
  .looseObject({
    strategy: z.string(),
    prompt: z.string(),
    roles: z.array(z.string()),
    model: z.string(),
    priority,
    metadata: z.record(z.string(), z.unknown()),
    traceparent: z.string().nullable(),
    tracestate: z.string().nullable(),
    submitted_by: z.string().nullable(),
    approval_required: z.boolean(),
  })
  .meta({ id: 'OptaRequestEcho' });

export const runSchema = z
  .looseObject({
    id: z.string(),
    agent: z.string(),
    strategy: z.string(),
    input: z.unknown(),
    priority,
    status: runStatus,
    idempotency_key: z.string().nullable(),
    principal: z.string().nullable(),
    trace_id: z.string(),
    traceparent: z.string(),
    limits: z.looseObject({}),
    usage: usageSchema,
    result: z
      .union([runResultSchema, z.string(), z.record(z.string(), z.unknown())])
      .nullable()
      .describe(
        'The answer of a completed run, else `null`. Opta-shaped runs (created from an Opta-LMX body): ' +
          'the final text (`handoff`, one role) or `{role: output}` (`router`, `parallel_map`); ours is in `result_detail`',
      ),
    error: z
      .union([runErrorSchema, z.string()])
      .nullable()
      .describe(
        'Why a failed (or cancelled) run ended, else `null`. Opta-shaped runs (an Opta-LMX body, or every run ' +
          'under `api.compat: opta-lmx`): its message as text, the structured error in `error_detail`',
      ),
    object: z.literal('agent.run').optional().describe('Opta-shaped runs'),
    request: optaRequestEchoSchema.optional().describe('Opta-shaped runs: the request as Opta-LMX reads it'),
    output: z.unknown().optional().describe('Opta-shaped runs: = result'),
    result_detail: runResultSchema.nullable().optional().describe('Opta-shaped runs: our result'),
    error_detail: runErrorSchema.nullable().optional().describe('Opta-shaped runs: our structured error'),
    checkpoint: z.number().int(),
    metadata: z.record(z.string(), z.unknown()),
    created_at: z.string(),
    updated_at: z.string(),
    started_at: z.string().nullable(),
    finished_at: z.string().nullable(),
    /** Opta: = checkpoint. */
    checkpoint_pointer: z.number().int(),
    /** Opta: = input + output tokens. */
    tokens_used: z.number(),
    /** Opta: = usage.cost_usd. */
    estimated_cost_usd: z.number(),
    links: z.strictObject({ self: z.string(), events: z.string(), cancel: z.string() }),
    steps: z.array(stepSchema).optional(),
    audit: z
      .array(auditEntrySchema)
      .optional()
      .describe('A run’s detail, for a caller with `audit:read`: its newest 100 audit entries, newest first'),
  })
  .meta({ id: 'Run' });

/** Request headers of run creation. */
export const createRunHeadersSchema = z.looseObject({
  'idempotency-key': z
    .string()
    .max(256)
    .optional()
    .describe(
      'Creating again with the same key (per principal) returns the same run with `Idempotent-Replayed: true` ' +
        'instead of a new one; a different body with a used key is `idempotency_conflict` (409). ' +
        'Same as the body field `idempotency_key`, which it overrides.',
    ),
  'x-priority': z
    .string()
    .optional()
    .describe('`interactive`, `normal` or `batch` (also `high`, `low`) when the body names no priority'),
});

export const runPageSchema = z.looseObject({
  runs: z.array(runSchema),
  next_cursor: z.string().nullable(),
  object: z
    .literal('list')
    .optional()
    .describe('Opta-LMX’s envelope (with `offset`, or `api.compat: opta-lmx`)'),
  data: z.array(runSchema).optional().describe('Opta-LMX’s envelope: = runs'),
  total: z.number().int().optional().describe('Opta-LMX’s envelope: every run the filters match'),
});

const statusList = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .describe(`one of ${RUN_STATUSES.join(', ')}; several comma-separated or repeated`);

export const listRunsQuerySchema = z.strictObject({
  status: statusList,
  agent: z.string().min(1).optional().describe('Only runs of this agent'),
  priority: priority.optional().describe('Only runs of this priority'),
  created_after: z.iso.datetime({ offset: true }).optional().describe('Only runs created after this time'),
  limit: z.coerce.number().int().min(1).max(500).optional().describe('Most runs in the page (default 50)'),
  cursor: z.string().min(1).optional().describe('The `next_cursor` of the previous page'),
  offset: z.coerce
    .number()
    .int()
    .min(0)
    .max(1_000_000)
    .optional()
    .describe('Opta-LMX’s paging: skip this many runs (the answer adds `object`, `data` and `total`)'),
});

export const runIdParamsSchema = z.strictObject({ id: z.string().min(1).max(200).describe('The run id') });

// ---------------------------------------------------------------------------------------- events

export const eventsQuerySchema = z.strictObject({
  /** Resume after this event seq (like `Last-Event-ID`). */
  after: z.coerce
    .number()
    .int()
    .min(0)
    .optional()
    .describe('Resume after this event seq (like `Last-Event-ID`)'),
  admin_key: z
    .string()
    .min(1)
    .max(512)
    .optional()
    .describe(
      'Under `api.compat: opta-lmx` only: the API key, for browsers’ EventSource (which cannot send headers), ' +
        'as Opta-LMX’s dashboard sends it',
    ),
  x_admin_key: z.string().min(1).max(512).optional().describe('Opta-LMX’s older name of `admin_key`'),
});

/** Request headers of an event stream. */
export const eventStreamHeadersSchema = z.looseObject({
  'last-event-id': z
    .string()
    .optional()
    .describe('Resume after this event: the `id` of the last event received'),
});

export const multiEventsQuerySchema = z.strictObject({
  run_id: z
    .union([z.string().min(1), z.array(z.string().min(1)).min(1).max(100)])
    .describe('The runs to follow (up to 100): repeated or comma-separated'),
});

// ---------------------------------------------------------------------------------------- approvals

export const approvalSchema = z
  .looseObject({
    id: z.string(),
    run_id: z.string(),
    /** `skill`: one risk-tagged skill call; `run`: the whole run, before it starts (`skill_id` empty). */
    kind: z.enum(['skill', 'run']),
    step_key: z.string(),
    skill_id: z.string(),
    args: z.unknown(),
    risk_tags: z.array(z.string()),
    status: z.enum(['pending', 'approved', 'denied', 'expired']),
    decided_by: z.string().nullable(),
    reason: z.string().nullable(),
    created_at: z.string(),
    decided_at: z.string().nullable(),
    expires_at: z.string().nullable(),
  })
  .meta({ id: 'Approval' });

export const listApprovalsQuerySchema = z.strictObject({
  status: z
    .enum(['pending', 'approved', 'denied', 'expired'])
    .optional()
    .describe('Only approvals in this state'),
  run_id: z.string().min(1).optional().describe('Only approvals of this run'),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(500)
    .optional()
    .describe('Most approvals to return (default 100)'),
});

export const decideBodySchema = z.strictObject({
  decision: z.enum(['approve', 'deny']),
  reason: z.string().max(2000).optional(),
});

export const approvalIdParamsSchema = z.strictObject({
  id: z.string().min(1).max(200).describe('The approval id'),
});
