import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { EdgePorts } from '../ports/index.js';
import type { RunNotification } from '../agents/index.js';

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
