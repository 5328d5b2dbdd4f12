import type { Priority, RunRequestInput } from '../agents/index.js';
import { ValidationError } from '../errors/index.js';
import type { Run, Step } from '../store/index.js';
import type { Skill } from '../skills/index.js';
import type { z } from 'zod';
import type { Approval } from '../store/index.js';
import type {
  approvalSchema,
  CreateRunBody,
  NativeRunBody,
  OptaLegacyRunBody,
  OptaRunBody,
  runSchema,
  skillSummarySchema,
} from './schemas.js';

/** A run as the API returns it. */
export type RunBody = z.infer<typeof runSchema>;
/** A skill as the catalogue lists it. */
export type SkillSummaryBody = z.infer<typeof skillSummarySchema>;
/** An approval as the API returns it. */
export type ApprovalBody = z.infer<typeof approvalSchema>;

/** An approval record as a response body. */
export function presentApproval(approval: Approval): ApprovalBody {
  return { ...approval };
}

/*
 * Translation between the wire and the runtime: request bodies (ours and Opta-LMX's) become
 * `RunRequestInput`s; runs, steps and skills become response objects with Opta's extra fields.
 */

const OPTA_PRIORITY: Readonly<Record<string, Priority>> = {
  interactive: 'interactive',
  high: 'interactive',
  normal: 'normal',
  batch: 'batch',
  low: 'batch',
};

/** Maps a priority from a body or the `x-priority` header; unknown values are refused. */
export function parsePriority(value: string | undefined, path: string): Priority | undefined {
  if (value === undefined) return undefined;
  const p = OPTA_PRIORITY[value.trim().toLowerCase()];
  if (p === undefined)
    throw new ValidationError(
      `unknown priority ${value}`,
      [{ path, message: 'expected interactive, normal, batch (or high, low)' }],
      'invalid_request',
    );
  return p;
}

type OptaFields = OptaRunBody['request'] & { message?: string };

function fromOpta(
  fields: OptaFields,
  extra: { agent?: string; priority?: string; metadata?: Record<string, unknown> },
  path: string,
): RunRequestInput {
  const prompt = fields.prompt ?? fields.message;
  if (prompt === undefined)
    throw new ValidationError(
      'a prompt is required',
      [{ path: `${path}.prompt`, message: 'give prompt (or message)' }],
      'invalid_request',
    );
  const roles = fields.roles;
  const strategy = fields.strategy ?? ((roles?.length ?? 0) > 1 ? 'router' : 'single');
  const metadata: Record<string, unknown> = { ...(extra.metadata ?? {}), ...(fields.metadata ?? {}) };
  if (fields.approval_required !== undefined) metadata.opta_approval_required = fields.approval_required;
  const agent = fields.agent ?? extra.agent;
  const roleModels: Record<string, string> = { ...(fields.role_models ?? {}) };
  if (fields.model !== undefined)
    for (const r of roles ?? (agent === undefined ? [] : [agent])) roleModels[r] ??= fields.model;
  const priority = parsePriority(fields.priority ?? extra.priority, `${path}.priority`);
  const useRoles = roles !== undefined && strategy !== 'single';
  if (!useRoles && roles === undefined && agent === undefined)
    throw new ValidationError(
      'an agent or roles are required',
      [{ path: `${path}.roles`, message: 'give roles (or agent)' }],
      'invalid_request',
    );
  if (!useRoles && agent === undefined && roles !== undefined) metadata.opta_roles = roles;
  if (useRoles && agent !== undefined) metadata.opta_agent = agent;
  return {
    strategy,
    ...(useRoles ? { agents: roles } : { agent: agent ?? roles![0]! }),
    input: prompt,
    ...(priority === undefined ? {} : { priority }),
    limits: {
      ...(fields.timeout_sec === undefined ? {} : { timeout_sec: fields.timeout_sec }),
      ...(fields.token_budget === undefined ? {} : { token_budget: fields.token_budget }),
      ...(fields.cost_budget_usd === undefined ? {} : { cost_budget_usd: fields.cost_budget_usd }),
    },
    metadata,
    options: {
      fail_fast: true,
      opta_roles: useRoles,
      ...(fields.max_parallelism === undefined ? {} : { max_parallelism: fields.max_parallelism }),
      ...(fields.role_system_prompts === undefined
        ? {}
        : { role_system_prompts: fields.role_system_prompts }),
      ...(Object.keys(roleModels).length === 0 ? {} : { role_models: roleModels }),
      ...(fields.role_tools === undefined ? {} : { role_tools: fields.role_tools }),
    },
  };
}

/**
 * Turns a validated create-run body (any accepted shape) into a runtime request and the body's
 * idempotency key. `headerPriority` (`x-priority`) applies when the body names none.
 */
export function toRunRequest(
  body: CreateRunBody,
  headerPriority: string | undefined,
): { request: RunRequestInput; idempotencyKey: string | undefined } {
  const fallback = parsePriority(headerPriority, 'x-priority') ?? 'normal';
  if ('request' in body) {
    const b = body as OptaRunBody;
    const request = fromOpta(b.request, {}, 'request');
    return {
      request: { ...request, priority: request.priority ?? fallback },
      idempotencyKey: b.idempotency_key,
    };
  }
  if (typeof body.input === 'object' && !Array.isArray(body.input)) {
    const b = body as OptaLegacyRunBody;
    const request = fromOpta(
      b.input,
      {
        ...(b.agent === undefined ? {} : { agent: b.agent }),
        ...(b.priority === undefined ? {} : { priority: b.priority }),
        ...(b.metadata === undefined ? {} : { metadata: b.metadata }),
      },
      'input',
    );
    return {
      request: { ...request, priority: request.priority ?? fallback },
      idempotencyKey: b.idempotency_key,
    };
  }
  const { idempotency_key: idempotencyKey, priority, ...rest } = body as NativeRunBody;
  return { request: { ...rest, priority: priority ?? fallback }, idempotencyKey };
}

function roleOf(run: Run, step: Step): string {
  const req = (run.input ?? {}) as { agent?: string; agents?: string[]; items?: unknown[] };
  // Role chains branch as `role.N`, fan-outs over agents as `map.N`: N indexes `agents`.
  const m = /^(role|map)\.(\d+)/.exec(step.branch);
  if (m !== null) {
    if (m[1] === 'map' && req.items !== undefined) return req.agent ?? run.agent;
    const name = req.agents?.[Number(m[2])];
    if (name !== undefined) return name;
  }
  return step.branch === 'main' ? run.agent : step.branch;
}

/** A step with Opta's `role` and `order`. */
export function presentStep(run: Run, step: Step): Step & { role: string; order: number } {
  return { ...step, role: roleOf(run, step), order: step.seq };
}

/** A run with links and Opta's `checkpoint_pointer`, `tokens_used`, `estimated_cost_usd`. */
export function presentRun(run: Run, steps?: Step[]): RunBody {
  const { owner: _owner, lease_expires_at: _lease, ...rest } = run;
  const self = `/v1/agents/runs/${encodeURIComponent(run.id)}`;
  const body = {
    ...rest,
    checkpoint_pointer: run.checkpoint,
    tokens_used: run.usage.input_tokens + run.usage.output_tokens,
    estimated_cost_usd: run.usage.cost_usd,
    links: { self, events: `${self}/events`, cancel: `${self}/cancel` },
    ...(steps === undefined ? {} : { steps: steps.map((s) => presentStep(run, s)) }),
  };
  // Records have no index signature; the shape is checked by the response schema in tests.
  return body as unknown as RunBody;
}

/** A skill as the catalogue lists it. */
export function presentSkill(
  skill: Skill,
  policy: { riskTags(skill: Skill): string[]; approvalTags(skill: Skill): string[] },
): SkillSummaryBody {
  const m = skill.manifest;
  return {
    id: skill.id,
    version: skill.version,
    ref: skill.ref,
    tool_name: skill.toolName,
    kind: m.kind,
    description: m.description,
    tags: m.tags,
    // The union over every loaded version of the id: what the policy applies.
    risk_tags: policy.riskTags(skill),
    requires_approval: policy.approvalTags(skill).length > 0,
    execution: m.execution,
    source: skill.source,
  };
}
