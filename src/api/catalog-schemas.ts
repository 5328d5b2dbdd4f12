import { z } from 'zod';

/*
 * The bodies of the skill catalogue (list, show, execute, reload) and the system routes (agents,
 * health, readiness, OpenAPI, the worker plane and its dead letters). Part of the HTTP API's schemas (`schemas.ts` re-exports
 * them): request bodies strict, response objects loose.
 */

// ---------------------------------------------------------------------------------------- skills

export const skillSummarySchema = z
  .looseObject({
    id: z.string(),
    version: z.string(),
    ref: z.string(),
    name: z.string().describe('Opta-LMX: the name without its namespace'),
    namespace: z.string(),
    qualified_name: z.string().describe('Opta-LMX: = id'),
    reference: z.string().describe('Opta-LMX: = ref'),
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
  latest_only: z
    .enum(['true', 'false'])
    .optional()
    .describe('Opta-LMX’s name for the opposite of `all_versions` (`false`: every version)'),
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
  workers: z
    .looseObject({ ok: z.literal(true), broker: z.string().describe('The broker URL, password redacted') })
    .optional()
    .describe('The worker plane’s broker, when the plane is enabled'),
  bus: z
    .looseObject({
      driver: z.enum(['postgres', 'redis']),
      listening: z.boolean().describe('Other nodes’ run notifications and cancels reach this one'),
      detail: z.string().optional(),
    })
    .optional()
    .describe('The bus to the other API nodes sharing the store (PostgreSQL store or worker plane)'),
});

export const openApiDocumentSchema = z.looseObject({
  openapi: z.string(),
  info: z.looseObject({ title: z.string(), version: z.string() }),
  paths: z.record(z.string(), z.unknown()),
});

// --------------------------------------------------------------------------------------- workers

/** Whether the worker plane's broker answers, and since when. */
const brokerStateSchema = z
  .object({
    ok: z.boolean(),
    reason: z.string().optional().describe('Why the broker does not answer (`worker_unavailable`)'),
    since: z.string().describe('ISO time the state began'),
  })
  .meta({ id: 'BrokerState' });

/** One `skillplane worker` process, as its last heartbeat describes it. */
export const workerInfoSchema = z
  .object({
    id: z.string(),
    host: z.string(),
    pid: z.number().int(),
    queues: z.array(z.string()).describe('The queues it takes jobs from'),
    concurrency: z.number().int().describe('Jobs it runs at once'),
    in_flight: z.number().int().describe('Jobs it runs now'),
    jobs_done: z.number().int(),
    jobs_failed: z.number().int(),
    skills: z.array(z.string()).describe('The skill references it can run'),
    started_at: z.string(),
    last_heartbeat: z.string(),
    state: z
      .enum(['running', 'draining', 'gone'])
      .describe('`draining`: finishing its jobs after SIGTERM; `gone`: missed three heartbeats'),
    alive: z.boolean().describe('A heartbeat arrived within three heartbeat intervals'),
  })
  .meta({ id: 'WorkerInfo' });

/** Job counts of one queue. */
export const queueDepthSchema = z
  .object({
    name: z.string(),
    waiting: z.number().int().describe('Queued (prioritised included)'),
    active: z.number().int(),
    delayed: z.number().int().describe('Waiting for a retry backoff'),
    failed: z.number().int(),
    completed: z.number().int(),
    dead: z.number().int().describe('In the dead-letter queue'),
  })
  .meta({ id: 'QueueDepth' });

/** The in-process scheduler of this node. */
const schedulerLoadSchema = z.looseObject({
  running: z.number().int(),
  max_concurrent: z.number().int(),
  queued: z.record(z.string(), z.number().int()).describe('Runs waiting for a slot, by priority'),
});

const workersCommon = {
  description: z.string(),
  node_id: z.string().describe('This API node'),
  scheduler: schedulerLoadSchema,
};

export const workersResponseSchema = z
  .discriminatedUnion('enabled', [
    z.looseObject({
      enabled: z.literal(false),
      executor: z.literal('in-process'),
      ...workersCommon,
      workers: z.array(workerInfoSchema).max(0),
      queues: z.array(queueDepthSchema).max(0),
    }),
    z.looseObject({
      enabled: z.literal(true),
      executor: z.literal('bullmq'),
      ...workersCommon,
      broker: z.string().describe('The broker URL, password redacted'),
      health: brokerStateSchema,
      workers: z.array(workerInfoSchema).describe('Workers seen in the last hour, by id'),
      queues: z.array(queueDepthSchema),
    }),
  ])
  .meta({ id: 'WorkersStatus' });

const deadLetterId = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, `_`, `.`, `-`');

export const deadLettersQuerySchema = z.strictObject({
  queue: z
    .string()
    .min(1)
    .max(64)
    .regex(/^[A-Za-z0-9_.-]+$/, 'letters, digits, `_`, `.`, `-`')
    .optional()
    .describe('Only this queue (default: every configured queue)'),
  limit: z.coerce.number().int().min(1).max(500).default(50).describe('At most this many, newest first'),
});

export const deadLetterIdParamsSchema = z.strictObject({
  id: deadLetterId.describe('The dead letter’s id'),
});

/** A job that failed for good, kept in its queue's dead-letter queue (its input only by size). */
export const deadLetterSchema = z
  .object({
    id: z.string(),
    queue: z.string().describe('The queue the job failed on'),
    skill: z.string().describe('The skill reference'),
    run_id: z.string().nullable(),
    step_seq: z.number().int().nullable(),
    source_job_id: z.string(),
    attempts: z.number().int(),
    error: z.object({ code: z.string(), message: z.string() }),
    failed_at: z.string(),
    worker: z.string().nullable().describe('The worker of the last attempt'),
    input_bytes: z.number().int(),
    redrives: z
      .array(
        z.object({
          job_id: z.string(),
          at: z.string(),
          by: z.string().nullable().describe('The principal who re-drove it'),
          state: z.string().optional().describe('The re-driven job’s state now (`gone` once removed)'),
        }),
      )
      .describe('Each retry of it, oldest first'),
  })
  .meta({ id: 'DeadLetter' });

export const deadLettersResponseSchema = z.looseObject({ dead_letters: z.array(deadLetterSchema) });

export const retryDeadLetterResponseSchema = z.looseObject({
  dead_letter: deadLetterSchema,
  job_id: z.string().describe('The job queued for the retry'),
});
