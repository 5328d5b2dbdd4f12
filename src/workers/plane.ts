// The API node's side of the BullMQ worker plane: one facade over its broker connections, the
// calls (job-call), the workers' roster (worker-roster), the dead letters (dead-letters) and the
// reaper of jobs past their deadline.
import { Queue, type Job, type JobsOptions } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { QUEUE_NAME } from '../config/index.js';
import { SkillplaneError, ValidationError } from '../errors/index.js';
import { cancelChannel, type DeadLetterData, type WorkersConfig } from './broker-protocol.js';
import { DeadLetters, type DeadLetter } from './dead-letters.js';
import { JobCalls, type JobCallOptions } from './job-call.js';
import { JobEvents } from './job-events.js';
import { jobPayloadSchema, type JobPayload, type JobResult } from './payload.js';
import { BrokerHealth, openRedis, redactUrl } from './redis.js';
import { configuredQueues } from './routing.js';
import { WorkerRoster, type WorkerPlaneStatus } from './worker-roster.js';

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
  private reaper: NodeJS.Timeout | undefined;
  private reaping = false;
  private closed = false;
  private lastErrorLog = 0;
  private readonly calls: JobCalls;
  private readonly roster: WorkerRoster;
  private readonly deadLetters = new DeadLetters({
    queue: (name) => this.queue(name),
    knownQueues: () => this.roster.knownQueues(),
    assertAvailable: () => this.assertAvailable(),
    jobOptions: (jobId, repeatable) => this.jobOptions(jobId, repeatable),
  });

  constructor(options: WorkerPlaneOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.control = openRedis(this.config.broker_url, 'fail-fast', (err) => this.logBrokerError(err));
    this.health = new BrokerHealth(this.control, this.config.broker_url);
    this.roster = new WorkerRoster({
      config: this.config,
      control: this.control,
      health: this.health,
      logger: this.logger,
      queue: (name) => this.queue(name),
    });
    this.calls = new JobCalls(
      {
        health: this.health,
        queue: (name) => this.queue(name),
        events: (name) => this.events(name),
        jobOptions: (jobId, repeatable) => this.jobOptions(jobId, repeatable),
        warnWithoutWorkers: (queue, onProgress) => this.roster.warnWithoutWorkers(queue, onProgress),
        cancel: (queueName, jobId, reason) => this.cancel(queueName, jobId, reason),
      },
      options.pollMs ?? 1000,
    );
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

  /** Runs one call on the worker plane and returns its result ({@link JobCalls.call}). */
  call(queueName: string, payload: JobPayload, opts: JobCallOptions): Promise<JobResult> {
    return this.calls.call(queueName, payload, opts);
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
  status(): Promise<WorkerPlaneStatus> {
    return this.roster.status();
  }

  /** Dead letters of every known queue, newest first (`limit` at most 500). */
  listDeadLetters(opts: { queue?: string; limit: number }): Promise<DeadLetter[]> {
    return this.deadLetters.list(opts);
  }

  /** One dead letter by id, or `not_found`. */
  getDeadLetter(id: string): Promise<{ queue: string; data: DeadLetterData; job: Job }> {
    return this.deadLetters.get(id);
  }

  /**
   * Queues a dead letter's call again with a fresh attempt budget and deadline (as long as the
   * original had); the dead letter stays, listing its re-drives and their state.
   */
  redrive(id: string, principal: string | null): Promise<{ dead_letter: DeadLetter; job_id: string }> {
    return this.deadLetters.redrive(id, principal);
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
