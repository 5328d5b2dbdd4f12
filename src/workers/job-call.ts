// A call on the worker plane: queue the job once (or find the one already there), wait for its
// result through job events and a poll, and cancel it when the last waiting caller gives up.
import type { Job, JobsOptions, Queue } from 'bullmq';
import { SkillExecutionError } from '../errors/index.js';
import { abortable } from './abortable.js';
import { jobIdFor, type JobProgress } from './broker-protocol.js';
import type { JobEvents } from './job-events.js';
import { decodeJobError, jobResultSchema, type JobPayload, type JobResult } from './payload.js';
import type { BrokerHealth } from './redis.js';

/** What a call needs of the worker plane. */
export interface JobCallPlane {
  readonly health: BrokerHealth;
  queue(name: string): Queue;
  events(name: string): JobEvents;
  jobOptions(jobId: string, repeatable: boolean): JobsOptions;
  warnWithoutWorkers(queue: string, onProgress?: (p: JobProgress) => void): Promise<void>;
  cancel(queueName: string, jobId: string, reason: string): Promise<void>;
}

/** How {@link JobCalls.call} runs a call. */
export interface JobCallOptions {
  /** Whether a failed attempt is tried again (`workers.job_retries`); false for risk-tagged or `idempotent: false` skills. */
  repeatable: boolean;
  /** The call's deadline and cancel. */
  signal: AbortSignal;
  onProgress?: (p: JobProgress) => void;
}

/** The calls of one worker plane, and how many callers in this process wait for each job. */
export class JobCalls {
  /** Calls waiting for each job id in this process: a cancel is sent when the last one gives up. */
  private readonly waiting = new Map<string, number>();

  constructor(
    private readonly plane: JobCallPlane,
    /** How often a waiting call re-reads its job besides the events. */
    private readonly pollMs: number,
  ) {}

  /**
   * Runs one call on the worker plane and returns its result: reuses the job of the same id when
   * it is queued, running or done (a step's work is queued once; a completed job's result is
   * returned as is), queues it otherwise; waits for the broker while it is down (reported once
   * through `onProgress` with code `worker_unavailable`) and for the job while it runs. The
   * signal (deadline, cancel) stops the wait and sends a cancel request to the job's worker.
   */
  async call(queueName: string, payload: JobPayload, opts: JobCallOptions): Promise<JobResult> {
    const jobId = jobIdFor(payload);
    const queue = this.plane.queue(queueName);
    const events = this.plane.events(queueName);
    let wakeUp: (() => void) | undefined;
    let woken = false;
    let result: { value: unknown } | undefined;
    const unwatch = events.watch(jobId, {
      wake: () => {
        woken = true;
        wakeUp?.();
      },
      completed: (value) => {
        result = { value };
        woken = true;
        wakeUp?.();
      },
      ...(opts.onProgress === undefined ? {} : { progress: opts.onProgress }),
    });
    let reportedDown = false;
    let adds = 0;
    this.waiting.set(jobId, (this.waiting.get(jobId) ?? 0) + 1);
    try {
      for (;;) {
        opts.signal.throwIfAborted();
        if (result !== undefined) return parseResult(result.value, payload.skill);
        if (!this.plane.health.ok) {
          if (!reportedDown) {
            reportedDown = true;
            opts.onProgress?.({
              stage: 'waiting_for_broker',
              code: 'worker_unavailable',
              message: this.plane.health.state.reason ?? 'the worker plane is unavailable',
            });
          }
          await this.plane.health.whenReady(opts.signal);
        }
        woken = false;
        const firstAdd = adds === 0;
        const read = await abortable(
          this.readOrQueue(queue, jobId, payload, opts.repeatable, adds),
          opts.signal,
        );
        if (read.added) adds++;
        // Queued, and no worker takes that queue: say so (the call still waits, within its deadline).
        if (read.added && firstAdd) void this.plane.warnWithoutWorkers(queueName, opts.onProgress);
        const { job, state } = read;
        if (state === 'completed') return parseResult(job.returnvalue, payload.skill);
        if (state === 'failed')
          throw decodeJobError(job.failedReason, {
            retryable: false,
            job_id: jobId,
            attempts: job.attemptsMade,
            queue: queueName,
          });
        if (woken) continue;
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, this.pollMs);
          function done() {
            clearTimeout(timer);
            opts.signal.removeEventListener('abort', done);
            resolve();
          }
          wakeUp = done;
          opts.signal.addEventListener('abort', done, { once: true });
        });
        wakeUp = undefined;
      }
    } finally {
      unwatch();
      const left = (this.waiting.get(jobId) ?? 1) - 1;
      if (left > 0) this.waiting.set(jobId, left);
      else this.waiting.delete(jobId);
      // Given up (deadline, cancel, caller gone) and nobody else here waits for it: stop the job.
      if (opts.signal.aborted && left === 0)
        void this.plane.cancel(
          queueName,
          jobId,
          String((opts.signal.reason as Error | undefined)?.message ?? 'cancelled'),
        );
    }
  }

  /**
   * Reads the job, queueing it when it is missing or failed on an earlier attempt of the step.
   * `adds` counts the times this call queued it: a job that vanished after that (a broker that
   * lost its data) is queued again only for a skill whose repeat is harmless, at most 3 times.
   */
  private async readOrQueue(
    queue: Queue,
    jobId: string,
    payload: JobPayload,
    repeatable: boolean,
    adds: number,
  ): Promise<{ job: Job; state: string; added: boolean }> {
    // The state first: a job read after it is final carries its final result.
    let state: string = await queue.getJobState(jobId);
    let job = state === 'unknown' ? undefined : await queue.getJob(jobId);
    if (job === undefined) state = 'unknown';
    let replacing = false;
    if (job !== undefined && state === 'failed' && (job.data as JobPayload).attempt < payload.attempt) {
      // A new attempt of the step (the runtime's retry, a resume): the failed job is replaced.
      await job.remove();
      replacing = true;
    } else if (job !== undefined && state !== 'unknown') return { job, state, added: false };
    if (!replacing && adds > 0 && !repeatable)
      throw new SkillExecutionError(
        `the job of ${payload.skill} vanished from the broker and the skill may not run twice`,
        'interrupted',
        { data: { retryable: false, job_id: jobId } },
      );
    if (!replacing && adds > 3)
      throw new SkillExecutionError(
        `the job of ${payload.skill} vanished from the broker ${adds} times`,
        'worker_job_lost',
        { data: { retryable: true, job_id: jobId } },
      );
    job = await queue.add(payload.skill, payload, this.plane.jobOptions(jobId, repeatable));
    // Just queued (or queued by another node a moment before: the next read says what it is).
    return { job, state: 'waiting', added: true };
  }
}

function parseResult(raw: unknown, skill: string): JobResult {
  const r = jobResultSchema.safeParse(raw);
  if (!r.success)
    throw new SkillExecutionError(`the worker's result for ${skill} is malformed`, 'worker_result_invalid', {
      data: { retryable: false },
    });
  return r.data;
}
