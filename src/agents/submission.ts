import { zodIssues } from '../config/index.js';
import { PermissionDeniedError, ValidationError } from '../errors/index.js';
import { skillsOutsideGrant } from './agent-loop.js';
import type { AgentCatalog } from './definitions.js';
import type { RunEnvironment } from './environment.js';
import type { Config } from '../config/index.js';
import type { NewRun } from '../store/index.js';
import { childContext, formatTraceparent, parseTraceparent } from '../tracing/index.js';
import { isoIn, type Clock } from '../vocabulary/index.js';
import { runRequestSchema, type RunRequest } from './request.js';

/**
 * Parses a request into a `RunRequest`: `invalid_request` with every issue,
 * `plan_exceeds_max_steps` for a plan longer than its step limit, `unknown_agent` for an agent the
 * catalog lacks, `permission_denied` for per-agent skills outside the agent's grant
 * (`options.overrides.<agent>.skills` may only narrow it).
 */
export function parseRunRequest(
  input: unknown,
  agents: AgentCatalog,
  env: RunEnvironment,
  models: { has(name: string): boolean; names(): string[] },
): RunRequest {
  const parsed = runRequestSchema.safeParse(input);
  if (!parsed.success)
    throw new ValidationError('invalid run request', zodIssues(parsed.error), 'invalid_request');
  const req = parsed.data;
  refusePlanOverLimits(req, env.config.agents.max_steps_per_run);
  const names = [req.agent, ...(req.agents ?? []), req.options.reducer].filter(
    (n): n is string => n !== undefined,
  );
  for (const r of req.options.routes ?? []) names.push(r.agent);
  const unknown = names.filter((n) => agents.get(n) === undefined);
  if (unknown.length > 0) {
    throw new ValidationError(
      `unknown agent${unknown.length > 1 ? 's' : ''}: ${unknown.join(', ')}`,
      unknown.map((n) => ({ path: 'agent', message: `unknown agent ${n}` })),
      'unknown_agent',
    );
  }
  // Every model the run would call must be served: refused now (400), not after a run failed.
  const used = new Map<string, string>();
  for (const n of new Set(names)) {
    const agent = agents.get(n);
    if (agent !== undefined) used.set(agent.model, `agent ${n}`);
  }
  for (const [name, o] of Object.entries(req.options.overrides ?? {})) {
    if (o.model !== undefined) used.set(o.model, `options.overrides.${name}.model`);
  }
  const unserved = [...used].filter(([model]) => !models.has(model));
  if (unserved.length > 0) {
    const served = models.names().join(', ');
    throw new ValidationError(
      `no model backend serves ${unserved.map(([m, where]) => `"${m}" (${where})`).join(', ')}; configured backends: ${served} (or auto)`,
      unserved.map(([m, where]) => ({ path: where, message: `unknown model ${m}; configured: ${served}` })),
      'unknown_model',
    );
  }
  // An override's skills narrow what an agent may call; they can never grant a skill it lacks.
  for (const [name, o] of Object.entries(req.options.overrides ?? {})) {
    const agent = agents.get(name);
    if (agent === undefined || o.skills === undefined) continue;
    const outside = skillsOutsideGrant(env, agent, o.skills);
    if (outside.length > 0) {
      throw new PermissionDeniedError(
        `the skills of agent ${name} can only be narrowed, but the request names skills it is not granted: ${outside.join(', ')}`,
        { field: `options.overrides.${name}.skills`, skills: outside },
      );
    }
  }
  return req;
}

/**
 * The steps a request is known to take before any agent works: one per agent of a `sequence`, one
 * per branch of a `parallel_map` (plus its reducer), else one. An agent may take more (each model
 * turn and skill call is a step); never fewer.
 */
export function plannedSteps(req: RunRequest): number {
  if (req.strategy === 'sequence') return req.agents!.length;
  if (req.strategy === 'parallel_map')
    return (req.items?.length ?? req.agents!.length) + (req.options.reducer === undefined ? 0 : 1);
  return 1;
}

/**
 * Refuses, at submission and with nothing stored, a run whose plan already needs more steps than
 * its `max_steps` (the request's, else the server's `agents.max_steps_per_run`): it could only fail
 * later with `budget_exhausted`, after spending on the steps that fit.
 */
function refusePlanOverLimits(req: RunRequest, serverMaxSteps: number): void {
  const planned = plannedSteps(req);
  const limit = req.limits.max_steps ?? serverMaxSteps;
  if (planned <= limit) return;
  const source = req.limits.max_steps === undefined ? 'max_steps_per_run' : 'limits.max_steps';
  const field = req.strategy === 'parallel_map' && req.items !== undefined ? 'items' : 'agents';
  throw new ValidationError(
    `run has ${planned} steps but ${source} is ${limit}`,
    [{ path: field, message: `${planned} planned steps exceed ${source} (${limit})` }],
    'plan_exceeds_max_steps',
  );
}

/** Whether a request asks for a run-level approval before any of its work starts. */
export function runApprovalRequired(req: RunRequest): boolean {
  return req.approval?.required === true;
}

/**
 * The stored record of a new run: its request, limits (the request's, else the server's), trace
 * context (continuing an inbound `traceparent`, else a new trace) and this node's ownership. A
 * run whose request asks for a run-level approval is created `waiting_approval` with no owner:
 * nothing executes it until it is approved (and re-queued).
 */
export function newRunFor(
  id: string,
  req: RunRequest,
  caller: { principal?: string | null; traceparent?: string; tracestate?: string },
  node: { config: Config; nodeId: string; leaseMs: number; clock: Clock },
): NewRun {
  const inbound = parseTraceparent(caller.traceparent, caller.tracestate);
  const trace = childContext(inbound);
  const a = node.config.agents;
  return {
    id,
    agent: req.agent ?? req.agents!.join(','),
    strategy: req.strategy,
    input: req,
    priority: req.priority,
    principal: caller.principal ?? null,
    trace_id: trace.traceId,
    traceparent: formatTraceparent(trace.traceId, trace.spanId, trace.flags),
    tracestate: inbound?.tracestate ?? null,
    // Owned by this node from the start, so another node's reclaim loop never takes a run that
    // waits in our queue; execution and settling are guarded on the owner. A run waiting for its
    // approval is in no queue and owned by nobody, like a suspended one.
    ...(runApprovalRequired(req)
      ? { status: 'waiting_approval' as const, owner: null, lease_expires_at: null }
      : { owner: node.nodeId, lease_expires_at: isoIn(node.clock, node.leaseMs) }),
    limits: {
      max_steps: req.limits.max_steps ?? a.max_steps_per_run,
      max_handoff_depth: req.limits.max_handoff_depth ?? a.max_handoff_depth,
      token_budget: req.limits.token_budget ?? null,
      cost_budget_usd: req.limits.cost_budget_usd ?? null,
      timeout_sec: req.limits.timeout_sec ?? a.default_timeout_sec,
    },
    metadata: req.metadata,
  };
}
