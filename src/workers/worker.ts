// The `skillplane worker` process: its queues, heartbeats, cancel requests, dead letters and
// graceful shutdown; each job itself runs in job-runner.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { Queue, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/index.js';
import { createSkillService, type SkillService } from '../skills/index.js';
import { createTracing, type Tracing } from '../tracing/index.js';
import {
  cancelChannel,
  cancelMessageSchema,
  deadLetterQueueName,
  workersKey,
  type DeadLetterData,
  type WorkerInfo,
} from './broker-protocol.js';
import { JobRunner, jobLogFields } from './job-runner.js';
import { decodeJobError, parseJobPayload } from './payload.js';
import { bullConnection, openRedis, redactUrl } from './redis.js';

/** Options of {@link SkillWorker}. */
export interface SkillWorkerOptions {
  loaded: LoadedConfig;
  /** Queues to take jobs from (default: `workers.queue`). */
  queues?: string[];
  /** Job slots per queue (default: `workers.concurrency`). */
  concurrency?: number;
  /** This worker's id (default `<host>-<pid>-<random>`). */
  id?: string;
  logger?: Logger;
  /** Hot reload of the skill folders (default: `skills.watch`). */
  watch?: boolean;
  /**
   * Spans of the jobs (`execute_tool {skill}` under the job's `traceparent`, and the sandbox
   * child's). Default: made from `tracing` in the configuration; the worker shuts it down on close
   * (an injected one is flushed, not shut down).
   */
  tracing?: Tracing;
}

/**
 * A `skillplane worker` process's engine: takes jobs from the worker plane's queues with bounded
 * concurrency and runs each through the same invoker and sandboxed executors as an API node
 * (policy, approval, limits, schema, deadline — nothing in a job is trusted), loads the same skill
 * folders (hot reload included), heartbeats, reports progress, stops a job when asked (cancel
 * requests on the broker), writes jobs that failed their last attempt to the dead-letter queue, and
 * on {@link close} lets running jobs finish within a grace period, then hands the rest back.
 */
export class SkillWorker {
  private readonly workers: Worker[] = [];
  private readonly deadLetters = new Map<string, Queue>();
  private subscriber: Redis | undefined;
  private control: Redis | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly startedAt = new Date().toISOString();
  private state: 'running' | 'draining' = 'running';
  private readonly jobs: JobRunner;
  private lastErrorLog = 0;

  private constructor(
    private readonly opts: SkillWorkerOptions,
    readonly skills: SkillService,
    readonly queues: string[],
    readonly concurrency: number,
    readonly id: string,
    readonly tracing: Tracing,
  ) {
    this.jobs = new JobRunner(skills, id, tracing, opts.logger);
  }

  /** Loads the skills and starts taking jobs. */
  static async start(opts: SkillWorkerOptions): Promise<SkillWorker> {
    const cfg = opts.loaded.config.workers;
    const id = opts.id ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
    const tracing =
      opts.tracing ??
      createTracing(opts.loaded.config.tracing, {
        serviceName: 'skillplane-worker',
        nodeId: id,
        onExportError: (err) =>
          opts.logger?.warn({ err: err.message }, 'span export failed (reported once; jobs go on)'),
      });
    const skills = await createSkillService(opts.loaded, {
      ...(opts.watch === undefined ? {} : { watch: opts.watch }),
      ...(opts.logger === undefined ? {} : { logger: opts.logger }),
      tracing,
    });
    const queues = opts.queues ?? [cfg.queue];
    const w = new SkillWorker(opts, skills, queues, opts.concurrency ?? cfg.concurrency, id, tracing);
    try {
      w.begin();
    } catch (err) {
      await skills.close();
      if (opts.tracing === undefined) await tracing.shutdown();
      throw err;
    }
    return w;
  }

  private get cfg(): LoadedConfig['config']['workers'] {
    return this.opts.loaded.config.workers;
  }

  private logError(err: Error): void {
    const now = Date.now();
    if (now - this.lastErrorLog < 10_000) return;
    this.lastErrorLog = now;
    this.opts.logger?.warn(
      { err: err.message, broker: redactUrl(this.cfg.broker_url), code: 'worker_unavailable' },
      'worker plane broker error (retrying)',
    );
  }

  private begin(): void {
    const cfg = this.cfg;
    for (const name of this.queues) {
      const worker = new Worker(name, (job, token, signal) => this.jobs.process(job, token, signal), {
        connection: bullConnection(cfg.broker_url, 'blocking'),
        prefix: cfg.prefix,
        concurrency: this.concurrency,
        lockDuration: Math.round(cfg.lock_sec * 1000),
        stalledInterval: Math.round(cfg.stalled_interval_sec * 1000),
        maxStalledCount: 1,
        name: this.id,
      });
      worker.on('error', (err) => this.logError(err));
      worker.on('failed', (job, err) => {
        if (job !== undefined) void this.onFailed(name, job, err).catch((e: Error) => this.logError(e));
      });
      this.workers.push(worker);
      const dead = new Queue(deadLetterQueueName(name), {
        connection: bullConnection(cfg.broker_url, 'blocking'),
        prefix: cfg.prefix,
      });
      dead.on('error', (err) => this.logError(err));
      this.deadLetters.set(name, dead);
    }
    this.subscriber = openRedis(cfg.broker_url, 'blocking', (err) => this.logError(err));
    void this.subscriber.subscribe(cancelChannel(cfg.prefix)).catch((err: Error) => this.logError(err));
    this.subscriber.on('message', (_channel: string, message: string) => this.onCancel(message));
    // Heartbeats are best effort: with the broker down they fail at once instead of piling up.
    this.control = openRedis(cfg.broker_url, 'fail-fast', (err) => this.logError(err));
    // The first beat as soon as the broker answers (a fail-fast client refuses it before), so the
    // API nodes see this worker at once.
    this.control.on('ready', () => void this.beat());
    this.heartbeat = setInterval(() => void this.beat(), Math.round(cfg.heartbeat_sec * 1000));
    this.heartbeat.unref();
    this.opts.logger?.info(
      {
        worker: this.id,
        queues: this.queues,
        concurrency: this.concurrency,
        broker: redactUrl(cfg.broker_url),
        skills: this.skills.registry.list({ latestOnly: false }).length,
        confinement: this.skills.confinement.kind,
      },
      'worker started',
    );
  }

  /** This worker as its heartbeat describes it. */
  info(): WorkerInfo {
    return {
      id: this.id,
      host: hostname(),
      pid: process.pid,
      queues: this.queues,
      concurrency: this.concurrency,
      in_flight: this.jobs.inFlight,
      jobs_done: this.jobs.done,
      jobs_failed: this.jobs.failed,
      skills: this.skills.registry
        .list({ latestOnly: false })
        .map((s) => s.ref)
        .slice(0, 10_000),
      started_at: this.startedAt,
      last_heartbeat: new Date().toISOString(),
      state: this.state,
    };
  }

  private async beat(): Promise<void> {
    try {
      await this.control?.hset(workersKey(this.cfg.prefix), this.id, JSON.stringify(this.info()));
    } catch (err) {
      this.logError(err as Error);
    }
  }

  private onCancel(message: string): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(message);
    } catch {
      return;
    }
    const m = cancelMessageSchema.safeParse(parsed);
    if (!m.success || !this.queues.includes(m.data.queue)) return;
    for (const w of this.workers) if (w.name === m.data.queue) w.cancelJob(m.data.job_id, m.data.reason);
  }

  /** A job that failed its last attempt (and was not cancelled) becomes a dead letter. */
  private async onFailed(queue: string, job: Job, err: Error): Promise<void> {
    if ((await job.getState()) !== 'failed' || job.id === undefined) return;
    // Ours carry {code, message} as JSON; anything else (a stalled job out of deliveries) is skill_failed.
    const { code, message } = decodeJobError(err.message);
    if (code === 'cancelled') return;
    let payload;
    try {
      payload = parseJobPayload(job.data);
    } catch {
      return; // nothing to re-drive
    }
    const data: DeadLetterData = {
      payload,
      queue,
      source_job_id: job.id,
      error: { code, message: message.slice(0, 8000) },
      attempts: job.attemptsMade,
      failed_at: new Date().toISOString(),
      ...(payload.deadline > job.timestamp
        ? { budget_ms: Math.round(payload.deadline - job.timestamp) }
        : {}),
      worker: this.id,
      redrives: [],
    };
    const dead = this.deadLetters.get(queue);
    if (dead === undefined) return;
    // One dead letter per failed job: a job queued again under the same id (a new attempt of the
    // step) that fails again is another one.
    await dead.add(payload.skill, data, { jobId: `dead-${job.id}-${job.timestamp}` });
    this.opts.logger?.warn(
      {
        worker: this.id,
        job: job.id,
        skill: payload.skill,
        ...jobLogFields(payload),
        code: data.error.code,
        attempts: data.attempts,
      },
      'worker job dead-lettered',
    );
    // Oldest dead letters go first beyond the cap.
    const count = await dead.count();
    if (count > this.cfg.max_dead_letters) {
      const old = await dead.getJobs(['waiting'], 0, count - this.cfg.max_dead_letters - 1, true);
      await Promise.all(old.map((j) => j.remove().catch(() => undefined)));
    }
  }

  /**
   * Stops taking jobs, lets running ones finish for `graceMs` (default `workers.shutdown_grace_sec`),
   * then hands the rest back to the queue (another worker takes them) and closes.
   */
  async close(graceMs = this.cfg.shutdown_grace_sec * 1000): Promise<{ handedBack: number }> {
    this.state = 'draining';
    await this.beat();
    const closing = Promise.allSettled(this.workers.map((w) => w.close()));
    const timedOut = await Promise.race([
      closing.then(() => false),
      new Promise<boolean>((r) => setTimeout(() => r(true), graceMs).unref()),
    ]);
    const handedBack = timedOut ? this.jobs.inFlight : 0;
    if (timedOut) {
      this.jobs.handingBack = true;
      for (const w of this.workers) w.cancelAllJobs('worker shutting down');
      // Handing back needs the broker; one that is down leaves the jobs to stalled-job recovery.
      const cut = await Promise.race([
        closing.then(() => false),
        new Promise<boolean>((r) => setTimeout(() => r(true), 5000).unref()),
      ]);
      if (cut) await Promise.allSettled(this.workers.map((w) => w.disconnect()));
    }
    if (this.heartbeat !== undefined) clearInterval(this.heartbeat);
    await this.control?.hdel(workersKey(this.cfg.prefix), this.id).catch(() => undefined);
    this.control?.disconnect();
    this.subscriber?.disconnect();
    await Promise.race([
      Promise.allSettled([...this.deadLetters.values()].map((q) => q.close())),
      new Promise<void>((r) => setTimeout(r, 2000).unref()),
    ]);
    await Promise.allSettled([...this.deadLetters.values()].map((q) => q.disconnect()));
    await this.skills.close();
    // The last jobs' spans leave before the process does.
    if (this.opts.tracing === undefined) await this.tracing.shutdown();
    else await this.tracing.forceFlush();
    this.opts.logger?.info({ worker: this.id, handed_back: handedBack }, 'worker stopped');
    return { handedBack };
  }
}
