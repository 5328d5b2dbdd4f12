// The contract the API nodes and the workers share through the broker: key and channel names,
// job ids, and the shapes of heartbeats, cancel requests, dead letters and progress.
import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { Config } from '../config/index.js';
import { jobErrorSchema, jobPayloadSchema, type JobPayload } from './payload.js';

/** The worker plane settings. */
export type WorkersConfig = Config['workers'];

/** The name of a queue's dead-letter queue (BullMQ queue names may not hold `:`). */
export function deadLetterQueueName(queue: string): string {
  return `${queue}-dead`;
}

/** The Redis channel cancel requests travel on. */
export function cancelChannel(prefix: string): string {
  return `${prefix}:cancel`;
}

/** The Redis hash of worker heartbeats (field: worker id, value: {@link WorkerInfo} JSON). */
export function workersKey(prefix: string): string {
  return `${prefix}:workers`;
}

/**
 * The job id of a call: a hash of where its idempotency key comes from and the key, so a repeated
 * call of one step (a retry, a resume after a crash, another API node) finds the job that already
 * exists instead of queueing the work twice. A run's step (`<run id>:<seq>`, made by the server)
 * has its own namespace; a direct call's key is the caller's, so it is scoped to the principal and
 * the input (another caller, or another input, under the same key is another job). BullMQ ids may
 * not contain `:`, hence the hash.
 */
export function jobIdFor(
  p: Pick<JobPayload, 'idempotency_key' | 'skill' | 'run_id' | 'principal' | 'input'>,
): string {
  const parts =
    p.run_id !== null
      ? ['run', p.run_id, p.idempotency_key, p.skill]
      : ['direct', p.principal ?? '', p.idempotency_key, p.skill, JSON.stringify(p.input ?? null)];
  return `j${createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 40)}`;
}

/** A cancel request on {@link cancelChannel}. */
export const cancelMessageSchema = z.strictObject({
  queue: z.string().min(1).max(64),
  job_id: z.string().min(1).max(200),
  reason: z.string().max(500),
});

/** One worker as its heartbeat describes it. */
export const workerInfoSchema = z.object({
  id: z.string().max(200),
  host: z.string().max(255),
  pid: z.number().int(),
  queues: z.array(z.string().max(64)).max(100),
  concurrency: z.number().int(),
  in_flight: z.number().int(),
  jobs_done: z.number().int(),
  jobs_failed: z.number().int(),
  skills: z.array(z.string().max(300)).max(10_000),
  started_at: z.string(),
  last_heartbeat: z.string(),
  /** `running`, or `draining` after SIGTERM. */
  state: z.enum(['running', 'draining']),
});

/**
 * One worker as its heartbeat describes it; in a status, a worker that missed three beats is
 * `alive: false` with state `gone` (its last counts kept as they were).
 */
export type WorkerInfo = Omit<z.infer<typeof workerInfoSchema>, 'state'> & {
  state: 'running' | 'draining' | 'gone';
  alive?: boolean;
};

/** What a dead letter holds (the data of its job in the dead-letter queue). */
export const deadLetterDataSchema = z.object({
  payload: jobPayloadSchema,
  queue: z.string(),
  source_job_id: z.string(),
  error: jobErrorSchema,
  attempts: z.number().int(),
  failed_at: z.string(),
  /** The call's whole time budget (deadline − queued at), given again to a re-drive. */
  budget_ms: z.number().int().positive().optional(),
  worker: z.string().nullable(),
  redrives: z.array(z.object({ job_id: z.string(), at: z.string(), by: z.string().nullable() })).default([]),
});

/** A dead letter's stored data. */
export type DeadLetterData = z.infer<typeof deadLetterDataSchema>;

/** Progress of a job, as a worker reports it and a run's stream shows it. */
export interface JobProgress {
  stage: string;
  worker?: string;
  attempt?: number;
  code?: string;
  message?: string;
}

/** A progress report as a job's `progress` event carries it. */
export const progressSchema = z.object({
  stage: z.string().max(64),
  worker: z.string().max(200).optional(),
  attempt: z.number().int().optional(),
  code: z.string().max(64).optional(),
  message: z.string().max(2000).optional(),
});

/** Parses JSON read from the broker; `undefined` when it is not JSON. */
export function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
  }
}
