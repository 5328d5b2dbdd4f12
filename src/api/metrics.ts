import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EdgePorts, WorkersPort } from '../ports/index.js';
import type { RunNotification } from '../agents/index.js';
import type { WorkerPlaneStatus } from '../workers/index.js';

/** The job states `skillplane_worker_queue_jobs` reports, by their `QueueDepth` field. */
const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed', 'completed', 'dead'] as const;

/**
 * The worker plane's gauges, collected at scrape time from one `status()` read per scrape (the
 * gauges of a scrape are collected together and share it). A failed read reports the broker down
 * and no queues or workers; collecting never throws.
 */
function registerWorkerMetrics(registers: Registry[], workers: WorkersPort): void {
  let pending: Promise<WorkerPlaneStatus | undefined> | undefined;
  const snapshot = (): Promise<WorkerPlaneStatus | undefined> => {
    if (pending === undefined) {
      const read = Promise.resolve()
        .then(() => workers.status())
        .catch(() => undefined);
      pending = read;
      // Cleared once settled: the next scrape reads again.
      void read.finally(() => {
        if (pending === read) pending = undefined;
      });
    }
    return pending;
  };
  new Gauge({
    name: 'skillplane_worker_broker_up',
    help: "1 while the worker plane's broker answers, else 0",
    registers,
    async collect() {
      this.set((await snapshot())?.health.ok === true ? 1 : 0);
    },
  });
  new Gauge({
    name: 'skillplane_worker_queue_jobs',
    help: 'Jobs of each worker-plane queue, by state (dead: in its dead-letter queue)',
    labelNames: ['queue', 'state'],
    registers,
    async collect() {
      const status = await snapshot();
      this.reset();
      for (const q of status?.queues ?? [])
        for (const state of QUEUE_STATES) this.set({ queue: q.name, state }, q[state]);
    },
  });
  new Gauge({
    name: 'skillplane_workers',
    help: 'Workers seen in the last hour, by state (alive: a heartbeat within three intervals)',
    labelNames: ['state'],
    registers,
    async collect() {
      const seen = (await snapshot())?.workers ?? [];
      const alive = seen.filter((w) => w.alive === true).length;
      this.set({ state: 'alive' }, alive);
      this.set({ state: 'gone' }, seen.length - alive);
    },
  });
  new Gauge({
    name: 'skillplane_worker_jobs_in_flight',
    help: 'Jobs each live worker runs now',
    labelNames: ['worker'],
    registers,
    async collect() {
      const seen = (await snapshot())?.workers ?? [];
      this.reset();
      for (const w of seen) if (w.alive === true) this.set({ worker: w.id }, w.in_flight);
    },
  });
  new Gauge({
    name: 'skillplane_worker_concurrency',
    help: 'Jobs each live worker may run at once',
    labelNames: ['worker'],
    registers,
    async collect() {
      const seen = (await snapshot())?.workers ?? [];
      this.reset();
      for (const w of seen) if (w.alive === true) this.set({ worker: w.id }, w.concurrency);
    },
  });
}

/** Prometheus metrics of one server; a registry of its own, so several servers can coexist. */
export class ApiMetrics {
  readonly registry = new Registry();
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly latency: Histogram<'method' | 'route' | 'status'>;
  private readonly runs: Counter<'status'>;
  private readonly onRun: (n: RunNotification) => void;
  private readonly unsubscribe: () => void;

  constructor(ports: EdgePorts, opts: { defaultMetrics?: boolean } = {}) {
    const registers = [this.registry];
    if (opts.defaultMetrics ?? true)
      collectDefaultMetrics({ register: this.registry, prefix: 'skillplane_' });
    this.requests = new Counter({
      name: 'skillplane_http_requests_total',
      help: 'HTTP requests by method, route and status',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.latency = new Histogram({
      name: 'skillplane_http_request_duration_seconds',
      help: 'HTTP request latency',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.runs = new Counter({
      name: 'skillplane_run_transitions_total',
      help: 'Run status changes observed by this process, by new status',
      labelNames: ['status'],
      registers,
    });
    this.onRun = (n) => {
      if (n.status !== undefined) this.runs.inc({ status: n.status });
    };
    this.unsubscribe = ports.runs.onAny(this.onRun);

    const runsPort = ports.runs;
    new Gauge({
      name: 'skillplane_runs_active',
      help: 'Runs queued or executing in this process',
      registers,
      collect() {
        this.set(runsPort.active());
      },
    });
    new Gauge({
      name: 'skillplane_scheduler_queue_depth',
      help: 'Runs waiting for a slot, by priority',
      labelNames: ['priority'],
      registers,
      collect() {
        const q = runsPort.stats().queued;
        for (const [p, n] of Object.entries(q)) this.set({ priority: p }, n);
      },
    });
    new Gauge({
      name: 'skillplane_scheduler_running',
      help: 'Runs holding a scheduler slot',
      registers,
      collect() {
        this.set(runsPort.stats().running);
      },
    });
    new Gauge({
      name: 'skillplane_scheduler_capacity',
      help: 'Maximum queued runs (max_queued_runs)',
      registers,
      collect() {
        this.set(runsPort.stats().capacity);
      },
    });
    const models = ports.models;
    new Gauge({
      name: 'skillplane_model_in_flight',
      help: 'Model requests in flight, by backend',
      labelNames: ['backend'],
      registers,
      collect() {
        for (const [b, s] of Object.entries(models.stats())) this.set({ backend: b }, s.inFlight);
      },
    });
    new Gauge({
      name: 'skillplane_model_capacity',
      help: 'Concurrent model requests allowed, by backend',
      labelNames: ['backend'],
      registers,
      collect() {
        for (const [b, s] of Object.entries(models.stats())) this.set({ backend: b }, s.capacity);
      },
    });
    new Gauge({
      name: 'skillplane_model_waiting',
      help: 'Model requests waiting for the backend limiter, by backend and priority',
      labelNames: ['backend', 'priority'],
      registers,
      collect() {
        for (const [b, s] of Object.entries(models.stats()))
          for (const [p, n] of Object.entries(s.waiting)) this.set({ backend: b, priority: p }, n);
      },
    });
    if (ports.workers !== undefined) registerWorkerMetrics(registers, ports.workers);
  }

  /** Counts every response (plugin routes included) with its route pattern, not its URL. */
  install(fastify: FastifyInstance): void {
    fastify.addHook('onResponse', async (request: FastifyRequest, reply: FastifyReply) => {
      const labels = {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      };
      this.requests.inc(labels);
      this.latency.observe(labels, reply.elapsedTime / 1000);
    });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  close(): void {
    this.unsubscribe();
  }
}
