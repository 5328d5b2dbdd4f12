/**
 * HTTP benchmark: `POST /v1/agents/runs` (202) on the real server — memory store and SQLite — beside
 * a plain Fastify route returning a similar 202 JSON body, each driven by 64 concurrent keep-alive
 * clients for a fixed time. Reports requests/s, p50/p95/p99 latency, 429s apart, and "time to first
 * action": for a sample of runs, from sending the create request to the run's first `step.started`.
 *
 *   npx tsx bench/http.ts [seconds=10] [clients=64] [--quick|--tiny]
 *
 * Time to first action is also measured unloaded: after the load, creates sent one at a time
 * (one run in flight, the queue empty), each followed until its first `step.started`.
 *
 * Everything (load generator, server, scripted model) shares this one process, so the figures are a
 * lower bound of what the server does with the load generator elsewhere.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { startServer } from '../src/api/index.js';
import { createApp, type App } from '../src/app/index.js';
import { loadConfig } from '../src/config/index.js';
import { startScriptedModelServer } from '../src/testing/index.js';
import { emitResult, MODE, pct, positional, sized, summaryRow } from './lib/measure.js';

const SECONDS = positional(0, sized(10, 1, 0.3));
const CLIENTS = positional(1, 64);
const WARMUP_MS = sized(1000, 300, 100);
/** Creates sent one at a time for the unloaded time to first action. */
const UNLOADED = sized(200, 40, 5);
/** One create in this many is followed for time to first action. */
const SAMPLE_EVERY = 10;
const BODY = JSON.stringify({ agent: 'bench', input: 'hi' });

interface Phase {
  name: string;
  requests: number;
  ok: number;
  rejected429: number;
  errors: number;
  seconds: number;
  latencies: number[];
  ttfa: number[];
  ttfaMissing: number;
  /** Time to first action with one run in flight (creates one at a time, queue empty). */
  ttfaUnloaded: number[];
}

function post(agent: Agent, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(BODY) },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(BODY);
  });
}

/** Drives `path` with CLIENTS concurrent loops for SECONDS after a warm-up. */
async function drive(
  name: string,
  port: number,
  path: string,
  sample?: (id: string, sentAt: number) => void,
): Promise<Phase> {
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  const phase: Phase = {
    name,
    requests: 0,
    ok: 0,
    rejected429: 0,
    errors: 0,
    seconds: SECONDS,
    latencies: [],
    ttfa: [],
    ttfaMissing: 0,
    ttfaUnloaded: [],
  };
  const warmUntil = performance.now() + WARMUP_MS;
  const endAt = warmUntil + SECONDS * 1000;
  let n = 0;
  const loop = async (): Promise<void> => {
    for (;;) {
      const t0 = performance.now();
      if (t0 >= endAt) return;
      const measured = t0 >= warmUntil;
      const sentAt = Date.now();
      const follow = measured && sample !== undefined && n++ % SAMPLE_EVERY === 0;
      try {
        const res = await post(agent, port, path);
        const ms = performance.now() - t0;
        if (!measured) continue;
        phase.requests++;
        phase.latencies.push(ms);
        if (res.status === 202) {
          phase.ok++;
          if (follow) sample(JSON.parse(res.body).id as string, sentAt);
        } else if (res.status === 429) phase.rejected429++;
        else phase.errors++;
      } catch {
        if (measured) phase.errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, loop));
  agent.destroy();
  phase.latencies.sort((a, b) => a - b);
  return phase;
}

async function waitIdle(app: App, timeoutMs = 120_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = app.runtime.scheduler.stats();
    const queued = s.queued.interactive + s.queued.normal + s.queued.batch;
    if (s.running === 0 && queued === 0) return;
    if (Date.now() > until) throw new Error(`runs still busy after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const model = await startScriptedModelServer({ script: () => ({ content: 'ok' }), model: 'bench-model' });
const dir = mkdtempSync(join(tmpdir(), 'sp-bench-http-'));

async function skillplanePhase(name: string, store: Record<string, unknown>): Promise<Phase> {
  const loaded = loadConfig({
    cwd: dir,
    env: {},
    overrides: {
      store,
      models: { default: { base_url: model.url, model: 'bench-model', max_concurrency: 64, max_retries: 0 } },
      skills: { directories: [], watch: false },
      agents: {
        directories: [],
        max_parallel_agents: 64,
        max_queued_runs: 1_000_000,
        definitions: [{ name: 'bench', instructions: 'answer' }],
      },
    },
  });
  const app = await createApp(loaded, { watch: false });
  const server = await startServer(app.ports, {
    host: '127.0.0.1',
    port: 0,
    logger: false,
    defaultMetrics: false,
  });
  const samples: { id: string; sentAt: number }[] = [];
  try {
    const phase = await drive(name, server.port, '/v1/agents/runs', (id, sentAt) =>
      samples.push({ id, sentAt }),
    );
    await waitIdle(app);
    for (const s of samples) {
      // The memory store keeps the last 10,000 finished runs: an early sample may be gone.
      const run = await app.runtime.getRun(s.id).catch(() => undefined);
      const events = run === undefined ? [] : await app.runtime.listEvents(s.id, 0);
      const at = events.find((e) => e.type === 'step.started')?.at ?? run?.started_at;
      if (at === null || at === undefined) phase.ttfaMissing++;
      else phase.ttfa.push(Date.parse(at) - s.sentAt);
    }
    phase.ttfa.sort((a, b) => a - b);
    // Unloaded: one create at a time, each waited for, then its first step.started read back.
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    for (let i = 0; i < UNLOADED; i++) {
      const sentAt = Date.now();
      const res = await post(agent, server.port, '/v1/agents/runs');
      if (res.status !== 202) continue;
      const id = JSON.parse(res.body).id as string;
      await app.runtime.wait(id, { timeoutMs: 30_000 });
      const first = (await app.runtime.listEvents(id, 0)).find((e) => e.type === 'step.started');
      if (first !== undefined) phase.ttfaUnloaded.push(Date.parse(first.at) - sentAt);
    }
    agent.destroy();
    phase.ttfaUnloaded.sort((a, b) => a - b);
    return phase;
  } finally {
    await server.close();
    await app.close(5000);
  }
}

async function plainPhase(): Promise<Phase> {
  const fastify = Fastify({ logger: false });
  let i = 0;
  fastify.post('/plain', async (req, reply) => {
    const id = `run_${(i++).toString(16).padStart(12, '0')}`;
    const self = `/v1/agents/runs/${id}`;
    return reply.status(202).send({
      id,
      agent: (req.body as { agent?: string }).agent,
      strategy: 'single',
      input: (req.body as { input?: unknown }).input,
      priority: 'normal',
      status: 'queued',
      usage: { steps: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 },
      result: null,
      error: null,
      created_at: new Date().toISOString(),
      links: { self, events: `${self}/events`, cancel: `${self}/cancel` },
    });
  });
  await fastify.listen({ host: '127.0.0.1', port: 0 });
  try {
    return await drive(
      'plain fastify POST /plain',
      (fastify.server.address() as { port: number }).port,
      '/plain',
    );
  } finally {
    await fastify.close();
  }
}

const phases: Phase[] = [];
try {
  phases.push(await plainPhase());
  phases.push(await skillplanePhase('skillplane (memory store)', { driver: 'memory' }));
  phases.push(
    await skillplanePhase('skillplane (sqlite)', { driver: 'sqlite', path: join(dir, 'bench.db') }),
  );
} finally {
  await model.close();
  rmSync(dir, { recursive: true, force: true });
}

const f = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '-');
console.log(
  `\nPOST create, ${CLIENTS} concurrent keep-alive clients, ${SECONDS} s each (after ${WARMUP_MS} ms warm-up), one process\n`,
);
console.log(
  `${'target'.padEnd(28)}${'req/s'.padStart(9)}${'202'.padStart(8)}${'429'.padStart(6)}${'err'.padStart(5)}` +
    `${'p50 ms'.padStart(9)}${'p95 ms'.padStart(9)}${'p99 ms'.padStart(9)}${'TTFA p50'.padStart(10)}${'TTFA p95'.padStart(10)}${'n'.padStart(6)}`,
);
for (const p of phases) {
  console.log(
    `${p.name.padEnd(28)}${f(p.requests / p.seconds, 0).padStart(9)}${String(p.ok).padStart(8)}${String(p.rejected429).padStart(6)}${String(p.errors).padStart(5)}` +
      `${f(pct(p.latencies, 0.5), 2).padStart(9)}${f(pct(p.latencies, 0.95), 2).padStart(9)}${f(pct(p.latencies, 0.99), 2).padStart(9)}` +
      `${f(pct(p.ttfa, 0.5)).padStart(10)}${f(pct(p.ttfa, 0.95)).padStart(10)}${String(p.ttfa.length).padStart(6)}`,
  );
}
for (const p of phases)
  if (p.ttfaUnloaded.length > 0)
    console.log(
      `${p.name}: unloaded TTFA (one run in flight, ${p.ttfaUnloaded.length} creates one at a time): ` +
        `p50 ${f(pct(p.ttfaUnloaded, 0.5))} ms, p95 ${f(pct(p.ttfaUnloaded, 0.95))} ms`,
    );
console.log(
  '\nTTFA = time to first action: create request sent → the run’s first step.started (ms, wall clock; sampled 1 in ' +
    `${SAMPLE_EVERY} creates during the load, so it includes queueing behind the other runs).`,
);
const plain = phases[0]!;
const rps = (p: Phase) => p.requests / p.seconds;
const summary = phases.slice(1).map((p) =>
  summaryRow(`HTTP create ${p.name.replace('skillplane ', '')}`, rps(p), rps(plain), 'req/s', {
    target: { ratio: 0.5 },
  }),
);
for (const p of phases.slice(1))
  if (p.ttfaUnloaded.length > 0)
    summary.push(
      summaryRow(
        `time to first action ${p.name.replace('skillplane ', '')}, unloaded, p95`,
        pct(p.ttfaUnloaded, 0.95),
        null,
        'ms',
        { lowerIsBetter: true },
      ),
    );
emitResult('http', summary, {
  mode: MODE,
  seconds: SECONDS,
  clients: CLIENTS,
  results: phases.map((p) => ({
    target: p.name,
    rps: Math.round(p.requests / p.seconds),
    accepted: p.ok,
    rejected_429: p.rejected429,
    errors: p.errors,
    latency_ms: { p50: pct(p.latencies, 0.5), p95: pct(p.latencies, 0.95), p99: pct(p.latencies, 0.99) },
    ttfa_ms:
      p.ttfa.length === 0 ? null : { p50: pct(p.ttfa, 0.5), p95: pct(p.ttfa, 0.95), samples: p.ttfa.length },
    ttfa_missing: p.ttfaMissing,
    ttfa_unloaded_ms:
      p.ttfaUnloaded.length === 0
        ? null
        : { p50: pct(p.ttfaUnloaded, 0.5), p95: pct(p.ttfaUnloaded, 0.95), samples: p.ttfaUnloaded.length },
  })),
});
