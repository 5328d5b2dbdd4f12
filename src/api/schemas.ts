import { z } from 'zod';
import { runRequestSchema } from '../agents/index.js';
import { optaLegacyRunBodySchema, optaRunBodySchema } from '../interop/index.js';
import { PRIORITIES, RUN_STATUSES } from '../vocabulary/index.js';

/*
 * Every request and response body of the HTTP API, as zod schemas. The OpenAPI document at
 * `/openapi.json` is generated from these. Request bodies are strict (unknown fields are refused
 * with their path); response objects are loose, so a new store field never breaks a response.
 */

const runStatus = z.enum(RUN_STATUSES);
const priority = z.enum(PRIORITIES);

/** A problem document (`application/problem+json`). */
export const problemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    detail: z.string(),
    code: z.string(),
    request_id: z.string().optional(),
    issues: z.array(z.looseObject({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem' });

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
  wait: z.coerce.number().min(0).max(300).optional(),
});

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
    error: z.unknown(),
    started_at: z.string(),
    finished_at: z.string().nullable(),
    /** Opta: the role (agent or branch) of the step. */
    role: z.string(),
    /** Opta: the step's position (= seq). */
    order: z.number().int(),
  })
  .meta({ id: 'Step' });

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
    result: z.unknown(),
    error: z.unknown(),
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
  })
  .meta({ id: 'Run' });

export const runPageSchema = z.looseObject({
  runs: z.array(runSchema),
  next_cursor: z.string().nullable(),
});

const statusList = z
  .union([z.string(), z.array(z.string())])
  .optional()
  .describe(`one of ${RUN_STATUSES.join(', ')}; several comma-separated or repeated`);

export const listRunsQuerySchema = z.strictObject({
  status: statusList,
  agent: z.string().min(1).optional(),
  priority: priority.optional(),
  created_after: z.iso.datetime({ offset: true }).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
  cursor: z.string().min(1).optional(),
});

export const runIdParamsSchema = z.strictObject({ id: z.string().min(1).max(200) });

// ---------------------------------------------------------------------------------------- events

export const eventsQuerySchema = z.strictObject({
  /** Resume after this event seq (like `Last-Event-ID`). */
  after: z.coerce.number().int().min(0).optional(),
});

export const multiEventsQuerySchema = z.strictObject({
  run_id: z.union([z.string().min(1), z.array(z.string().min(1)).min(1).max(100)]),
});

// ---------------------------------------------------------------------------------------- approvals

export const approvalSchema = z
  .looseObject({
    id: z.string(),
    run_id: z.string(),
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
  status: z.enum(['pending', 'approved', 'denied', 'expired']).optional(),
  run_id: z.string().min(1).optional(),
  limit: z.coerce.number().int().min(1).max(500).optional(),
});

export const decideBodySchema = z.strictObject({
  decision: z.enum(['approve', 'deny']),
  reason: z.string().max(2000).optional(),
});

export const approvalIdParamsSchema = z.strictObject({ id: z.string().min(1).max(200) });

// ---------------------------------------------------------------------------------------- skills

export const skillSummarySchema = z
  .looseObject({
    id: z.string(),
    version: z.string(),
    ref: z.string(),
    tool_name: z.string(),
    kind: z.string(),
    description: z.string(),
    tags: z.array(z.string()),
    risk_tags: z.array(z.string()),
    requires_approval: z.boolean(),
    execution: z.string(),
  })
  .meta({ id: 'SkillSummary' });

export const skillDetailSchema = skillSummarySchema
  .extend({
    versions: z.array(z.string()),
    input_schema: z.record(z.string(), z.unknown()),
    output_schema: z.record(z.string(), z.unknown()).nullable(),
    manifest: z.record(z.string(), z.unknown()),
  })
  .meta({ id: 'SkillDetail' });

export const listSkillsQuerySchema = z.strictObject({
  namespace: z.string().min(1).optional(),
  kind: z.enum(['tool', 'prompt', 'workflow']).optional(),
  tag: z.string().min(1).optional(),
  /** Every version, not only the latest of each id. */
  all_versions: z.enum(['true', 'false']).optional(),
});

export const skillIdParamsSchema = z.strictObject({ id: z.string().min(1).max(300) });

/** Ours `{input, approval?}` or Opta's `{arguments, approved, timeout_sec}`. */
export const executeSkillBodySchema = z
  .strictObject({
    input: z.unknown().optional(),
    approval: z.strictObject({ approved: z.boolean(), reason: z.string().max(2000).optional() }).optional(),
    /** Opta: the input as an object or a JSON string. */
    arguments: z.union([z.record(z.string(), z.unknown()), z.string()]).optional(),
    /** Opta: the caller approves a risk-tagged skill. */
    approved: z.boolean().optional(),
    /** Opta: a deadline shorter than the skill's own. */
    timeout_sec: z.number().positive().max(3600).optional(),
  })
  .meta({ id: 'ExecuteSkillBody' });

export const executeSkillResponseSchema = z
  .looseObject({
    skill: z.string(),
    output: z.unknown(),
    duration_ms: z.number(),
    ok: z.boolean(),
    error: z.unknown().nullable(),
    timed_out: z.boolean(),
    denied: z.boolean(),
    requires_approval: z.boolean(),
    approved_by: z.string().nullable(),
  })
  .meta({ id: 'ExecuteSkillResult' });

export const reloadResponseSchema = z.looseObject({
  skills: z.number().int(),
  errors: z.array(z.unknown()),
});

// ---------------------------------------------------------------------------------------- system

export const agentsResponseSchema = z.looseObject({
  agents: z.array(
    z.looseObject({
      name: z.string(),
      description: z.string(),
      model: z.string(),
      skills: z.array(z.string()),
      handoffs: z.array(z.string()),
    }),
  ),
});

export const healthSchema = z.looseObject({ status: z.string() });

export const workersResponseSchema = z.looseObject({
  enabled: z.boolean(),
  executor: z.string(),
  workers: z.array(z.unknown()),
});
