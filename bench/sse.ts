/**
 * Server-sent events at scale: `--streams` (default 1,000) concurrent event streams on one node,
 * one per run (`GET /v1/agents/runs/{id}/events`). The runs are created waiting for approval
 * (`approval: {required: true}`), every stream is opened, then the runs are approved at `--rate`
 * per second (default 500), so the open streams receive a steady flow of start, step and
 * completion events while all 1,000 stay connected. `--rate 100000` approves them all at once:
 * then delivery waits behind the runs' own work on the event loop. Delivery latency = arrival of the chunk at the client − the event's
 * `at`. The clients run in a child process of their own (bench/lib/sse-client.ts).
 *
 * The floor, in the same invocation: a plain Node `http` server holding as many SSE connections
 * and writing the same number of events to each, at the same pace, measured the same way.
 *
 *   npx tsx bench/sse.ts [--streams 1000] [--rate 500] [--quick|--tiny]
 */
import { fork } from 'node:child_process';
import { createServer, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startServer } from '../src/api/index.js';
import { openRunStore } from '../src/store/index.js';
import { createTestApp, startScriptedModelServer } from '../src/testing/index.js';
import { emitResult, numArg, pct, sized, summaryRow, waitFor } from './lib/measure.js';

const STREAMS = numArg('streams', sized(1000, 300, 20));
/** Runs approved per second once every stream is open. */
const RATE = numArg('rate', 500);

interface Result {
  name: string;
  streams: number;
  events: number;
  p50: number;
  p95: number;
  max: number;
}

/** The clients, in a child process (bench/lib/sse-client.ts) so they do not share our event loop. */
class Clients {
  private readonly child = fork(join(import.meta.dirname, 'lib', 'sse-client.ts'), [], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  /** Messages from the child, by kind, and whoever waits for each kind. */
  private readonly waiting = new Map<string, { resolve: (m: unknown) => void; reject: (e: Error) => void }>();

  constructor() {
    this.child.on('message', (m: Record<string, unknown>) => {
      const kind = Object.keys(m)[0] ?? '';
      const w = this.waiting.get(kind === 'error' ? 'opened' : kind);
      if (w === undefined) return;
      this.waiting.delete(kind === 'error' ? 'opened' : kind);
      if (kind === 'error') w.reject(new Error(String(m.error)));
      else w.resolve(m);
    });
    this.child.on('exit', (code) => {
      for (const w of this.waiting.values()) w.reject(new Error(`SSE client process exited (${code})`));
      this.waiting.clear();
    });
  }

  private expect<T>(kind: string): Promise<T> {
    return new Promise<T>((resolve, reject) =>
      this.waiting.set(kind, { resolve: (m) => resolve(m as T), reject }),
    );
  }

  /** Opens a stream per path; resolves once every one answered 200. */
  async open(port: number, paths: string[]): Promise<void> {
    const opened = this.expect('opened');
    this.child.send({ port, paths });
    await opened;
  }

  /**
   * Counts events made from `liveFrom` on (resolves once the child has armed); `results` then
   * resolves with their delivery latencies once every stream ended.
   */
  async arm(liveFrom: number): Promise<{ results: Promise<number[]> }> {
    const results = this.expect<{ latencies: number[] }>('latencies').then((m) => m.latencies);
    const armed = this.expect('armed');
    this.child.send({ liveFrom });
    await armed;
    return { results };
  }

  close(): void {
    this.child.kill();
  }
}

function summarise(name: string, latencies: number[]): Result {
  const sorted = Float64Array.from(latencies).sort();
  return {
    name,
    streams: STREAMS,
    events: latencies.length,
    p50: pct(sorted, 0.5),
    p95: pct(sorted, 0.95),
    max: sorted[sorted.length - 1] ?? Number.NaN,
  };
}

/** Ours: STREAMS runs waiting for approval, a stream each, then every run approved. */
async function ours(): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'sp-bench-sse-'));
  const model = await startScriptedModelServer({ model: 'bench-model', script: () => ({ content: 'ok' }) });
  const store = await openRunStore({ driver: 'memory' });
  const app = await createTestApp({
    dir,
    modelUrl: model.url,
    store,
    agents: [{ name: 'bench', instructions: 'answer' }],
    config: {
      models: { default: { model: 'bench-model', max_concurrency: STREAMS } },
      agents: { max_parallel_agents: STREAMS, max_queued_runs: STREAMS * 2 },
      server: { max_sse_streams: STREAMS + 10, max_sse_streams_per_principal: STREAMS + 10 },
    },
  });
  const server = await startServer(app.ports, {
    host: '127.0.0.1',
    port: 0,
    logger: false,
    defaultMetrics: false,
  });
  const clients = new Clients();
  let latencies: number[] = [];
  try {
    const ids: string[] = [];
    for (let i = 0; i < STREAMS; i += 100)
      for (const { run } of await Promise.all(
        Array.from({ length: Math.min(100, STREAMS - i) }, () =>
          app.runtime.submit({ agent: 'bench', input: 'hi', approval: { required: true } }),
        ),
      ))
        ids.push(run.id);
    await clients.open(
      server.port,
      ids.map((id) => `/v1/agents/runs/${id}/events`),
    );
    // Only events made after every stream was open count: replayed history is not delivery.
    const approvals = (
      await Promise.all(ids.map((id) => app.runtime.listApprovals({ status: 'pending', run_id: id })))
    ).flat();
    if (approvals.length !== STREAMS)
      throw new Error(`${approvals.length} of ${STREAMS} runs wait for approval`);
    const { results } = await clients.arm(Date.now());
    // Approved at --rate runs per second (in slices every 50 ms): the streams see a steady flow
    // of events the node can execute, not a burst that measures the runs' own CPU.
    const perSlice = Math.max(1, Math.round(RATE / 20));
    const decided: Promise<unknown>[] = [];
    for (let i = 0; i < approvals.length; i += perSlice) {
      for (const a of approvals.slice(i, i + perSlice))
        decided.push(app.runtime.decide(a.id, { approve: true, principal: 'bench' }));
      await new Promise((r) => setTimeout(r, 50));
    }
    await Promise.all(decided);
    latencies = await results;
    await waitFor(async () => app.runtime.scheduler.stats().running === 0, 'runs to finish', 60_000);
  } finally {
    clients.close();
    await server.close();
    await app.close(1000);
    await store.close();
    await model.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return summarise('skillplane', latencies);
}

/** The floor: a plain http server with STREAMS SSE connections, the same number of events each. */
async function floor(perStream: number): Promise<Result> {
  const conns: ServerResponse[] = [];
  const srv = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write('retry: 2000\n\n');
    conns.push(res);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  const clients = new Clients();
  await clients.open(
    port,
    Array.from({ length: STREAMS }, (_, i) => `/s/${i}`),
  );
  const { results } = await clients.arm(Date.now());
  // The same pace as ours: every 50 ms a slice of the streams gets its events.
  const perSlice = Math.max(1, Math.round(RATE / 20));
  for (let first = 0; first < conns.length; first += perSlice) {
    for (const [i, res] of conns.slice(first, first + perSlice).entries())
      for (let k = 0; k < perStream; k++) {
        const type = k === perStream - 1 ? 'run.completed' : 'step.completed';
        const e = { seq: k + 1, type, run_id: `r${first + i}`, at: new Date().toISOString(), data: {} };
        res.write(`id: ${k + 1}\nevent: ${type}\ndata: ${JSON.stringify(e)}\n\n`);
      }
    await new Promise((r) => setTimeout(r, 50));
  }
  const latencies = await results;
  clients.close();
  for (const c of conns) c.end();
  await new Promise((r) => srv.close(r));
  return summarise('floor: plain http SSE', latencies);
}

const o = await ours();
const perStream = Math.max(1, Math.round(o.events / STREAMS));
const f = await floor(perStream);
console.log(
  `\nSSE — ${STREAMS} concurrent streams on one node (one per run), events made after every stream was open\n`,
);
for (const r of [f, o])
  console.log(
    `${r.name.padEnd(24)} events ${String(r.events).padStart(6)}  delivery p50 ${r.p50} ms  p95 ${r.p95} ms  max ${r.max} ms`,
  );
if (o.events < STREAMS) {
  console.error(`only ${o.events} live events reached ${STREAMS} streams`);
  process.exitCode = 1;
}
emitResult(
  'sse',
  [
    summaryRow(`SSE delivery p95, ${STREAMS} streams, ${RATE} runs/s`, o.p95, f.p95, 'ms', {
      lowerIsBetter: true,
      target: { max: 50 },
    }),
  ],
  { streams: STREAMS, rate: RATE, results: [f, o] },
);
