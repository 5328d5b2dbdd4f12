/**
 * Server-sent events at scale: `--streams` (default 1,000) concurrent event streams on one node,
 * one per run (`GET /v1/agents/runs/{id}/events`), all open before the runs move; each run's model
 * answers after `--delay-ms`, so every stream then receives its run's step and completion events
 * at about the same moment. Delivery latency = arrival of the chunk at the client − the event's
 * `at`. The clients share this process: the floor row shows what that costs by itself.
 *
 * The floor, in the same invocation: a plain Node `http` server holding as many SSE connections
 * and writing the same number of events to each at the same moment, measured the same way.
 *
 *   npx tsx bench/sse.ts [--streams 1000] [--delay-ms 1500] [--quick|--tiny]
 */
import { Agent, createServer, request, type ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import { startServer } from '../src/api/index.js';
import { openRunStore } from '../src/store/index.js';
import { createTestApp, startScriptedModelServer } from '../src/testing/index.js';
import { emitResult, numArg, pct, sized, summaryRow, waitFor } from './lib/measure.js';

const STREAMS = numArg('streams', sized(1000, 300, 20));
const DELAY_MS = numArg('delay-ms', sized(1500, 1000, 300));

interface Result {
  name: string;
  streams: number;
  events: number;
  p50: number;
  p95: number;
  max: number;
}

/**
 * Opens one SSE stream on `path`; calls `onEvent(at)` for each event's `at` (ms since epoch) and
 * resolves `opened` when the headers arrived. The stream ends when the server ends it.
 */
function openStream(
  agent: Agent,
  port: number,
  path: string,
  onEvent: (type: string, at: number, arrivedAt: number) => void,
): { opened: Promise<void>; ended: Promise<void> } {
  let opened!: () => void;
  let failed!: (err: Error) => void;
  const openedP = new Promise<void>((res, rej) => ((opened = res), (failed = rej)));
  const ended = new Promise<void>((resolve) => {
    const req = request(
      { agent, host: '127.0.0.1', port, path, headers: { accept: 'text/event-stream' } },
      (res) => {
        if (res.statusCode !== 200) {
          failed(new Error(`${path}: HTTP ${res.statusCode}`));
          res.resume();
          return;
        }
        opened();
        res.setEncoding('utf8');
        let buf = '';
        res.on('data', (chunk: string) => {
          const now = Date.now();
          buf += chunk;
          let i: number;
          while ((i = buf.indexOf('\n\n')) !== -1) {
            const block = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let type = 'message';
            let data: string | undefined;
            for (const line of block.split('\n')) {
              if (line.startsWith('event: ')) type = line.slice(7);
              else if (line.startsWith('data: ')) data = line.slice(6);
            }
            if (data === undefined) continue;
            const at = (JSON.parse(data) as { at?: string | number }).at;
            if (at !== undefined) onEvent(type, typeof at === 'number' ? at : Date.parse(at), now);
            if (type === 'run.completed' || type === 'end') res.destroy();
          }
        });
        res.on('close', resolve);
      },
    );
    req.on('error', (err) => {
      failed(err);
      resolve();
    });
    req.end();
  });
  return { opened: openedP, ended };
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

/** Ours: STREAMS runs, a stream each, then the model answers and every stream gets its events. */
async function ours(): Promise<Result> {
  const dir = mkdtempSync(join(tmpdir(), 'sp-bench-sse-'));
  let release = false;
  const model = await startScriptedModelServer({
    model: 'bench-model',
    // Held until every stream is open, then answered at once.
    script: () => ({ content: 'ok', delay_ms: release ? 0 : DELAY_MS }),
  });
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
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const latencies: number[] = [];
  let liveFrom = Number.POSITIVE_INFINITY;
  try {
    const ids: string[] = [];
    for (let i = 0; i < STREAMS; i += 100)
      for (const { run } of await Promise.all(
        Array.from({ length: Math.min(100, STREAMS - i) }, () =>
          app.runtime.submit({ agent: 'bench', input: 'hi' }),
        ),
      ))
        ids.push(run.id);
    const streams = ids.map((id) =>
      openStream(agent, server.port, `/v1/agents/runs/${id}/events`, (_type, at, arrivedAt) => {
        // Only events made after every stream was open count: replayed history is not delivery.
        if (at >= liveFrom) latencies.push(arrivedAt - at);
      }),
    );
    await Promise.all(streams.map((s) => s.opened));
    liveFrom = Date.now();
    release = true;
    await Promise.all(streams.map((s) => s.ended));
    await waitFor(async () => app.runtime.scheduler.stats().running === 0, 'runs to finish', 60_000);
  } finally {
    agent.destroy();
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
  const clients: ServerResponse[] = [];
  const srv = createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    res.write('retry: 2000\n\n');
    clients.push(res);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const latencies: number[] = [];
  const streams = Array.from({ length: STREAMS }, (_, i) =>
    openStream(agent, port, `/s/${i}`, (_type, at, arrivedAt) => latencies.push(arrivedAt - at)),
  );
  await Promise.all(streams.map((s) => s.opened));
  for (let k = 0; k < perStream; k++) {
    const last = k === perStream - 1;
    for (const [i, res] of clients.entries()) {
      const e = {
        seq: k + 1,
        type: last ? 'run.completed' : 'step.completed',
        run_id: `r${i}`,
        at: new Date().toISOString(),
        data: {},
      };
      res.write(`id: ${k + 1}\nevent: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`);
    }
    await new Promise((r) => setImmediate(r));
  }
  await Promise.all(streams.map((s) => s.ended));
  agent.destroy();
  for (const c of clients) c.end();
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
    summaryRow(`SSE delivery p95, ${STREAMS} streams`, o.p95, f.p95, 'ms', {
      lowerIsBetter: true,
      target: { max: 50 },
    }),
  ],
  { streams: STREAMS, delay_ms: DELAY_MS, results: [f, o] },
);
