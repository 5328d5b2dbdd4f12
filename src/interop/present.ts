import type { RunRequestInput } from '../agents/index.js';
import type { Skill } from '../skills/index.js';
import type { Approval, Run, Step } from '../store/index.js';
import { approvalKind, type ApprovalKind } from '../vocabulary/index.js';
import { optaRequest, parsePriority, roleOf, type OptaInbound } from './opta.js';
import { NO_COMPAT, optaRunFields, optaShaped, optaStepFields, type OptaShaping } from './opta-answers.js';

/*
 * The one presenter of runs, steps, approvals and skills for every edge (HTTP API, MCP), and the
 * one translation of request bodies (ours and Opta-LMX's) into runtime requests.
 */

/** A step as the edges show it, with Opta's `role` and `order`. */
export type PresentedStep = Step & { role: string; order: number };

/** A run as the edges show it. */
export type PresentedRun = Omit<Run, 'owner' | 'lease_expires_at'> & {
  checkpoint_pointer: number;
  tokens_used: number;
  estimated_cost_usd: number;
  links: { self: string; events: string; cancel: string };
  steps?: PresentedStep[];
};

/** A skill as the catalogue lists it. */
export interface PresentedSkill {
  id: string;
  version: string;
  ref: string;
  /** Opta-LMX's names of it: `search`, `acme`, `acme/search`, `acme/search@1.2.0`. */
  name: string;
  namespace: string;
  qualified_name: string;
  reference: string;
  tool_name: string;
  kind: string;
  description: string;
  tags: string[];
  risk_tags: string[];
  /** False: a call in flight at a crash is settled as interrupted, never run again. */
  idempotent: boolean;
  requires_approval: boolean;
  execution: string;
  source: string;
}

/** An approval as the edges show it: what it gates (`kind`: a skill call, or a whole run). */
export type PresentedApproval = Approval & { kind: ApprovalKind };

/** An approval record as a response body, with its `kind`. */
export function presentApproval(approval: Approval): PresentedApproval {
  return { ...approval, kind: approvalKind(approval) };
}

/** A step with Opta's `role` (the agent it ran for) and `order` (and its other fields when `opta`). */
export function presentStep(run: Run, step: Step, opta = false): PresentedStep {
  const base = { ...step, role: roleOf(run, step), order: step.seq };
  return opta ? ({ ...base, ...optaStepFields(step) } as unknown as PresentedStep) : base;
}

/**
 * A run with links and Opta's `checkpoint_pointer`, `tokens_used`, `estimated_cost_usd`. A run an
 * Opta body created (or every run, under `api.compat: opta-lmx`) also carries Opta's `object`,
 * `request`, `output`, and `result` and `error` in Opta's shapes (ours in `result_detail` and
 * `error_detail`). Owner and lease stay inside.
 */
export function presentRun(run: Run, steps?: Step[], shaping: OptaShaping = NO_COMPAT): PresentedRun {
  // Copied field by field (in the run's order) rather than by rest and spread: V8 builds the
  // spread of a rest object slowly, and this is on the create path of every run (a quarter of
  // the time to present and serialise the create answer).
  const out: Record<string, unknown> = {};
  for (const key in run) {
    if (key !== 'owner' && key !== 'lease_expires_at') out[key] = run[key as keyof Run];
  }
  const opta = optaShaped(run, shaping);
  if (opta) Object.assign(out, optaRunFields(run));
  const self = `/v1/agents/runs/${encodeURIComponent(run.id)}`;
  out.checkpoint_pointer = run.checkpoint;
  out.tokens_used = run.usage.input_tokens + run.usage.output_tokens;
  out.estimated_cost_usd = run.usage.cost_usd;
  out.links = { self, events: `${self}/events`, cancel: `${self}/cancel` };
  if (steps !== undefined) out.steps = steps.map((s) => presentStep(run, s, opta));
  return out as unknown as PresentedRun;
}

/** The compact view of a run that MCP tools return (the same fields, fewer of them). */
export function runSummary(run: Run): Record<string, unknown> {
  const p = presentRun(run);
  return {
    run_id: p.id,
    status: p.status,
    agent: p.agent,
    strategy: p.strategy,
    result: p.result ?? null,
    error: p.error,
    usage: p.usage,
    tokens_used: p.tokens_used,
    estimated_cost_usd: p.estimated_cost_usd,
    created_at: p.created_at,
    finished_at: p.finished_at,
  };
}

/** A skill as the catalogue lists it (risk tags: the union over every version, as the policy applies). */
export function presentSkill(
  skill: Skill,
  policy: { riskTags(skill: Skill): string[]; approvalTags(skill: Skill): string[] },
): PresentedSkill {
  const m = skill.manifest;
  const slash = skill.id.indexOf('/');
  return {
    id: skill.id,
    version: skill.version,
    ref: skill.ref,
    name: skill.id.slice(slash + 1),
    namespace: skill.id.slice(0, slash),
    qualified_name: skill.id,
    reference: skill.ref,
    tool_name: skill.toolName,
    kind: m.kind,
    description: m.description,
    tags: m.tags,
    risk_tags: policy.riskTags(skill),
    idempotent: m.idempotent,
    requires_approval: policy.approvalTags(skill).length > 0,
    execution: m.execution,
    source: skill.source,
  };
}

/**
 * Turns a validated create-run body (ours or an Opta-LMX shape) into a runtime request and the
 * body's idempotency key. `headerPriority` (`x-priority`) applies when the body names none.
 */
export function toRunRequest(
  body: object,
  headerPriority: string | undefined,
  inbound: OptaInbound = {},
): { request: RunRequestInput; idempotencyKey: string | undefined; opta: boolean } {
  const fallback = parsePriority(headerPriority, 'x-priority') ?? 'normal';
  const opta = optaRequest(body, inbound);
  if (opta !== undefined) {
    return {
      request: { ...opta.request, priority: opta.request.priority ?? fallback },
      idempotencyKey: opta.idempotencyKey,
      opta: true,
    };
  }
  // Copied field by field, not by rest and spread (slow in V8; this is on every create).
  const native = body as Record<string, unknown>;
  const request: Record<string, unknown> = {};
  for (const key in native) if (key !== 'idempotency_key') request[key] = native[key];
  request.priority = native.priority ?? fallback;
  const idempotencyKey = native.idempotency_key as string | undefined;
  return { request: request as RunRequestInput, idempotencyKey, opta: false };
}
