/**
 * Record construction and the guards every operation applies: the rules that make all drivers
 * behave identically, written once.
 */
import { ConflictError, NotFoundError, ValidationError } from '../../errors/index.js';
import { randomHex } from '../../vocabulary/index.js';
import { checkSchemaVersion, newId } from '../common.js';
import type { EventInput, RunPatch, StepRunPatch, TransitionOptions } from '../run-store.js';
import {
  DEFAULT_RUN_LIMITS,
  RUN_SCHEMA_VERSION,
  isTerminal,
  type Approval,
  type AuditEntry,
  type NewApproval,
  type NewAuditEntry,
  type NewRun,
  type NewStep,
  type Run,
  type RunEvent,
  type RunStatus,
  type RunUsage,
  type Step,
} from '../types.js';
import type { Change } from './port.js';
import { eventRow, type RunHead } from './rows.js';

/** Epoch ms as an ISO string with milliseconds. */
export function iso(ms: number): string {
  return new Date(ms).toISOString();
}

/** Builds the full record of a new run created at `at`. */
export function buildRun(input: NewRun, idempotencyKey: string | null, at: string): Run {
  const traceId = input.trace_id ?? randomHex(16);
  const status = input.status ?? 'queued';
  return {
    id: input.id,
    agent: input.agent,
    strategy: input.strategy,
    input: input.input ?? null,
    priority: input.priority ?? 'normal',
    status,
    idempotency_key: idempotencyKey,
    principal: input.principal ?? null,
    trace_id: traceId,
    traceparent: input.traceparent ?? `00-${traceId}-${randomHex(8)}-01`,
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
    // A run created past `queued` has no earlier moment to record; one created waiting for its
    // run-level approval has not started (its time limit counts from its first start).
    started_at: status === 'queued' || status === 'waiting_approval' ? null : at,
    finished_at: isTerminal(status) ? at : null,
  };
}

/** Throws `not_found` when the run is missing, and the schema-version guard on a head. */
export function mustExist<T extends object>(run: T | undefined, id: string): T {
  if (!run) throw new NotFoundError('run', id);
  if ('schema_version' in run) checkSchemaVersion(id, Number(run.schema_version));
  return run;
}

/** Throws `already_terminal` for a terminal run. */
export function checkNotTerminal(run: { id: string; status: RunStatus }): void {
  if (isTerminal(run.status)) {
    throw new ConflictError(`run ${run.id} is already ${run.status}`, 'already_terminal', {
      run_id: run.id,
      status: run.status,
    });
  }
}

/** Throws when `run` may not be patched (terminal, wrong `from`, wrong owner). */
/** Throws `not_owner` when `owner` is given and the run is not owned by it. */
export function checkOwner(run: Run | RunHead, owner: string | undefined): void {
  if (owner !== undefined && run.owner !== owner) {
    throw new ConflictError(`run ${run.id} is not owned by ${owner}`, 'not_owner', {
      run_id: run.id,
      owner: run.owner,
    });
  }
}

export function checkTransition(run: Run | RunHead, opts: TransitionOptions | undefined): void {
  checkNotTerminal(run);
  if (opts?.from && !opts.from.includes(run.status)) {
    throw new ConflictError(
      `run ${run.id} is ${run.status}, expected one of ${opts.from.join(', ')}`,
      'invalid_transition',
      { run_id: run.id, status: run.status, from: [...opts.from] },
    );
  }
  checkOwner(run, opts?.owner);
}

/** Returns a new run with `patch` applied verbatim (see {@link RunPatch}) and `updated_at` set. */
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
  return next;
}

/** The usage and checkpoint after a step's patch; `undefined` when nothing changes. */
export function applyStepRunPatch(
  run: RunHead,
  patch: StepRunPatch | undefined,
): { usage: RunUsage; checkpoint: number } | undefined {
  if (!patch || isTerminal(run.status)) return undefined;
  let usage = patch.usage ? { ...patch.usage } : run.usage;
  if (patch.usage_delta) usage = addUsage(usage, patch.usage_delta);
  const checkpoint =
    patch.checkpoint === undefined ? run.checkpoint : Math.max(run.checkpoint, patch.checkpoint);
  return { usage, checkpoint };
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
    agent: s.agent ?? null,
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
    agent: s.agent === undefined ? prev.agent : s.agent,
    status: 'running',
    attempt: prev.attempt + 1,
    output: null,
    error: null,
    started_at: at,
    finished_at: null,
  };
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

/** Builds an audit entry made at `now` (epoch ms). */
export function buildAuditEntry(e: NewAuditEntry, now: number): AuditEntry {
  return {
    id: newId('aud_', now),
    at: iso(now),
    principal: e.principal,
    action: e.action,
    target: e.target ?? null,
    run_id: e.run_id ?? null,
    trace_id: e.trace_id ?? null,
    data: e.data ?? null,
  };
}

/** Builds a new pending approval. */
export function buildApproval(a: NewApproval, at: string): Approval {
  return {
    id: a.id,
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

/** Throws `already_decided` unless the approval is pending. */
export function checkPending(a: Approval): void {
  if (a.status !== 'pending') {
    throw new ConflictError(`approval ${a.id} is already ${a.status}`, 'already_decided', {
      approval_id: a.id,
      status: a.status,
    });
  }
}

/** Throws `conflict` for an id that is already taken. */
export function checkFreeId(taken: unknown, what: string, id: string): void {
  if (taken !== undefined) throw new ConflictError(`${what} ${id} already exists`, 'conflict', { id });
}

/** The event with seq `seq` of a run and the change appending it. */
export function eventChange(
  runId: string,
  seq: number,
  ev: EventInput | undefined,
  at: string,
): { event: RunEvent; change: Change } {
  if (ev === undefined || typeof ev.type !== 'string') {
    throw new ValidationError(
      'an event needs a type',
      [{ path: 'event.type', message: 'required' }],
      'input_invalid',
    );
  }
  const event: RunEvent = { run_id: runId, seq, type: ev.type, data: ev.data ?? null, at };
  return { event, change: { kind: 'insertEvent', row: eventRow(event) } };
}

/**
 * A newest-first page from `limit + 1` items: the first `limit`, and the cursor of the last one
 * when there are more.
 */
export function pageOf<T>(
  items: T[],
  limit: number,
  cursor: (last: T) => string,
): { page: T[]; next: string | null } {
  const page = items.slice(0, limit);
  const last = page[page.length - 1];
  return { page, next: items.length > limit && last !== undefined ? cursor(last) : null };
}
