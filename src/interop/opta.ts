import type { RunRequestInput } from '../agents/index.js';
import { ValidationError } from '../errors/index.js';
import type { Run, Step } from '../store/index.js';
import type { Priority } from '../vocabulary/index.js';
import type { OptaFields, OptaLegacyRunBody, OptaRunBody } from './opta-schemas.js';

/*
 * Opta-LMX compatibility, in one place at the edge: its request bodies become skillplane
 * requests over core strategies (`sequence` for its role chains, `options.overrides` for its
 * per-role settings), and runs it created are shaped the way its clients read them. The core
 * knows nothing of Opta.
 */

const OPTA_PRIORITY: Readonly<Record<string, Priority>> = {
  interactive: 'interactive',
  high: 'interactive',
  normal: 'normal',
  batch: 'batch',
  low: 'batch',
};

/** Marks a run created from an Opta body (in its metadata): how its answers are shaped. */
export interface OptaMarker {
  strategy: string;
  roles: string[] | null;
  /** What Opta's clients read back in `request` (absent on runs of earlier builds). */
  model?: string;
  traceparent?: string;
  tracestate?: string;
}

/** The inbound trace headers of a request, echoed to Opta's clients in `request`. */
export interface OptaInbound {
  traceparent?: string;
  tracestate?: string;
}

/** Opta's router runs its roles in this order first, then the rest as given. */
const ROUTER_ORDER: Readonly<Record<string, number>> = { planner: 0, coder: 1, researcher: 2, reviewer: 3 };

function routerOrder(roles: string[]): string[] {
  const rank = (r: string): number => ROUTER_ORDER[r.toLowerCase()] ?? 4;
  return roles
    .map((role, i) => ({ role, i }))
    .sort((a, b) => rank(a.role) - rank(b.role) || a.i - b.i)
    .map((x) => x.role);
}

/** A `role_tools` entry: a skill name, or an OpenAI tool definition naming one. */
function toolName(tool: string | { name?: string; function?: { name?: string } }): string {
  if (typeof tool === 'string') return tool;
  return tool.function?.name ?? tool.name ?? '';
}

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

/** Opta's per-role settings as the core's per-agent overrides. */
function overridesOf(
  fields: OptaFields,
  roles: string[],
): NonNullable<RunRequestInput['options']>['overrides'] {
  const names = new Set([
    ...Object.keys(fields.role_system_prompts ?? {}),
    ...Object.keys(fields.role_models ?? {}),
    ...Object.keys(fields.role_tools ?? {}),
    ...(fields.model === undefined || fields.model === 'auto' ? [] : roles),
  ]);
  const out: Record<string, { instructions?: string; model?: string; skills?: string[] }> = {};
  for (const name of names) {
    const given = fields.role_models?.[name] ?? fields.model;
    // Opta's `auto`: the agent's own model.
    const model = given === 'auto' ? undefined : given;
    out[name] = {
      ...(fields.role_system_prompts?.[name] === undefined
        ? {}
        : { instructions: fields.role_system_prompts[name] }),
      ...(model === undefined ? {} : { model }),
      ...(fields.role_tools?.[name] === undefined
        ? {}
        : { skills: fields.role_tools[name].map(toolName).filter((t) => t !== '') }),
    };
  }
  return Object.keys(out).length === 0 ? undefined : out;
}

/**
 * An Opta request as a skillplane one. Opta's strategies over `roles`: `parallel_map` runs every
 * role on the prompt (core `parallel_map` over agents); `router` runs them in order on the
 * prompt and `handoff` chains each output into the next role (core `sequence`, without and with
 * `pass_output`). Without roles (or `single`) one agent answers.
 */
export function fromOpta(
  fields: OptaFields,
  extra: {
    agent?: string;
    priority?: string;
    metadata?: Record<string, unknown>;
    defaultStrategy?: string;
    inbound?: OptaInbound;
  },
  path: string,
): RunRequestInput {
  const prompt = fields.prompt ?? fields.message;
  if (prompt === undefined)
    throw new ValidationError(
      'a prompt is required',
      [{ path: `${path}.prompt`, message: 'give prompt (or message)' }],
      'invalid_request',
    );
  const optaStrategy =
    fields.strategy ?? ((fields.roles?.length ?? 0) > 1 ? (extra.defaultStrategy ?? 'router') : 'single');
  const roles =
    fields.roles !== undefined && optaStrategy === 'router' ? routerOrder(fields.roles) : fields.roles;
  // As Opta merges them: the body's top-level metadata wins over the request's.
  const metadata: Record<string, unknown> = { ...(fields.metadata ?? {}), ...(extra.metadata ?? {}) };
  const agent = fields.agent ?? extra.agent;
  const priority = parsePriority(fields.priority ?? extra.priority, `${path}.priority`);
  const useRoles = roles !== undefined && optaStrategy !== 'single';
  if (!useRoles && roles === undefined && agent === undefined)
    throw new ValidationError(
      'an agent or roles are required',
      [{ path: `${path}.roles`, message: 'give roles (or agent)' }],
      'invalid_request',
    );
  if (!useRoles && agent === undefined && roles !== undefined) metadata.opta_roles = roles;
  if (useRoles && agent !== undefined) metadata.opta_agent = agent;
  const marker: OptaMarker = {
    strategy: optaStrategy,
    roles: useRoles ? roles : null,
    ...(fields.model === undefined ? {} : { model: fields.model }),
    ...(extra.inbound?.traceparent === undefined ? {} : { traceparent: extra.inbound.traceparent }),
    ...(extra.inbound?.tracestate === undefined ? {} : { tracestate: extra.inbound.tracestate }),
  };
  metadata.opta = marker;
  const strategy = !useRoles ? 'single' : optaStrategy === 'parallel_map' ? 'parallel_map' : 'sequence';
  const overrides = overridesOf(fields, roles ?? (agent === undefined ? [] : [agent]));
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
    // Opta's human gate on the whole run: created waiting for a run-level approval.
    ...(fields.approval_required === true ? { approval: { required: true } } : {}),
    options: {
      fail_fast: true,
      pass_output: optaStrategy === 'handoff',
      ...(fields.max_parallelism === undefined ? {} : { max_parallelism: fields.max_parallelism }),
      ...(overrides === undefined ? {} : { overrides }),
    },
  };
}

/** An Opta body (either shape) as a request; `undefined` for one of our own bodies. */
export function optaRequest(
  body: unknown,
  inbound: OptaInbound = {},
): { request: RunRequestInput; idempotencyKey: string | undefined } | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  if ('request' in body) {
    const b = body as OptaRunBody;
    const extra = { inbound, ...(b.metadata === undefined ? {} : { metadata: b.metadata }) };
    return { request: fromOpta(b.request, extra, 'request'), idempotencyKey: b.idempotency_key };
  }
  const input = (body as { input?: unknown }).input;
  if (typeof input === 'object' && input !== null && !Array.isArray(input)) {
    const b = body as OptaLegacyRunBody;
    const request = fromOpta(
      b.input,
      {
        ...(b.agent === undefined ? {} : { agent: b.agent }),
        ...(b.priority === undefined ? {} : { priority: b.priority }),
        ...(b.metadata === undefined ? {} : { metadata: b.metadata }),
        // Opta's legacy shape chains its roles unless it names another strategy.
        defaultStrategy: 'handoff',
        inbound,
      },
      'input',
    );
    return { request, idempotencyKey: b.idempotency_key };
  }
  return undefined;
}

/** The Opta marker of a run created from an Opta body, if it was. */
export function optaMarker(run: Run): OptaMarker | undefined {
  const m = (run.metadata as { opta?: unknown }).opta;
  return typeof m === 'object' && m !== null && 'strategy' in m ? (m as OptaMarker) : undefined;
}

/** The role (agent) a step ran for, as Opta's clients read `role`. */
export function roleOf(run: Run, step: Step): string {
  if (step.agent !== null) return step.agent;
  // Steps written before steps carried their agent: fan-outs over agents branch as `map.N`.
  const req = (run.input ?? {}) as { agent?: string; agents?: string[]; items?: unknown[] };
  const m = /^(role|map)\.(\d+)/.exec(step.branch);
  if (m !== null) {
    if (m[1] === 'map' && req.items !== undefined) return req.agent ?? run.agent;
    const name = req.agents?.[Number(m[2])];
    if (name !== undefined) return name;
  }
  return step.branch === 'main' ? run.agent : step.branch;
}
