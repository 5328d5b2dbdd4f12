// The dead-letter queues as the API sees them: listing, reading and re-driving the calls that
// failed their last attempt (the workers write them).
import { randomBytes } from 'node:crypto';
import type { Job, JobsOptions, Queue } from 'bullmq';
import { NotFoundError, ValidationError } from '../errors/index.js';
import { deadLetterDataSchema, deadLetterQueueName, type DeadLetterData } from './broker-protocol.js';
import type { JobPayload } from './payload.js';

/** A dead letter as the API lists it (the input is left out: only its size). */
export interface DeadLetter {
  id: string;
  queue: string;
  skill: string;
  run_id: string | null;
  step_seq: number | null;
  source_job_id: string;
  attempts: number;
  error: { code: string; message: string };
  failed_at: string;
  worker: string | null;
  input_bytes: number;
  /** Each retry, oldest first, with its job's state now (`gone` once removed). */
  redrives: { job_id: string; at: string; by: string | null; state?: string }[];
}

/** What the dead-letter operations need of the worker plane. */
export interface DeadLetterPlane {
  queue(name: string): Queue;
  knownQueues(): string[];
  assertAvailable(): Promise<void>;
  jobOptions(jobId: string, repeatable: boolean): JobsOptions;
}

/** The dead letters of one worker plane's queues. */
export class DeadLetters {
  constructor(private readonly plane: DeadLetterPlane) {}

  /** Dead letters of every known queue, newest first (`limit` at most 500). */
  async list(opts: { queue?: string; limit: number }): Promise<DeadLetter[]> {
    await this.plane.assertAvailable();
    const known = this.plane.knownQueues();
    if (opts.queue !== undefined && !known.includes(opts.queue)) throw new NotFoundError('queue', opts.queue);
    const names = opts.queue === undefined ? known : [opts.queue];
    const out: DeadLetter[] = [];
    for (const name of names) {
      const jobs = await this.plane
        .queue(deadLetterQueueName(name))
        .getJobs(['waiting'], 0, opts.limit - 1, false);
      for (const j of jobs) {
        const d = deadLetterDataSchema.safeParse(j.data);
        if (!d.success || j.id === undefined) continue;
        out.push(await this.present(j.id, d.data));
      }
    }
    out.sort((a, b) => b.failed_at.localeCompare(a.failed_at));
    return out.slice(0, opts.limit);
  }

  /** One dead letter by id, or `not_found`. */
  async get(id: string): Promise<{ queue: string; data: DeadLetterData; job: Job }> {
    await this.plane.assertAvailable();
    for (const name of this.plane.knownQueues()) {
      const job = await this.plane.queue(deadLetterQueueName(name)).getJob(id);
      if (job === undefined) continue;
      const d = deadLetterDataSchema.safeParse(job.data);
      if (!d.success)
        throw new ValidationError(
          `dead letter ${id} is not readable`,
          [{ path: 'data', message: d.error.message }],
          'dead_letter_invalid',
        );
      return { queue: name, data: d.data, job };
    }
    throw new NotFoundError('dead letter', id);
  }

  /**
   * Queues a dead letter's call again with a fresh attempt budget and deadline (as long as the
   * original had); the dead letter stays, listing its re-drives and their state.
   */
  async redrive(id: string, principal: string | null): Promise<{ dead_letter: DeadLetter; job_id: string }> {
    const { queue, data, job } = await this.get(id);
    const original = data.payload;
    const jobId = `${data.source_job_id}-r${data.redrives.length + 1}-${randomBytes(3).toString('hex')}`;
    const budget = data.budget_ms ?? Math.max(1000, original.deadline - Date.parse(data.failed_at));
    const payload: JobPayload = { ...original, deadline: Date.now() + Math.min(budget, 86_400_000) };
    await this.plane.queue(queue).add(payload.skill, payload, {
      ...this.plane.jobOptions(jobId, true),
      // An operator's decision: the configured retries apply once more.
    });
    const next: DeadLetterData = {
      ...data,
      redrives: [...data.redrives, { job_id: jobId, at: new Date().toISOString(), by: principal }],
    };
    await job.updateData(next);
    return { dead_letter: await this.present(id, next), job_id: jobId };
  }

  private async present(id: string, d: DeadLetterData): Promise<DeadLetter> {
    const redrives = await Promise.all(
      d.redrives.map(async (r) => {
        const j = await this.plane.queue(d.queue).getJob(r.job_id);
        return { ...r, state: j === undefined ? 'gone' : await j.getState() };
      }),
    );
    return {
      id,
      queue: d.queue,
      skill: d.payload.skill,
      run_id: d.payload.run_id,
      step_seq: d.payload.step_seq,
      source_job_id: d.source_job_id,
      attempts: d.attempts,
      error: { code: d.error.code, message: d.error.message },
      failed_at: d.failed_at,
      worker: d.worker,
      input_bytes: Buffer.byteLength(JSON.stringify(d.payload.input ?? null)),
      redrives,
    };
  }
}
