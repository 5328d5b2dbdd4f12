import { createHash } from 'node:crypto';
import { z } from 'zod';
import { PRIORITIES } from '../vocabulary/index.js';

export { PRIORITIES };
export type { Priority } from '../vocabulary/index.js';

export const STRATEGIES = ['single', 'router', 'handoff', 'parallel_map', 'sequence'] as const;
export type StrategyName = (typeof STRATEGIES)[number];

const chatMessageSchema = z.strictObject({
  role: z.enum(['system', 'user', 'assistant']),
  content: z.string(),
});

/** Per-run limits; unset ones take the server defaults. */
export const runLimitsSchema = z.strictObject({
  max_steps: z.number().int().positive().max(10_000).optional(),
  max_handoff_depth: z.number().int().min(0).max(100).optional(),
  token_budget: z.number().int().positive().nullable().optional(),
  cost_budget_usd: z.number().positive().nullable().optional(),
  timeout_sec: z.number().positive().max(86_400).optional(),
});

/**
 * What a caller asks the runtime to run. The API maps its bodies (ours and Opta-LMX's) onto this;
 * the whole request is stored with the run so a restart can resume it.
 */
export const runRequestSchema = z
  .strictObject({
    strategy: z.enum(STRATEGIES).default('single'),
    /** The agent (single, handoff: the first agent; router: the router agent, optional). */
    agent: z.string().min(1).optional(),
    /** Candidates (router) or the agents to fan out to (parallel_map without items). */
    agents: z.array(z.string().min(1)).min(1).max(256).optional(),
    input: z.union([z.string(), z.array(chatMessageSchema).min(1)]),
    /** parallel_map: one branch per item, each run by `agent`. */
    items: z.array(z.unknown()).min(1).max(10_000).optional(),
    priority: z.enum(PRIORITIES).default('normal'),
    limits: runLimitsSchema.default({}),
    metadata: z.record(z.string(), z.unknown()).default({}),
    /**
     * `required: true`: the run is created waiting for a run-level approval and no agent works
     * until someone approves it (the approvals API and CLI decide it like a skill call's).
     */
    approval: z
      .strictObject({ required: z.boolean() })
      .optional()
      .describe('required: true → the run waits for a run-level approval before any agent works'),
    options: z
      .strictObject({
        /** router by rules: the first rule whose regex matches the input text picks the agent. */
        routes: z.array(z.strictObject({ match: z.string().min(1), agent: z.string().min(1) })).optional(),
        /** parallel_map: the agent that reduces the branch outputs; omitted → concatenation. */
        reducer: z.string().min(1).optional(),
        /** parallel_map: cancel the siblings of a failed branch (default true). */
        fail_fast: z.boolean().default(true),
        /** parallel_map: branches in flight at once for this run. */
        max_parallelism: z.number().int().positive().max(256).optional(),
        /** sequence: each agent gets the previous agent's answer as its input (default true). */
        pass_output: z.boolean().default(true),
        /**
         * Per-agent settings for this run: `instructions` replace the agent's system prompt, `model`
         * names another backend, `skills` narrows the agent's skills (never widens them).
         */
        overrides: z
          .record(
            z.string().min(1),
            z.strictObject({
              instructions: z.string().optional(),
              model: z.string().min(1).optional(),
              skills: z.array(z.string().min(1)).max(256).optional(),
            }),
          )
          .optional(),
      })
      .default({ fail_fast: true, pass_output: true }),
  })
  .superRefine((r, ctx) => {
    const need = (ok: boolean, path: string, message: string) => {
      if (!ok) ctx.addIssue({ code: 'custom', path: [path], message });
    };
    if (r.strategy === 'single' || r.strategy === 'handoff') {
      need(r.agent !== undefined || (r.agents?.length ?? 0) > 0, 'agent', `${r.strategy} needs an agent`);
    }
    if (r.strategy === 'router') {
      need(
        r.agent !== undefined || (r.agents?.length ?? 0) > 0,
        'agents',
        'router needs a router agent or candidate agents',
      );
    }
    if (r.strategy === 'sequence') {
      need((r.agents?.length ?? 0) > 0, 'agents', 'sequence needs a list of agents');
    }
    if (r.strategy === 'parallel_map') {
      need(
        (r.items !== undefined && r.agent !== undefined) || (r.agents?.length ?? 0) > 0,
        'items',
        'parallel_map needs items and an agent, or a list of agents',
      );
    }
  });

/** A validated run request with defaults filled in. */
export type RunRequest = z.infer<typeof runRequestSchema>;
/** What a caller may send. */
export type RunRequestInput = z.input<typeof runRequestSchema>;
export type RunLimitsInput = z.infer<typeof runLimitsSchema>;

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as object)
        .sort()
        .map((k) => [k, canonical((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** A stable hash of a request, so an idempotency key reused with a different body is detected. */
export function requestFingerprint(request: RunRequest): string {
  return createHash('sha256')
    .update(JSON.stringify(canonical(request)))
    .digest('hex');
}

/** The text of the request's input (the last user message for chat input). */
export function inputText(input: RunRequest['input']): string {
  if (typeof input === 'string') return input;
  for (let i = input.length - 1; i >= 0; i--) if (input[i]!.role === 'user') return input[i]!.content;
  return input[input.length - 1]!.content;
}
