import type { Run, Step, StoredError } from '../store/index.js';
import { isTerminal } from '../vocabulary/index.js';
import { optaMarker, roleOf } from './opta.js';

/*
 * Opta-LMX's answer shapes, where they differ from ours. A run is answered Opta's way when an
 * Opta body created it (its marker), or on every run when the server runs with
 * `api.compat: opta-lmx`. Fields are added beside ours wherever they do not collide; where they
 * do (`result`, `error`), ours move to `result_detail` / `error_detail`.
 */

/** Who gets Opta's shapes: the server's `api.compat`. */
export interface OptaShaping {
  /** `api.compat: opta-lmx`: every run, list and stream. */
  compat: boolean;
}

/** No Opta shaping beyond what a run's own marker asks for. */
export const NO_COMPAT: OptaShaping = { compat: false };

/** True when `run` is answered in Opta's shapes. */
export function optaShaped(run: Run, shaping: OptaShaping): boolean {
  return shaping.compat || optaMarker(run) !== undefined;
}

/** An error as the text Opta's clients print (`error: string`). */
export function errorText(error: StoredError | null): string | null {
  return error === null ? null : error.message;
}

/**
 * A run's result as Opta's clients read it, for a run an Opta body created over roles: the final
 * text for `handoff` (and a single role), `{role: output}` for `router` and `parallel_map`.
 * Anything else keeps our result.
 */
export function optaResultOf(run: Run): unknown {
  const marker = optaMarker(run);
  const result = run.result as { output?: unknown; outputs?: Record<string, unknown> } | null;
  if (marker === undefined || result === null || typeof result !== 'object') return run.result;
  if (marker.roles === null || marker.strategy === 'handoff' || marker.strategy === 'single')
    return result.output ?? null;
  return result.outputs ?? {};
}

/** The request as Opta's clients read it back (`request.roles`, `request.priority`, …). */
export function optaRequestEcho(run: Run): Record<string, unknown> {
  const marker = optaMarker(run);
  const input = (run.input ?? {}) as {
    input?: unknown;
    agent?: string;
    agents?: string[];
    approval?: { required?: boolean };
    options?: { max_parallelism?: number };
  };
  const { opta: _marker, ...metadata } = run.metadata;
  return {
    strategy: marker?.strategy ?? run.strategy,
    prompt: typeof input.input === 'string' ? input.input : JSON.stringify(input.input ?? null),
    roles: marker?.roles ?? input.agents ?? [input.agent ?? run.agent],
    model: marker?.model ?? 'auto',
    ...(input.options?.max_parallelism === undefined
      ? {}
      : { max_parallelism: input.options.max_parallelism }),
    timeout_sec: run.limits.timeout_sec,
    token_budget: run.limits.token_budget,
    cost_budget_usd: run.limits.cost_budget_usd,
    priority: run.priority,
    metadata,
    traceparent: marker?.traceparent ?? null,
    tracestate: marker?.tracestate ?? null,
    submitted_by: run.principal,
    approval_required: input.approval?.required === true,
  };
}

/** Opta's fields of a run beside ours; `error` and `result` in its shapes, ours kept as details. */
export function optaRunFields(run: Run): Record<string, unknown> {
  const result = optaResultOf(run);
  return {
    object: 'agent.run',
    request: optaRequestEcho(run),
    result,
    output: result,
    result_detail: run.result,
    error: errorText(run.error),
    error_detail: run.error,
  };
}

/** A step's id as Opta's clients key it. */
function optaStepId(step: Step): string {
  return `${step.run_id}:${step.seq}`;
}

/** Opta's fields of a step: its id, its error as text, `completed_at`. */
export function optaStepFields(step: Step): Record<string, unknown> {
  return {
    id: optaStepId(step),
    error: errorText(step.error),
    error_detail: step.error,
    completed_at: step.finished_at,
  };
}

/** What Opta's `run.update` and `run.completed` events carry: `{id, status, error, result, steps}`. */
export function optaSnapshot(run: Run, steps: Step[]): Record<string, unknown> {
  return {
    id: run.id,
    status: run.status,
    error: errorText(run.error),
    updated_at: run.updated_at,
    result: optaResultOf(run),
    steps: steps.map((s) => ({
      id: optaStepId(s),
      role: roleOf(run, s),
      status: s.status,
      error: errorText(s.error),
      completed_at: s.finished_at,
    })),
  };
}

/**
 * Opta's frames for a run's state, to follow our own events in a stream: a `run.update` when the
 * snapshot changed since `last`, then `run.completed` and `[DONE]` once the stream has sent the
 * run's terminal event (`ended`).
 */
export function optaFrames(
  run: Run,
  steps: Step[],
  last: string | undefined,
  ended: boolean,
): { text: string; key: string } {
  const snapshot = optaSnapshot(run, steps);
  const key = JSON.stringify(snapshot);
  let text = '';
  if (key !== last)
    text += `event: run.update\ndata: ${JSON.stringify({ type: 'run.update', run: snapshot })}\n\n`;
  if (ended && isTerminal(run.status))
    text +=
      `event: run.completed\ndata: ${JSON.stringify({ type: 'run.completed', run: snapshot })}\n\n` +
      'data: [DONE]\n\n';
  return { text, key };
}

/** Opta-LMX's names of our error codes, where its clients test for them. */
const OPTA_ERROR_CODES: Readonly<Record<string, string>> = {
  queue_full: 'queue_saturated',
  input_invalid: 'invalid_arguments',
  store_unavailable: 'runtime_unavailable',
  shutting_down: 'runtime_unavailable',
};

/**
 * Opta-LMX's `error` member of an error body, `{message, type, code}` (its clients read
 * `error.code`); beside our problem document's own members.
 */
export function optaErrorMember(code: string, message: string, status: number): Record<string, string> {
  return {
    message,
    type: status >= 500 ? 'server_error' : 'invalid_request_error',
    code: OPTA_ERROR_CODES[code] ?? code,
  };
}
