import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EdgePorts, WorkersPort } from '../ports/index.js';
import type { RunNotification } from '../agents/index.js';
import type { WorkerPlaneStatus } from '../workers/index.js';
import type { Observation } from '../observability/index.js';

/** Moves that settle a run. */
const SETTLING = new Set(['complete', 'fail', 'cancel', 'interrupt']);
/** Buckets of run-level durations (seconds): from a fraction of a second to an hour. */
const RUN_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600];
/** Buckets of steps, calls and waits (seconds). */
const CALL_BUCKETS = [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300];

/** Seconds from `from` to `to` (ISO timestamps), or undefined when either is missing or bad. */
function secondsBetween(from: string | null | undefined, to: string | null | undefined): number | undefined {
  if (from == null || to == null) return undefined;
  const s = (Date.parse(to) - Date.parse(from)) / 1000;
  return Number.isFinite(s) && s >= 0 ? s : undefined;
}

/**
 * The metrics fed by the application's observations (run moves and steps, skill calls, model
 * calls and limiter waits): the owners emit, these only count. Returns the observer.
 */
function observationMetrics(registers: Registry[]): (o: Observation) => void {
  const runs = new Counter({
    name: 'skillplane_runs_total',
    help: 'Runs settled by this process, by final status',
    labelNames: ['status'],
    registers,
  });
  const runDuration = new Histogram({
    name: 'skillplane_run_duration_seconds',
    help: "From a run's creation to its settling, by final status",
    labelNames: ['status'],
    buckets: RUN_BUCKETS,
    registers,
  });
  const queueWait = new Histogram({
    name: 'skillplane_run_queue_wait_seconds',
    help: "From a run's creation to its start (queue, and a run-level approval if any)",
    buckets: RUN_BUCKETS,
    registers,
  });
  const firstStep = new Histogram({
    name: 'skillplane_run_time_to_first_step_seconds',
    help: "From a run's creation to the start of its first step (time to first action)",
    buckets: RUN_BUCKETS,
    registers,
  });
  const stepDuration = new Histogram({
    name: 'skillplane_step_duration_seconds',
    help: 'Duration of each step attempt, by kind and outcome',
    labelNames: ['kind', 'status'],
    buckets: CALL_BUCKETS,
    registers,
  });
  const skillCalls = new Counter({
    name: 'skillplane_skill_calls_total',
    help: 'Skill calls through every door, by skill and door',
    labelNames: ['skill', 'door'],
    registers,
  });
  const skillFailures = new Counter({
    name: 'skillplane_skill_call_failures_total',
    help: 'Failed skill calls, by skill, door and error code',
    labelNames: ['skill', 'door', 'code'],
    registers,
  });
  const skillDuration = new Histogram({
    name: 'skillplane_skill_call_duration_seconds',
    help: 'Duration of skill calls, by skill',
    labelNames: ['skill'],
    buckets: CALL_BUCKETS,
    registers,
  });
  const modelRequests = new Counter({
    name: 'skillplane_model_requests_total',
    help: 'Chat completion calls (retries included in one call), by backend',
    labelNames: ['backend'],
    registers,
  });
  const modelFailures = new Counter({
    name: 'skillplane_model_request_failures_total',
    help: 'Chat completion calls that failed, by backend and error code',
    labelNames: ['backend', 'code'],
    registers,
  });
  const modelDuration = new Histogram({
    name: 'skillplane_model_request_duration_seconds',
    help: 'Duration of chat completion calls (limiter wait and retries included), by backend',
    labelNames: ['backend'],
    buckets: CALL_BUCKETS,
    registers,
  });
  const tokens = new Counter({
    name: 'skillplane_model_tokens_total',
    help: 'Tokens of chat completions, by backend and type (input, output)',
    labelNames: ['backend', 'type'],
    registers,
  });
  const cost = new Counter({
    name: 'skillplane_model_cost_usd_total',
    help: 'Cost of chat completions in US dollars (from the backend prices), by backend',
    labelNames: ['backend'],
    registers,
  });
  const limiterWait = new Histogram({
    name: 'skillplane_model_limiter_wait_seconds',
    help: "Time a model call waited for a slot of its backend's limiter, by backend",
    labelNames: ['backend'],
    buckets: CALL_BUCKETS,
    registers,
  });
  return (o) => {
    switch (o.type) {
      case 'run': {
        const { move, run } = o.change;
        if (move === 'start') {
          const s = secondsBetween(run.created_at, run.started_at);
          if (s !== undefined) queueWait.observe(s);
        } else if (SETTLING.has(move)) {
          runs.inc({ status: run.status });
          const s = secondsBetween(run.created_at, run.finished_at);
          if (s !== undefined) runDuration.observe({ status: run.status }, s);
        }
        return;
      }
      case 'step': {
        const { run, step, phase } = o.change;
        if (phase === 'started' && step.seq === 1 && step.attempt === 1) {
          const s = secondsBetween(run.created_at, step.started_at);
          if (s !== undefined) firstStep.observe(s);
        } else if (phase === 'finished') {
          const s = secondsBetween(step.started_at, step.finished_at);
          if (s !== undefined) stepDuration.observe({ kind: step.kind, status: step.status }, s);
        }
        return;
      }
      case 'skill_call':
        skillCalls.inc({ skill: o.skill, door: o.door });
        if (o.code !== null) skillFailures.inc({ skill: o.skill, door: o.door, code: o.code });
        skillDuration.observe({ skill: o.skill }, o.durationMs / 1000);
        return;
      case 'request':
        modelRequests.inc({ backend: o.backend });
        if (o.code !== null) modelFailures.inc({ backend: o.backend, code: o.code });
        modelDuration.observe({ backend: o.backend }, o.durationMs / 1000);
        if (o.inputTokens > 0) tokens.inc({ backend: o.backend, type: 'input' }, o.inputTokens);
        if (o.outputTokens > 0) tokens.inc({ backend: o.backend, type: 'output' }, o.outputTokens);
        if (o.costUsd > 0) cost.inc({ backend: o.backend }, o.costUsd);
        return;
      case 'limiter_wait':
        limiterWait.observe({ backend: o.backend }, o.waitMs / 1000);
        return;
    }
  };
}

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
  private readonly unobserve: () => void;

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
    this.unobserve = ports.observe?.(observationMetrics(registers)) ?? (() => undefined);

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
    fastify.addHook(
      'onResponse',
      (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
        const labels = {
          method: request.method,
          route: request.routeOptions.url ?? 'unmatched',
          status: String(reply.statusCode),
        };
        this.requests.inc(labels);
        this.latency.observe(labels, reply.elapsedTime / 1000);
        done();
      },
    );
  }

  /** Reports the open SSE streams of the server (`skillplane_sse_connections`). */
  trackStreams(open: () => number): void {
    new Gauge({
      name: 'skillplane_sse_connections',
      help: 'Open Server-Sent Events streams of this server',
      registers: [this.registry],
      collect() {
        this.set(open());
      },
    });
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  close(): void {
    this.unsubscribe();
    this.unobserve();
  }
}
