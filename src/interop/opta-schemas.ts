import { z } from 'zod';

/*
 * The request shapes of Opta-LMX's clients (its CLI, dashboard and API tests), accepted beside
 * ours. Mapped onto skillplane's request by `opta.ts`; nothing in the core knows them.
 */

/** Opta-LMX's strategies. */
export const OPTA_STRATEGIES = ['single', 'router', 'handoff', 'parallel_map'] as const;

/** Opta priorities beside ours (`high` → interactive, `low` → batch). */
export const optaPrioritySchema = z.enum(['interactive', 'normal', 'batch', 'high', 'low']);

const optaFields = {
  strategy: z.enum(OPTA_STRATEGIES).optional(),
  prompt: z.string().min(1).optional(),
  roles: z.array(z.string().min(1)).min(1).max(256).optional(),
  /** Extension: the agent of a single-agent request without roles. */
  agent: z.string().min(1).optional(),
  model: z.string().min(1).optional(),
  role_models: z.record(z.string(), z.string()).optional(),
  role_system_prompts: z.record(z.string(), z.string()).optional(),
  /** Per role, the skills it may call: names, or OpenAI tool definitions naming them. */
  role_tools: z
    .record(
      z.string(),
      z
        .array(
          z.union([
            z.string().min(1),
            z.looseObject({
              name: z.string().min(1).optional(),
              function: z.looseObject({ name: z.string().min(1) }).optional(),
            }),
          ]),
        )
        .max(256),
    )
    .optional(),
  max_parallelism: z.number().int().positive().max(256).optional(),
  timeout_sec: z.number().positive().max(86_400).optional(),
  priority: optaPrioritySchema.optional(),
  /** `true`: the run is created waiting for a run-level approval (approvals API and CLI). */
  approval_required: z
    .boolean()
    .optional()
    .describe('true: the run waits for a run-level approval (GET /v1/approvals) before any agent works'),
  token_budget: z.number().int().positive().nullable().optional(),
  cost_budget_usd: z.number().positive().nullable().optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
};

/** Opta-LMX: `{request: {strategy, prompt, roles, …}}`. */
export const optaRunBodySchema = z.strictObject({
  request: z.strictObject(optaFields),
  /** Merged over `request.metadata` (these win), as Opta's CLI sends it. */
  metadata: z.record(z.string(), z.unknown()).optional(),
  idempotency_key: z.string().min(1).max(256).optional(),
});

/** Opta-LMX legacy: `{agent, input: {strategy, prompt | message, roles, …}}`. */
export const optaLegacyRunBodySchema = z.strictObject({
  agent: z.string().min(1).optional(),
  input: z.strictObject({ ...optaFields, message: z.string().min(1).optional() }),
  priority: optaPrioritySchema.optional(),
  metadata: z.record(z.string(), z.unknown()).optional(),
  idempotency_key: z.string().min(1).max(256).optional(),
});

export type OptaRunBody = z.infer<typeof optaRunBodySchema>;
export type OptaLegacyRunBody = z.infer<typeof optaLegacyRunBodySchema>;
/** The fields of an Opta run request (either shape). */
export type OptaFields = OptaRunBody['request'] & { message?: string };
