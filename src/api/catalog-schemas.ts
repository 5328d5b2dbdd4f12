import { z } from 'zod';

/*
 * The bodies of the skill catalogue (list, show, execute, reload) and the system routes (agents,
 * health, readiness, OpenAPI, workers). Part of the HTTP API's schemas (`schemas.ts` re-exports
 * them): request bodies strict, response objects loose.
 */

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
    idempotent: z.boolean().meta({
      description:
        'false: a call in flight at a crash is settled as interrupted instead of run again, and failed calls are not retried',
    }),
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
  namespace: z.string().min(1).optional().describe('Only skills of this namespace (`acme`)'),
  kind: z.enum(['tool', 'prompt', 'workflow']).optional().describe('Only skills of this kind'),
  tag: z.string().min(1).optional().describe('Only skills with this tag'),
  /** Every version, not only the latest of each id. */
  all_versions: z
    .enum(['true', 'false'])
    .optional()
    .describe('`true`: every version, not only the latest of each id'),
});

export const skillIdParamsSchema = z.strictObject({
  id: z
    .string()
    .min(1)
    .max(300)
    .describe('The skill id, percent-encoded, optionally with `@version` or a range'),
});

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
    error: z.null().describe('Always `null` here: a failed call answers a problem document with `ok: false`'),
    timed_out: z.boolean(),
    denied: z.boolean(),
    requires_approval: z.boolean(),
    approved_by: z.string().nullable(),
  })
  .meta({ id: 'ExecuteSkillResult' });

/** A skill that failed to load: the file, the field and why. */
export const skillLoadErrorSchema = z
  .object({
    file: z.string(),
    path: z.string().describe('Dotted path of the field (empty: the whole file)'),
    message: z.string(),
    line: z.number().int().optional(),
    code: z.string().optional().describe('Stable kind of problem, e.g. `manifest_invalid`, `yaml_syntax`'),
  })
  .meta({ id: 'SkillLoadError' });

export const reloadResponseSchema = z.looseObject({
  skills: z.number().int(),
  errors: z.array(skillLoadErrorSchema),
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

/** One model backend's answer to the readiness probe (`GET /models`). */
const backendHealthSchema = z.object({
  backend: z.string().describe('The backend’s key under `models`'),
  ok: z.boolean(),
  status: z.number().int().optional().describe('The HTTP status, when the server answered'),
  reason: z.string().optional().describe('Why it is down'),
  detail: z.string().optional(),
  latency_ms: z.number(),
});

export const readinessSchema = z.looseObject({
  status: z.string().describe('`ready`'),
  store: z.string().describe('The store driver'),
  models: z.array(backendHealthSchema).optional().describe('Each model backend, probed'),
  sandbox: z
    .looseObject({ kind: z.string(), description: z.string(), warnings: z.array(z.string()) })
    .describe('How tool skills are confined'),
});

export const openApiDocumentSchema = z.looseObject({
  openapi: z.string(),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.unknown()),
});

export const workersResponseSchema = z.looseObject({
  enabled: z.boolean(),
  executor: z.string(),
  workers: z.array(z.unknown()),
});
