/**
 * Driver-independent rules shared by every {@link RunStore} implementation: id generation, record
 * construction, patch application and the guards that make every driver behave identically.
 */
import { randomBytes } from 'node:crypto';
import { ConflictError, SkillplaneError, ValidationError } from '../errors/index.js';
import type { CreateRunOptions, RunPatch, StepRunPatch, TransitionOptions, EventInput } from './run-store.js';
import {
  DEFAULT_RUN_LIMITS,
  RUN_SCHEMA_VERSION,
  isTerminal,
  type Approval,
  type ApprovalStatus,
  type NewApproval,
  type NewRun,
  type NewStep,
  type Run,
  type RunUsage,
  type Step,
} from './types.js';

let lastMs = 0;
let lastRand = 0n;
const RAND_MAX = (1n << 64n) - 1n;

/**
 * A time-ordered id: `prefix` + 12 hex digits of epoch ms + 16 random hex digits. Ids made by one
 * process are strictly increasing even within the same millisecond.
 */
export function newId(prefix: string, nowMs = Date.now()): string {
  let ms = nowMs;
  let rand: bigint;
  if (ms <= lastMs) {
    ms = lastMs;
    rand = lastRand + 1n;
    if (rand > RAND_MAX) {
      ms += 1;
      rand = BigInt(`0x${randomBytes(8).toString('hex')}`) >> 1n;
    }
  } else {
    rand = BigInt(`0x${randomBytes(8).toString('hex')}`) >> 1n;
  }
  lastMs = ms;
  lastRand = rand;
  return `${prefix}${ms.toString(16).padStart(12, '0')}${rand.toString(16).padStart(16, '0')}`;
}

/** Current time as an ISO string with milliseconds. */
export function nowIso(): string {
  return new Date().toISOString();
}

/** `ms` milliseconds from now, as ISO. */
export function isoIn(ms: number): string {
  return new Date(Date.now() + ms).toISOString();
}

/** 32 lowercase hex chars (a W3C trace id). */
function randomTraceId(): string {
  return randomBytes(16).toString('hex');
}

/** Builds the full record of a new run. */
export function buildRun(input: NewRun, opts: CreateRunOptions | undefined, at: string): Run {
  const traceId = input.trace_id ?? randomTraceId();
  return {
    id: input.id ?? newId('run_', Date.parse(at)),
    agent: input.agent,
    strategy: input.strategy,
    input: input.input ?? null,
    priority: input.priority ?? 'normal',
    status: input.status ?? 'queued',
    idempotency_key: opts?.idempotency?.key ?? null,
    principal: input.principal ?? null,
    trace_id: traceId,
    traceparent: input.traceparent ?? `00-${traceId}-${randomBytes(8).toString('hex')}-01`,
    tracestate: input.tracestate ?? null,
    limits: { ...DEFAULT_RUN_LIMITS, ...(input.limits ?? {}) },
    usage: { steps: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 },
    result: null,
    error: null,
    checkpoint: 0,
    metadata: { ...(input.metadata ?? {}) },
    owner: input.owner ?? null,
    lease_expires_at: input.lease_expires_at ?? null,
    schema_version: RUN_SCHEMA_VERSION,
    created_at: at,
    updated_at: at,
    started_at: input.status === 'running' ? at : null,
    finished_at: input.status !== undefined && isTerminal(input.status) ? at : null,
  };
}

/** The first event of a run. */
export function createdEvent(run: Run, opts?: CreateRunOptions): EventInput {
  return opts?.event ?? { type: 'run.created', data: { status: run.status, agent: run.agent } };
}

/** Throws `idempotency_conflict` unless the fingerprints match. */
export function checkFingerprint(key: string, stored: string, given: string): void {
  if (stored !== given) {
    throw new ConflictError(
      `idempotency key ${key} was already used with a different request`,
      'idempotency_conflict',
      { idempotency_key: key },
    );
  }
}

/** Throws when `run` may not be patched (terminal, wrong `from`, wrong owner). */
export function checkTransition(run: Run, opts: TransitionOptions | undefined): void {
  if (isTerminal(run.status)) {
    throw new ConflictError(`run ${run.id} is already ${run.status}`, 'already_terminal', {
      run_id: run.id,
      status: run.status,
    });
  }
  if (opts?.from && !opts.from.includes(run.status)) {
    throw new ConflictError(
      `run ${run.id} is ${run.status}, expected one of ${opts.from.join(', ')}`,
      'invalid_transition',
      { run_id: run.id, status: run.status, from: opts.from },
    );
  }
  if (opts?.owner !== undefined && run.owner !== opts.owner) {
    throw new ConflictError(`run ${run.id} is not owned by ${opts.owner}`, 'not_owner', {
      run_id: run.id,
      owner: run.owner,
    });
  }
}

/** Returns a new run with `patch` applied (see {@link RunPatch} for the rules). */
export function applyRunPatch(run: Run, patch: RunPatch, at: string): Run {
  const next: Run = { ...run, updated_at: at };
  if (patch.status !== undefined) next.status = patch.status;
  if ('result' in patch) next.result = patch.result ?? null;
  if (patch.error !== undefined) next.error = patch.error;
  if (patch.usage !== undefined) next.usage = { ...patch.usage };
  if (patch.checkpoint !== undefined) next.checkpoint = patch.checkpoint;
  if (patch.started_at !== undefined) next.started_at = patch.started_at;
  if (patch.finished_at !== undefined) next.finished_at = patch.finished_at;
  if (patch.owner !== undefined) next.owner = patch.owner;
  if (patch.lease_expires_at !== undefined) next.lease_expires_at = patch.lease_expires_at;
  if (patch.metadata !== undefined) next.metadata = { ...run.metadata, ...patch.metadata };
  if (next.status === 'running' && next.started_at === null) next.started_at = at;
  if (isTerminal(next.status)) {
    if (next.finished_at === null) next.finished_at = at;
    next.owner = null;
    next.lease_expires_at = null;
  }
  return next;
}

/** Returns the run with a step's usage/checkpoint applied; unchanged when terminal or no patch. */
export function applyStepRunPatch(run: Run, patch: StepRunPatch | undefined, at: string): Run | undefined {
  if (!patch || isTerminal(run.status)) return undefined;
  const next: Run = { ...run, updated_at: at };
  if (patch.usage) next.usage = { ...patch.usage };
  if (patch.usage_delta) next.usage = addUsage(next.usage, patch.usage_delta);
  if (patch.checkpoint !== undefined) next.checkpoint = Math.max(run.checkpoint, patch.checkpoint);
  return next;
}

function addUsage(u: RunUsage, d: Partial<RunUsage>): RunUsage {
  return {
    steps: u.steps + (d.steps ?? 0),
    input_tokens: u.input_tokens + (d.input_tokens ?? 0),
    output_tokens: u.output_tokens + (d.output_tokens ?? 0),
    cost_usd: u.cost_usd + (d.cost_usd ?? 0),
  };
}

/** Builds a new running step. */
export function buildStep(s: NewStep, seq: number, at: string): Step {
  return {
    run_id: s.run_id,
    seq,
    key: s.key,
    parent_seq: s.parent_seq ?? null,
    branch: s.branch ?? 'main',
    kind: s.kind,
    name: s.name,
    input: s.input ?? null,
    output: null,
    status: 'running',
    attempt: 1,
    error: null,
    span_id: s.span_id ?? null,
    started_at: at,
    finished_at: null,
  };
}

/** Restarts a non-completed step with the same key (new attempt, same seq). */
export function retryStep(prev: Step, s: NewStep, at: string): Step {
  return {
    ...prev,
    input: s.input ?? null,
    span_id: s.span_id ?? prev.span_id,
    status: 'running',
    attempt: prev.attempt + 1,
    output: null,
    error: null,
    started_at: at,
    finished_at: null,
  };
}

/** Throws `already_terminal` when a new step is begun on a terminal run. */
export function checkCanBeginStep(run: Run): void {
  if (isTerminal(run.status)) {
    throw new ConflictError(`run ${run.id} is already ${run.status}`, 'already_terminal', {
      run_id: run.id,
      status: run.status,
    });
  }
}

/** Throws `step_not_running` unless the step is running. */
export function checkStepRunning(step: Step): void {
  if (step.status !== 'running') {
    throw new ConflictError(`step ${step.run_id}#${step.seq} is already ${step.status}`, 'step_not_running', {
      run_id: step.run_id,
      seq: step.seq,
      status: step.status,
    });
  }
}

/** Builds a new pending approval. */
export function buildApproval(a: NewApproval, at: string): Approval {
  return {
    id: newId('apr_', Date.parse(at)),
    run_id: a.run_id,
    step_seq: a.step_seq ?? null,
    step_key: a.step_key,
    skill_id: a.skill_id,
    args: a.args ?? null,
    risk_tags: [...a.risk_tags],
    status: 'pending',
    decided_by: null,
    reason: null,
    created_at: at,
    decided_at: null,
    expires_at: a.expires_at ?? null,
  };
}

/** The default event of a new approval. */
export function approvalRequestedEvent(a: Approval): EventInput {
  return {
    type: 'approval.requested',
    data: {
      approval_id: a.id,
      step_key: a.step_key,
      step_seq: a.step_seq,
      skill_id: a.skill_id,
      risk_tags: a.risk_tags,
    },
  };
}

/** Throws `already_decided` unless the approval is pending. */
export function checkPending(a: { id: string; status: ApprovalStatus }): void {
  if (a.status !== 'pending') {
    throw new ConflictError(`approval ${a.id} is already ${a.status}`, 'already_decided', {
      approval_id: a.id,
      status: a.status,
    });
  }
}

/** Throws `unsupported_schema_version` for a run written by a newer build. */
export function checkSchemaVersion(id: string, version: number): void {
  if (version > RUN_SCHEMA_VERSION) {
    throw new SkillplaneError(
      'unsupported_schema_version',
      `run ${id} has schema version ${version}; this build understands up to ${RUN_SCHEMA_VERSION}`,
      { data: { run_id: id, schema_version: version, supported: RUN_SCHEMA_VERSION } },
    );
  }
}

/** Clamps a page size. */
export function clampLimit(limit: number | undefined, def: number, max: number): number {
  if (limit === undefined || !Number.isFinite(limit)) return def;
  return Math.min(max, Math.max(1, Math.floor(limit)));
}

/** Encodes a listRuns position. */
export function encodeCursor(createdAt: string, id: string): string {
  return Buffer.from(JSON.stringify([createdAt, id])).toString('base64url');
}

/** Decodes a listRuns cursor or throws `invalid_cursor`. */
export function decodeCursor(cursor: string): { created_at: string; id: string } {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
    if (Array.isArray(v) && v.length === 2 && typeof v[0] === 'string' && typeof v[1] === 'string') {
      return { created_at: v[0], id: v[1] };
    }
  } catch {
    // fall through
  }
  throw new ValidationError(
    'invalid cursor',
    [{ path: 'cursor', message: 'not a cursor from listRuns' }],
    'invalid_cursor',
  );
}

/** `{code, message}` of a caught error, used by drivers when mapping low-level failures. */
export function errorCode(err: unknown): string | undefined {
  if (typeof err === 'object' && err !== null && 'code' in err && typeof err.code === 'string')
    return err.code;
  return undefined;
}

/**
 * Serialises a value for a JSON column. A value JSON cannot hold (too deep for the stack, a cycle,
 * a bigint) is refused as `input_invalid` instead of escaping as a raw error: a bad value never
 * reaches the database and never crashes a caller.
 */
export function encodeJson(v: unknown): string {
  try {
    return JSON.stringify(v ?? null);
  } catch (err) {
    throw new ValidationError(
      `a value cannot be stored as JSON: ${(err as Error).message}`,
      [{ path: '', message: 'not serialisable' }],
      'input_invalid',
    );
  }
}
