import type { Dispatcher } from '../skills/dispatch.js';
import type { Skill, SkillCallContext } from '../skills/types.js';
import { formatTraceparent, parseTraceparent } from '../tracing/index.js';
import { parseJobPayload, type JobPayload } from './payload.js';
import type { WorkerPlane } from './plane.js';
import { workerQueueFor, type RoutingConfig } from './routing.js';

/** Options of {@link QueuedDispatcher}. */
export interface QueuedDispatcherOptions {
  /** Runs what is not routed to the worker plane (this process's executors). */
  local: Dispatcher;
  plane: WorkerPlane;
  routing: RoutingConfig;
  /** False for a skill whose repeated call is not harmless (risk-tagged, `idempotent: false`). */
  repeatable: (skill: Skill) => boolean;
}

/**
 * The `queued` dispatcher: sends the calls of skills routed to the worker plane
 * ({@link workerQueueFor}) to BullMQ as validated JSON jobs and returns their results; every other
 * call runs in this process. The invoker has already checked policy, limits and input and owns
 * the deadline; the worker checks them again, trusting nothing in the job.
 */
export class QueuedDispatcher implements Dispatcher {
  constructor(private readonly o: QueuedDispatcherOptions) {}

  async dispatch(
    skill: Skill,
    input: unknown,
    ctx: SkillCallContext & { signal: AbortSignal },
  ): Promise<unknown> {
    const queue = workerQueueFor(skill, this.o.routing);
    if (queue === undefined) return this.o.local.dispatch(skill, input, ctx);
    // A direct caller gets 503 + Retry-After at once; a run's step waits for the broker (bounded
    // by its deadline) and says so in its event stream.
    if (ctx.door !== 'run' && ctx.door !== 'workflow') await this.o.plane.assertAvailable();
    // The worker refuses what its schema does not accept: an unusable trace context is dropped
    // here, as the local path ignores it, and the whole job is checked before it is queued.
    const trace = parseTraceparent(ctx.traceparent, ctx.tracestate);
    const payload: JobPayload = parseJobPayload({
      v: 1,
      run_id: ctx.runId ?? null,
      step_seq: stepSeqOf(ctx.idempotencyKey, ctx.runId),
      attempt: ctx.attempt ?? 1,
      skill: skill.ref,
      input,
      deadline: Math.round(ctx.deadline ?? Date.now() + skill.manifest.timeouts.execute_sec * 1000),
      ...(trace === undefined
        ? {}
        : { traceparent: formatTraceparent(trace.traceId, trace.spanId, trace.flags) }),
      ...(trace?.tracestate === undefined ? {} : { tracestate: trace.tracestate.slice(0, 512) }),
      idempotency_key: ctx.idempotencyKey ?? `call_${Date.now()}`,
      principal: ctx.principal ?? null,
      ...(ctx.approval === undefined ? {} : { approval: ctx.approval }),
      door: ctx.door ?? 'run',
    });
    const result = await this.o.plane.call(queue, payload, {
      repeatable: this.o.repeatable(skill),
      signal: ctx.signal,
      ...(ctx.onProgress === undefined ? {} : { onProgress: ctx.onProgress }),
    });
    return result.output;
  }

  close(): Promise<void> {
    return this.o.local.close();
  }
}

/** The step seq of a run step's key (`<run id>:<seq>`), else `null`. */
function stepSeqOf(key: string | undefined, runId: string | undefined): number | null {
  if (key === undefined || runId === undefined || !key.startsWith(`${runId}:`)) return null;
  const n = Number(key.slice(runId.length + 1).split('/')[0]);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}
