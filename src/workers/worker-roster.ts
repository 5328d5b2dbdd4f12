// Who takes the plane's jobs: the workers' heartbeats, the queues they announce and each queue's
// depth, read for the status page and for the warning that no live worker serves a queue.
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { QUEUE_NAME } from '../config/index.js';
import { withTimeout } from './abortable.js';
import {
  deadLetterQueueName,
  safeJson,
  workerInfoSchema,
  workersKey,
  type JobProgress,
  type WorkerInfo,
  type WorkersConfig,
} from './broker-protocol.js';
import { redactUrl, type BrokerHealth, type BrokerState } from './redis.js';
import { configuredQueues } from './routing.js';

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

/** What the roster reads through the worker plane. */
export interface RosterPlane {
  readonly config: WorkersConfig;
  /** The plane's fail-fast client (heartbeats). */
  readonly control: Redis;
  readonly health: BrokerHealth;
  readonly logger: Logger | undefined;
  queue(name: string): Queue;
}

/** The workers and queues one worker plane knows of. */
export class WorkerRoster {
  private aliveCache: { at: number; queues: Set<string> } | undefined;
  private readonly lastNoWorkerLog = new Map<string, number>();
  /** Queue names announced by workers' heartbeats (validated, bounded), besides the configured ones. */
  private readonly seenQueues = new Set<string>();

  constructor(private readonly plane: RosterPlane) {}

  /**
   * Tells the caller (a `step.progress` event) and the log, at most every 30 s per queue, when no
   * live worker takes jobs from `queue`: a call then waits for one until its deadline.
   */
  async warnWithoutWorkers(queue: string, onProgress?: (p: JobProgress) => void): Promise<void> {
    try {
      const now = Date.now();
      if (this.aliveCache === undefined || now - this.aliveCache.at > 2000) {
        const raw = await withTimeout(
          this.plane.control.hgetall(workersKey(this.plane.config.prefix)),
          2000,
          'reading heartbeats',
        );
        const staleMs = this.plane.config.heartbeat_sec * 3000;
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
        this.plane.logger?.warn({ queue, code: 'no_workers' }, message);
      }
    } catch {
      // best effort
    }
  }

  /** Workers seen (alive: a heartbeat within three intervals), queue depths and health. */
  async status(): Promise<WorkerPlaneStatus> {
    const base = { broker: redactUrl(this.plane.config.broker_url), health: this.plane.health.state };
    if (!this.plane.health.ok) return { ...base, workers: [], queues: [] };
    try {
      const raw = await withTimeout(
        this.plane.control.hgetall(workersKey(this.plane.config.prefix)),
        2000,
        'reading heartbeats',
      );
      const now = Date.now();
      const staleMs = this.plane.config.heartbeat_sec * 3000;
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
      if (forget.length > 0) await this.plane.control.hdel(workersKey(this.plane.config.prefix), ...forget);
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
  knownQueues(): string[] {
    return [...new Set([...configuredQueues(this.plane.config), ...this.seenQueues])];
  }

  private async depth(name: string): Promise<QueueDepth> {
    const c = await this.plane
      .queue(name)
      .getJobCounts('waiting', 'active', 'delayed', 'failed', 'completed', 'prioritized');
    const dead = await this.plane.queue(deadLetterQueueName(name)).getJobCounts('waiting');
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
}
