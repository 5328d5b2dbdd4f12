// Running one job on a worker: the deadline, the skill and repeat-safety checks, the job's span,
// the call through the skill invoker, and how its failure is told to BullMQ (retry, final, handed
// back); with the counts a heartbeat reports.
import { performance } from 'node:perf_hooks';
import { DelayedError, UnrecoverableError, type Job } from 'bullmq';
import type { Logger } from 'pino';
import { isRetryable } from '../agents/retry.js';
import { SkillExecutionError, TimeoutError, toSkillplaneError } from '../errors/index.js';
import type { SkillService } from '../skills/index.js';
import {
  formatTraceparent,
  parseTraceparent,
  recordSpanError,
  SpanKind,
  type Tracing,
} from '../tracing/index.js';
import { encodeJobError, parseJobPayload, type JobResult } from './payload.js';

/** Why a job stopped without failing: the worker is leaving and gives it back to the queue. */
class HandBack extends Error {
  constructor() {
    super('worker shutting down: job handed back');
    this.name = 'HandBack';
  }
}

/** Runs a worker's jobs and counts them (in flight, done, failed). */
export class JobRunner {
  /** Set at shutdown: jobs stopped from now on are handed back to the queue. */
  handingBack = false;
  inFlight = 0;
  done = 0;
  failed = 0;
  /** Jobs in flight whose skill may not run twice (risk-tagged, `idempotent: false`). */
  private readonly once = new Set<string>();

  constructor(
    private readonly skills: SkillService,
    private readonly id: string,
    private readonly tracing: Tracing,
    private readonly logger: Logger | undefined,
  ) {}

  /** The BullMQ processor of a job: its result, or the error that tells BullMQ what to do next. */
  async process(job: Job, token: string | undefined, signal: AbortSignal | undefined): Promise<JobResult> {
    const started = performance.now();
    this.inFlight++;
    try {
      return await this.run(job, signal, started);
    } catch (raw) {
      if (this.handingBack && raw instanceof HandBack) {
        await job.moveToDelayed(Date.now(), token);
        throw new DelayedError();
      }
      const err = toSkillplaneError(raw, 'skill_failed');
      this.logger?.info(
        {
          worker: this.id,
          job: job.id,
          skill: (job.data as { skill?: unknown })?.skill,
          code: err.code,
          attempt: job.attemptsMade + 1,
          ...jobLogFields(job.data),
        },
        'worker job failed',
      );
      // Only a passing failure of a call that may be repeated is tried again; a cancel, a
      // refusal, a bad input or any failure of a risk-tagged / idempotent: false call is final.
      const final = err.code === 'cancelled' || !isRetryable(err) || this.once.has(job.id ?? '');
      if (final) throw new UnrecoverableError(encodeJobError(err));
      throw new Error(encodeJobError(err));
    } finally {
      this.inFlight--;
      this.once.delete(job.id ?? '');
    }
  }

  private async run(job: Job, signal: AbortSignal | undefined, started: number): Promise<JobResult> {
    const payload = parseJobPayload(job.data);
    const remaining = payload.deadline - Date.now();
    if (remaining <= 0)
      throw new TimeoutError(`the deadline of ${payload.skill} passed before a worker took it`, 0);
    const skill = this.skills.registry.get(payload.skill);
    if (skill === undefined || skill.ref !== payload.skill)
      throw new SkillExecutionError(
        `worker ${this.id} has no skill ${payload.skill}`,
        'worker_skill_missing',
        {
          data: { retryable: true, worker: this.id },
        },
      );
    const repeatable = this.skills.policy.repeatable(skill);
    if (!repeatable) this.once.add(job.id ?? '');
    // Delivered again after its worker died: it may have had its effect already.
    if (!repeatable && job.stalledCounter > 0)
      throw new SkillExecutionError(
        `the worker running ${payload.skill} died mid-call and the skill may not run twice`,
        'interrupted',
        { data: { retryable: false, reason: skill.manifest.idempotent ? 'risk_tagged' : 'not_idempotent' } },
      );
    // A run's stream shows which worker took its step; a direct call has no stream to tell.
    if (payload.run_id !== null)
      await job.updateProgress({ stage: 'started', worker: this.id, attempt: job.attemptsMade + 1 });
    // The job's span continues the caller's trace (its step's span); the sandbox child's is its child.
    const parent = parseTraceparent(payload.traceparent);
    const span =
      this.tracing.enabled && parent !== undefined
        ? this.tracing.startSpan(`execute_tool ${skill.id}`, {
            parent,
            kind: SpanKind.CONSUMER,
            attributes: {
              'gen_ai.operation.name': 'execute_tool',
              'gen_ai.tool.name': skill.id,
              'skillplane.skill.ref': skill.ref,
              'skillplane.worker.id': this.id,
              'skillplane.job.id': job.id ?? '',
              'skillplane.job.attempt': job.attemptsMade + 1,
            },
          })
        : undefined;
    const traceparent =
      span === undefined || parent === undefined
        ? payload.traceparent
        : formatTraceparent(parent.traceId, span.spanContext().spanId, parent.flags);
    const controller = new AbortController();
    const onAbort = () => controller.abort(this.handingBack ? new HandBack() : signal?.reason);
    if (signal?.aborted === true) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const r = await this.skills.invoker.invoke({
        skill,
        input: payload.input,
        door: payload.door,
        principal: payload.principal,
        timeoutMs: remaining,
        signal: controller.signal,
        ...(payload.approval === undefined ? {} : { approval: payload.approval }),
        ...(traceparent === undefined ? {} : { traceparent }),
        ...(payload.tracestate === undefined ? {} : { tracestate: payload.tracestate }),
        ...(payload.run_id === null ? {} : { runId: payload.run_id }),
        idempotencyKey: payload.idempotency_key,
        // The step's attempt, plus the deliveries of this job before this one (failed attempts and
        // re-deliveries after a worker died), so a skill sees every repeat.
        attempt: payload.attempt + Math.max(job.attemptsMade, (job.attemptsStarted ?? 1) - 1),
        // The skill's ctx.logger: lines carry the run, trace and step span of the call.
        ...(this.logger === undefined ? {} : { logger: this.logger.child(jobLogFields(payload)) }),
      });
      this.done++;
      return { output: r.output, worker: this.id, duration_ms: Math.round(performance.now() - started) };
    } catch (err) {
      if (controller.signal.reason instanceof HandBack) {
        // Stopped mid-call by a shutdown: another worker may take it again only if that is harmless.
        if (repeatable) throw controller.signal.reason;
        throw new SkillExecutionError(
          `worker ${this.id} shut down while ${payload.skill} ran, and the skill may not run twice`,
          'interrupted',
          {
            data: { retryable: false, reason: skill.manifest.idempotent ? 'risk_tagged' : 'not_idempotent' },
          },
        );
      }
      this.failed++;
      if (span !== undefined) recordSpanError(span, toSkillplaneError(err).code);
      throw err;
    } finally {
      span?.end();
      signal?.removeEventListener('abort', onAbort);
    }
  }
}

/** The run, trace and step span a job belongs to, for its log lines (read from an unchecked payload). */
export function jobLogFields(data: unknown): { run_id?: string; trace_id?: string; span_id?: string } {
  const d = (typeof data === 'object' && data !== null ? data : {}) as {
    run_id?: unknown;
    traceparent?: unknown;
  };
  const trace = parseTraceparent(typeof d.traceparent === 'string' ? d.traceparent : undefined);
  return {
    ...(typeof d.run_id === 'string' ? { run_id: d.run_id } : {}),
    ...(trace === undefined ? {} : { trace_id: trace.traceId, span_id: trace.spanId }),
  };
}
