import { createHash, randomBytes } from 'node:crypto';
import { Queue, QueueEvents, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { z } from 'zod';
import { QUEUE_NAME, type Config } from '../config/index.js';
import { NotFoundError, SkillExecutionError, SkillplaneError, ValidationError } from '../errors/index.js';
import {
  decodeJobError,
  jobErrorSchema,
  jobPayloadSchema,
  jobResultSchema,
  type JobPayload,
  type JobResult,
} from './payload.js';
import { BrokerHealth, openRedis, redactUrl, type BrokerState } from './redis.js';
import { configuredQueues } from './routing.js';

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
  redrives: { job_id: string; at: string; by: string | null; state?: string }[];
}

/** Job counts of one queue. */
export interface QueueDepth {
  name: string;
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
  completed: number;
  dead: number;
}

/** The worker plane as `GET /v1/workers` reports it. */
export interface WorkerPlaneStatus {
  broker: string;
  health: BrokerState;
  workers: WorkerInfo[];
  queues: QueueDepth[];
}

/** Progress of a job, as a worker reports it and a run's stream shows it. */
export interface JobProgress {
  stage: string;
  worker?: string;
  attempt?: number;
  code?: string;
  message?: string;
}

const progressSchema = z.object({
  stage: z.string().max(64),
  worker: z.string().max(200).optional(),
  attempt: z.number().int().optional(),
  code: z.string().max(64).optional(),
  message: z.string().max(2000).optional(),
});

/** A call waiting for one job. */
interface JobWatcher {
  /** The job moved on (failed, removed): read it again. */
  wake(): void;
  /** The job completed with this result. */
  completed(value: unknown): void;
  progress?(p: JobProgress): void;
}

/** Fans a queue's events out to the calls waiting for one job each. */
class JobEvents {
  readonly events: QueueEvents;
  private readonly watchers = new Map<string, Set<JobWatcher>>();

  constructor(queue: string, prefix: string, connection: Redis, onError: (e: Error) => void) {
    this.events = new QueueEvents(queue, { connection, prefix });
    this.events.on('error', onError);
    const wake = ({ jobId }: { jobId: string }) => {
      for (const w of this.watchers.get(jobId) ?? []) w.wake();
    };
    // A completed job's event carries its result: the waiting call needs no further read.
    this.events.on('completed', ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) => {
      const value = typeof returnvalue === 'string' ? safeJson(returnvalue) : returnvalue;
      for (const w of this.watchers.get(jobId) ?? []) w.completed(value);
    });
    this.events.on('failed', wake);
    this.events.on('removed', wake);
    this.events.on('progress', ({ jobId, data }: { jobId: string; data: unknown }) => {
      const p = progressSchema.safeParse(data);
      if (!p.success) return;
      for (const w of this.watchers.get(jobId) ?? []) w.progress?.(stripUndefined(p.data));
    });
  }

  watch(jobId: string, w: JobWatcher): () => void {
    let set = this.watchers.get(jobId);
    if (set === undefined) {
      set = new Set();
      this.watchers.set(jobId, set);
    }
    set.add(w);
    return () => {
      set.delete(w);
      if (set.size === 0) this.watchers.delete(jobId);
    };
  }
}

function stripUndefined(p: z.infer<typeof progressSchema>): JobProgress {
  return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as unknown as JobProgress;
}

/** Options of {@link WorkerPlane}. */
export interface WorkerPlaneOptions {
  config: WorkersConfig;
  logger?: Logger;
  /** How often a waiting call re-reads its job besides the events (default 1 s). */
  pollMs?: number;
  /** How often the reaper looks for jobs past their deadline (default 5 s; 0: never). */
  reapIntervalMs?: number;
}

/**
 * The API node's side of the BullMQ worker plane: queues jobs, waits for their results (events,
 * with a poll as a safety net across broker restarts), sends cancel requests to whichever worker
 * runs a job, reports workers, queue depths and health, lists and re-drives dead letters, and
 * reaps jobs that outlive their deadline. A broker that is down never throws out of a background
 * task: the state says why and calls wait for it to return.
 */
export class WorkerPlane {
  readonly health: BrokerHealth;
  readonly config: WorkersConfig;
  private readonly control: Redis;
  private readonly clients: Redis[] = [];
  private readonly queues = new Map<string, Queue>();
  private readonly jobEvents = new Map<string, JobEvents>();
  private readonly logger: Logger | undefined;
  private readonly pollMs: number;
  private reaper: NodeJS.Timeout | undefined;
  private reaping = false;
  private closed = false;
  private aliveCache: { at: number; queues: Set<string> } | undefined;
  private readonly lastNoWorkerLog = new Map<string, number>();
  /** Calls waiting for each job id in this process: a cancel is sent when the last one gives up. */
  private readonly waiting = new Map<string, number>();
  /** Queue names announced by workers' heartbeats (validated, bounded), besides the configured ones. */
  private readonly seenQueues = new Set<string>();
  private lastErrorLog = 0;

  constructor(options: WorkerPlaneOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.pollMs = options.pollMs ?? 1000;
    this.control = openRedis(this.config.broker_url, 'fail-fast', (err) => this.logBrokerError(err));
    this.health = new BrokerHealth(this.control, this.config.broker_url);
    this.health.on('change', (s) => {
      if (this.closed) return;
      if (s.ok)
        this.logger?.info({ broker: redactUrl(this.config.broker_url) }, 'worker plane broker reachable');
      else
        this.logger?.warn(
          { broker: redactUrl(this.config.broker_url), reason: s.reason, code: 'worker_unavailable' },
          'worker plane broker unreachable',
        );
    });
    // Event readers start at once: one created on first use would miss the events of its first
    // calls (it reads from the stream's end) and those calls would wait for the poll.
    for (const name of configuredQueues(this.config)) this.events(name);
    const reapMs = options.reapIntervalMs ?? 5000;
    if (reapMs > 0) {
      this.reaper = setInterval(() => void this.reap().catch(() => undefined), reapMs);
      this.reaper.unref();
    }
  }

  private logBrokerError(err: Error): void {
    const now = Date.now();
    if (this.closed || now - this.lastErrorLog < 10_000) return;
    this.lastErrorLog = now;
    this.logger?.debug({ err: err.message }, 'worker plane broker error');
  }

  /**
   * A Redis client of this plane's own, handed to BullMQ as a shared connection so {@link close}
   * can always cut it (BullMQ's own close waits for a broker that may never answer).
   */
  private client(): Redis {
    const c = openRedis(this.config.broker_url, 'blocking', (err) => this.logBrokerError(err));
    this.track(c);
    return c;
  }

  /** Keeps `c` and every duplicate BullMQ makes of it (blocking readers), to cut them at close. */
  private track(c: Redis): void {
    this.clients.push(c);
    const duplicate = c.duplicate.bind(c);
    c.duplicate = (...args: Parameters<Redis['duplicate']>) => {
      const d = duplicate(...args);
      d.on('error', (err: Error) => this.logBrokerError(err));
      this.track(d);
      return d;
    };
  }

  /** The BullMQ queue `name` (created on first use). */
  queue(name: string): Queue {
    let q = this.queues.get(name);
    if (q === undefined) {
      if (!QUEUE_NAME.test(name.replace(/-dead$/, '')) || this.queues.size >= 256)
        throw new ValidationError(`not a worker plane queue: ${JSON.stringify(name.slice(0, 80))}`, [
          { path: 'queue', message: 'unknown queue' },
        ]);
      // Commands wait (offline queue) while the broker is away; callers bound them (abortable).
      q = new Queue(name, { connection: this.client(), prefix: this.config.prefix });
      // BullMQ listens for `closing` once per command in flight: many concurrent calls are normal.
      q.setMaxListeners(10_000);
      q.on('error', (err: Error) => this.logBrokerError(err));
      this.queues.set(name, q);
    }
    return q;
  }

  private events(name: string): JobEvents {
    let e = this.jobEvents.get(name);
    if (e === undefined) {
      e = new JobEvents(name, this.config.prefix, this.client(), (err) => this.logBrokerError(err));
      this.jobEvents.set(name, e);
    }
    return e;
  }

  /**
   * Throws `worker_unavailable` (503, `Retry-After`) while the broker does not answer; right after
   * start-up it first waits for the first connection attempt (2 s at most).
   */
  async assertAvailable(): Promise<void> {
    if (this.health.ok) return;
    await this.health.whenSettled(2000);
    if (this.health.ok) return;
    throw new SkillplaneError(
      'worker_unavailable',
      this.health.state.reason ?? 'the worker plane is unavailable',
      { data: { retry_after_ms: 5000, retryable: true } },
    );
  }

  /** Job options of a call: retries with exponential backoff unless a repeat is not harmless. */
  jobOptions(jobId: string, repeatable: boolean): JobsOptions {
    return {
      jobId,
      attempts: repeatable ? 1 + this.config.job_retries : 1,
      backoff: { type: 'exponential', delay: this.config.retry_base_ms },
      removeOnComplete: { age: 3600, count: 10_000 },
      removeOnFail: { age: 24 * 3600, count: 10_000 },
    };
  }

  /**
   * Runs one call on the worker plane and returns its result: reuses the job of the same id when
   * it is queued, running or done (a step's work is queued once; a completed job's result is
   * returned as is), queues it otherwise; waits for the broker while it is down (reported once
   * through `onProgress` with code `worker_unavailable`) and for the job while it runs. The
   * signal (deadline, cancel) stops the wait and sends a cancel request to the job's worker.
   */
  async call(
    queueName: string,
    payload: JobPayload,
    opts: {
      repeatable: boolean;
      signal: AbortSignal;
      onProgress?: (p: JobProgress) => void;
    },
  ): Promise<JobResult> {
    const jobId = jobIdFor(payload);
    const queue = this.queue(queueName);
    const events = this.events(queueName);
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
        if (!this.health.ok) {
          if (!reportedDown) {
            reportedDown = true;
            opts.onProgress?.({
              stage: 'waiting_for_broker',
              code: 'worker_unavailable',
              message: this.health.state.reason ?? 'the worker plane is unavailable',
            });
          }
          await this.health.whenReady(opts.signal);
        }
        woken = false;
        const firstAdd = adds === 0;
        const read = await abortable(
          this.readOrQueue(queue, jobId, payload, opts.repeatable, adds),
          opts.signal,
        );
        if (read.added) adds++;
        // Queued, and no worker takes that queue: say so (the call still waits, within its deadline).
        if (read.added && firstAdd) void this.warnWithoutWorkers(queueName, opts.onProgress);
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
        void this.cancel(
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
    job = await queue.add(payload.skill, payload, this.jobOptions(jobId, repeatable));
    // Just queued (or queued by another node a moment before: the next read says what it is).
    return { job, state: 'waiting', added: true };
  }

  /**
   * Tells the caller (a `step.progress` event) and the log, at most every 30 s per queue, when no
   * live worker takes jobs from `queue`: a call then waits for one until its deadline.
   */
  private async warnWithoutWorkers(queue: string, onProgress?: (p: JobProgress) => void): Promise<void> {
    try {
      const now = Date.now();
      if (this.aliveCache === undefined || now - this.aliveCache.at > 2000) {
        const raw = await withTimeout(
          this.control.hgetall(workersKey(this.config.prefix)),
          2000,
          'reading heartbeats',
        );
        const staleMs = this.config.heartbeat_sec * 3000;
        const queues = new Set<string>();
        for (const json of Object.values(raw)) {
          const w = workerInfoSchema.safeParse(safeJson(json));
          if (w.success && now - Date.parse(w.data.last_heartbeat) <= staleMs && w.data.state === 'running')
            for (const q of w.data.queues) queues.add(q);
        }
        this.aliveCache = { at: now, queues };
      }
      if (this.aliveCache.queues.has(queue)) return;
      const message = `no live worker takes jobs from queue ${queue}: the call waits for one until its deadline (start one with: skillplane worker --queue ${queue})`;
      onProgress?.({ stage: 'waiting_for_worker', code: 'no_workers', message });
      if (now - (this.lastNoWorkerLog.get(queue) ?? 0) > 30_000) {
        this.lastNoWorkerLog.set(queue, now);
        this.logger?.warn({ queue, code: 'no_workers' }, message);
      }
    } catch {
      // best effort
    }
  }

  /**
   * Asks whichever worker runs job `jobId` to stop it, and drops it if it is still queued. Best
   * effort: with the broker down the worker's own deadline stops it.
   */
  async cancel(queueName: string, jobId: string, reason: string): Promise<void> {
    try {
      await this.control.publish(
        cancelChannel(this.config.prefix),
        JSON.stringify({ queue: queueName, job_id: jobId, reason: reason.slice(0, 500) }),
      );
      const job = await this.queue(queueName).getJob(jobId);
      const state = await job?.getState();
      if (job !== undefined && (state === 'waiting' || state === 'delayed' || state === 'prioritized'))
        await job.remove().catch(() => undefined);
    } catch {
      // broker down: the job's deadline ends it
    }
  }

  /** Workers seen (alive: a heartbeat within three intervals), queue depths and health. */
  async status(): Promise<WorkerPlaneStatus> {
    const base = { broker: redactUrl(this.config.broker_url), health: this.health.state };
    if (!this.health.ok) return { ...base, workers: [], queues: [] };
    try {
      const raw = await withTimeout(
        this.control.hgetall(workersKey(this.config.prefix)),
        2000,
        'reading heartbeats',
      );
      const now = Date.now();
      const staleMs = this.config.heartbeat_sec * 3000;
      const workers: WorkerInfo[] = [];
      const forget: string[] = [];
      for (const [id, json] of Object.entries(raw)) {
        const parsed = workerInfoSchema.safeParse(safeJson(json));
        if (!parsed.success) {
          forget.push(id);
          continue;
        }
        const age = now - Date.parse(parsed.data.last_heartbeat);
        // Forgotten an hour after the last beat.
        if (age > 3_600_000) forget.push(id);
        else
          workers.push(
            age <= staleMs
              ? { ...parsed.data, alive: true }
              : { ...parsed.data, alive: false, state: 'gone' },
          );
      }
      if (forget.length > 0) await this.control.hdel(workersKey(this.config.prefix), ...forget);
      workers.sort((a, b) => a.id.localeCompare(b.id));
      for (const w of workers)
        for (const q of w.queues) if (QUEUE_NAME.test(q) && this.seenQueues.size < 32) this.seenQueues.add(q);
      const names = this.knownQueues();
      const queues = await withTimeout(
        Promise.all([...names].map((n) => this.depth(n))),
        2000,
        'reading queue depths',
      );
      return { ...base, workers, queues };
    } catch (err) {
      return {
        ...base,
        health: {
          ok: false,
          reason: `worker plane: ${(err as Error).message}`,
          since: new Date().toISOString(),
        },
        workers: [],
        queues: [],
      };
    }
  }

  /** The configured queues and those workers announced (at most 32 more). */
  private knownQueues(): string[] {
    return [...new Set([...configuredQueues(this.config), ...this.seenQueues])];
  }

  private async depth(name: string): Promise<QueueDepth> {
    const c = await this.queue(name).getJobCounts(
      'waiting',
      'active',
      'delayed',
      'failed',
      'completed',
      'prioritized',
    );
    const dead = await this.queue(deadLetterQueueName(name)).getJobCounts('waiting');
    return {
      name,
      waiting: (c.waiting ?? 0) + (c.prioritized ?? 0),
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      failed: c.failed ?? 0,
      completed: c.completed ?? 0,
      dead: dead.waiting ?? 0,
    };
  }

  /** Dead letters of every known queue, newest first (`limit` at most 500). */
  async listDeadLetters(opts: { queue?: string; limit: number }): Promise<DeadLetter[]> {
    await this.assertAvailable();
    const known = this.knownQueues();
    if (opts.queue !== undefined && !known.includes(opts.queue)) throw new NotFoundError('queue', opts.queue);
    const names = opts.queue === undefined ? known : [opts.queue];
    const out: DeadLetter[] = [];
    for (const name of names) {
      const jobs = await this.queue(deadLetterQueueName(name)).getJobs(['waiting'], 0, opts.limit - 1, false);
      for (const j of jobs) {
        const d = deadLetterDataSchema.safeParse(j.data);
        if (!d.success || j.id === undefined) continue;
        out.push(await this.presentDeadLetter(j.id, d.data));
      }
    }
    out.sort((a, b) => b.failed_at.localeCompare(a.failed_at));
    return out.slice(0, opts.limit);
  }

  /** One dead letter by id, or `not_found`. */
  async getDeadLetter(id: string): Promise<{ queue: string; data: DeadLetterData; job: Job }> {
    await this.assertAvailable();
    for (const name of this.knownQueues()) {
      const job = await this.queue(deadLetterQueueName(name)).getJob(id);
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
    const { queue, data, job } = await this.getDeadLetter(id);
    const original = data.payload;
    const jobId = `${data.source_job_id}-r${data.redrives.length + 1}-${randomBytes(3).toString('hex')}`;
    const budget = data.budget_ms ?? Math.max(1000, original.deadline - Date.parse(data.failed_at));
    const payload: JobPayload = { ...original, deadline: Date.now() + Math.min(budget, 86_400_000) };
    await this.queue(queue).add(payload.skill, payload, {
      ...this.jobOptions(jobId, true),
      // An operator's decision: the configured retries apply once more.
    });
    const next: DeadLetterData = {
      ...data,
      redrives: [...data.redrives, { job_id: jobId, at: new Date().toISOString(), by: principal }],
    };
    await job.updateData(next);
    return { dead_letter: await this.presentDeadLetter(id, next), job_id: jobId };
  }

  private async presentDeadLetter(id: string, d: DeadLetterData): Promise<DeadLetter> {
    const redrives = await Promise.all(
      d.redrives.map(async (r) => {
        const j = await this.queue(d.queue).getJob(r.job_id);
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

  /**
   * Jobs past their deadline: a queued one is dropped (nobody waits for it any more; the worker
   * would refuse it anyway), a running one gets a cancel request (its worker stops it; a worker that
   * died leaves it to stalled-job recovery, which finds it past its deadline).
   */
  async reap(): Promise<number> {
    if (!this.health.ok || this.closed || this.reaping) return 0;
    this.reaping = true;
    try {
      return await this.reapOnce();
    } finally {
      this.reaping = false;
    }
  }

  private async reapOnce(): Promise<number> {
    let reaped = 0;
    const now = Date.now();
    for (const name of configuredQueues(this.config)) {
      const q = this.queue(name);
      // Bounded reads: every running job (at most the workers' slots), the oldest queued ones.
      const jobs = [
        ...(await q.getJobs(['active'], 0, 499, true)),
        ...(await q.getJobs(['waiting', 'delayed'], 0, 199, true)),
      ];
      for (const j of jobs) {
        const p = jobPayloadSchema.safeParse(j.data);
        // Grace: the worker's own timer ends a running job first.
        if (!p.success || p.data.deadline + 2000 > now || j.id === undefined) continue;
        const state = await j.getState();
        if (state === 'active') await this.cancel(name, j.id, 'deadline passed');
        else await j.remove().catch(() => undefined);
        reaped++;
      }
    }
    if (reaped > 0) this.logger?.info({ reaped }, 'reaped worker jobs past their deadline');
    return reaped;
  }

  /** Closes queues, event readers and connections. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.reaper !== undefined) clearInterval(this.reaper);
    // A broker that is down would keep a graceful close waiting: a moment, then the sockets are cut.
    const graceful = Promise.allSettled([
      ...[...this.jobEvents.values()].map((e) => e.events.close()),
      ...[...this.queues.values()].map((q) => q.close()),
    ]);
    const timer = new Promise<void>((r) => setTimeout(r, this.health.ok ? 2000 : 50).unref());
    await Promise.race([graceful, timer]);
    for (const c of this.clients) c.disconnect();
    this.control.disconnect();
  }
}

/** Awaits `p` unless `signal` aborts first (then rejects with its reason; `p` is left to settle). */
function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e as Error);
      },
    );
  });
}

/** Settles with `p`, or rejects after `ms` (broker reads of the status page). */
function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(new Error(`${what} took more than ${ms} ms`)), ms);
  return abortable(p, ac.signal).finally(() => clearTimeout(t));
}

function safeJson(s: string): unknown {
  try {
    return JSON.parse(s);
  } catch {
    return undefined;
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
