/**
 * HTTP benchmark: `POST /v1/agents/runs` on the real server — memory store and SQLite — beside a
 * plain Fastify route that answers the same 202 (the same JSON body, byte for byte the same shape
 * and size, with `location` and `x-request-id`), each driven by 64 concurrent keep-alive clients.
 *
 *   npx tsx bench/http.ts [seconds=6] [clients=64] [--quick|--tiny]
 *
 * Two loads:
 * - **admission**: what the create door costs. The node's one run slot is held by a run whose model
 *   never answers, so every create is validated, authorised, stored (with its event and audit
 *   entry), given a queue place and answered, and waits in the queue — the server does what it does
 *   for a burst of creates while its slots are busy. The plain route and both stores are driven in
 *   interleaved rounds of one second (the machine's drift falls on all three alike); the target
 *   (≥ 0.5× the plain route) is on these rows.
 * - **executing**: the same creates while 64 runs at a time execute in the same process (one model
 *   call each, against the scripted model server): the create rate is then bounded by the runs'
 *   own work, which the runtime benchmark measures; reported beside the plain route, no target.
 *   "Time to first action" is sampled during this load (1 create in 10: from sending it to the
 *   run's first `step.started`) and measured unloaded: creates one at a time, each followed to
 *   its first step.
 *
 * Everything (load generator, server, scripted model) shares this one process, so the figures are a
 * lower bound of what the server does with the load generator elsewhere.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { Agent, request } from 'node:http';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { startServer } from '../src/api/index.js';
import { createApp, type App } from '../src/app/index.js';
import { loadConfig } from '../src/config/index.js';
import { startScriptedModelServer } from '../src/testing/index.js';
import { emitResult, MODE, pct, positional, sized, summaryRow } from './lib/measure.js';

const SECONDS = positional(0, sized(6, 1, 0.3));
/** Admission: rounds of each target, interleaved, and the length of one. */
const ROUNDS = sized(8, 3, 1);
const ROUND_MS = sized(1000, 300, 150);
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

/** Drives `path` with CLIENTS concurrent loops for `ms` after `warmMs`, adding to `phase`. */
async function drive(
  phase: Phase,
  port: number,
  path: string,
  opts: { warmMs: number; ms: number; sample?: (id: string, sentAt: number) => void },
): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: CLIENTS });
  const warmUntil = performance.now() + opts.warmMs;
  const endAt = warmUntil + opts.ms;
  const { sample } = opts;
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
  phase.seconds += opts.ms / 1000;
  agent.destroy();
}

function newPhase(name: string): Phase {
  return {
    name,
    requests: 0,
    ok: 0,
    rejected429: 0,
    errors: 0,
    seconds: 0,
    latencies: [],
    ttfa: [],
    ttfaMissing: 0,
    ttfaUnloaded: [],
  };
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
// A "model server" that takes connections and never answers: the run it gets holds its slot.
const held = new Set<Socket>();
const silent = createServer((socket) => {
  held.add(socket);
  socket.on('close', () => held.delete(socket));
});
await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
const silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}/v1`;
const dir = mkdtempSync(join(tmpdir(), 'sp-bench-http-'));

interface Node {
  app: App;
  port: number;
  close(): Promise<void>;
}

/** A skillplane node on `store` whose runs call `modelUrl`, `slots` at a time. */
async function startNode(store: Record<string, unknown>, modelUrl: string, slots: number): Promise<Node> {
  const loaded = loadConfig({
    cwd: dir,
    env: {},
    overrides: {
      store,
      models: { default: { base_url: modelUrl, model: 'bench-model', max_concurrency: 64, max_retries: 0 } },
      skills: { directories: [], watch: false },
      agents: {
        directories: [],
        max_parallel_agents: slots,
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
  return {
    app,
    port: server.port,
    close: async () => {
      await server.close();
      await app.close(2000);
    },
  };
}

/** The creates of a node whose runs execute as they come (64 slots), with time to first action. */
async function executingPhase(name: string, store: Record<string, unknown>): Promise<Phase> {
  const node = await startNode(store, model.url, 64);
  const { app } = node;
  const phase = newPhase(name);
  const samples: { id: string; sentAt: number }[] = [];
  try {
    await drive(phase, node.port, '/v1/agents/runs', {
      warmMs: WARMUP_MS,
      ms: SECONDS * 1000,
      sample: (id, sentAt) => samples.push({ id, sentAt }),
    });
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
      const res = await post(agent, node.port, '/v1/agents/runs');
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
    await node.close();
  }
}

/**
 * The plain route: Fastify answering 202 with the body our create answers (the same fields, a
 * fresh id, timestamps and links each time) and the same two headers.
 */
async function startPlain(): Promise<{ port: number; close(): Promise<void> }> {
  const fastify = Fastify({ logger: false });
  let i = 0;
  fastify.post('/plain', async (req, reply) => {
    const body = req.body as { agent?: string; input?: unknown };
    const id = `run_${(i++).toString(16).padStart(28, '0')}`;
    const self = `/v1/agents/runs/${id}`;
    const now = new Date().toISOString();
    const traceId = randomUUID().replaceAll('-', '');
    return reply
      .status(202)
      .header('location', self)
      .header('x-request-id', randomUUID())
      .send({
        id,
        agent: body.agent,
        strategy: 'single',
        input: {
          strategy: 'single',
          agent: body.agent,
          input: body.input,
          priority: 'normal',
          limits: {},
          metadata: {},
          options: { fail_fast: true, pass_output: true },
        },
        priority: 'normal',
        status: 'queued',
        idempotency_key: null,
        principal: 'anonymous',
        trace_id: traceId,
        traceparent: `00-${traceId}-${traceId.slice(0, 16)}-01`,
        tracestate: null,
        limits: {
          max_steps: 32,
          max_handoff_depth: 5,
          token_budget: null,
          cost_budget_usd: null,
          timeout_sec: 300,
        },
        usage: { steps: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 },
        result: null,
        error: null,
        checkpoint: 0,
        metadata: {},
        schema_version: 1,
        created_at: now,
        updated_at: now,
        started_at: null,
        finished_at: null,
        checkpoint_pointer: 0,
        tokens_used: 0,
        estimated_cost_usd: 0,
        links: { self, events: `${self}/events`, cancel: `${self}/cancel` },
      });
  });
  await fastify.listen({ host: '127.0.0.1', port: 0 });
  return { port: (fastify.server.address() as { port: number }).port, close: () => fastify.close() };
}

const plain = newPhase('plain fastify POST /plain');
const admission = [newPhase('skillplane (memory store)'), newPhase('skillplane (sqlite)')];
const executing: Phase[] = [];
/** Runs queued behind the held slot when the admission rounds ended, per store. */
const queuedAfter: number[] = [];
try {
  const floor = await startPlain();
  const nodes = [
    await startNode({ driver: 'memory' }, silentUrl, 1),
    await startNode({ driver: 'sqlite', path: join(dir, 'admission.db') }, silentUrl, 1),
  ];
  try {
    const targets: [Phase, number, string][] = [
      [plain, floor.port, '/plain'],
      [admission[0]!, nodes[0]!.port, '/v1/agents/runs'],
      [admission[1]!, nodes[1]!.port, '/v1/agents/runs'],
    ];
    // Warm each target, then interleaved rounds (the warm-ups' requests are not counted).
    for (const [phase, port, path] of targets)
      await drive(newPhase(phase.name), port, path, { warmMs: WARMUP_MS, ms: 0 });
    for (let r = 0; r < ROUNDS; r++)
      for (const [phase, port, path] of targets) await drive(phase, port, path, { warmMs: 0, ms: ROUND_MS });
    for (const n of nodes) {
      const q = n.app.runtime.scheduler.stats().queued;
      queuedAfter.push(q.interactive + q.normal + q.batch);
    }
  } finally {
    for (const n of nodes) await n.close();
    for (const socket of held) socket.destroy();
    await floor.close();
  }
  for (const p of [plain, ...admission]) p.latencies.sort((a, b) => a - b);
  executing.push(await executingPhase('skillplane (memory store)', { driver: 'memory' }));
  executing.push(
    await executingPhase('skillplane (sqlite)', { driver: 'sqlite', path: join(dir, 'bench.db') }),
  );
  for (const p of executing) p.latencies.sort((a, b) => a - b);
} finally {
  await model.close();
  silent.close();
  rmSync(dir, { recursive: true, force: true });
}

const f = (v: number, d = 1) => (Number.isFinite(v) ? v.toFixed(d) : '-');
const rps = (p: Phase) => p.requests / p.seconds;
function table(title: string, rows: Phase[], ttfa: boolean): void {
  console.log(`\n${title}\n`);
  console.log(
    `${'target'.padEnd(28)}${'req/s'.padStart(9)}${'ratio'.padStart(7)}${'202'.padStart(8)}${'429'.padStart(6)}${'err'.padStart(5)}` +
      `${'p50 ms'.padStart(9)}${'p95 ms'.padStart(9)}${'p99 ms'.padStart(9)}` +
      (ttfa ? `${'TTFA p50'.padStart(10)}${'TTFA p95'.padStart(10)}${'n'.padStart(6)}` : ''),
  );
  for (const p of rows) {
    console.log(
      `${p.name.padEnd(28)}${f(rps(p), 0).padStart(9)}${f(rps(p) / rps(plain), 2).padStart(7)}${String(p.ok).padStart(8)}${String(p.rejected429).padStart(6)}${String(p.errors).padStart(5)}` +
        `${f(pct(p.latencies, 0.5), 2).padStart(9)}${f(pct(p.latencies, 0.95), 2).padStart(9)}${f(pct(p.latencies, 0.99), 2).padStart(9)}` +
        (ttfa
          ? `${f(pct(p.ttfa, 0.5)).padStart(10)}${f(pct(p.ttfa, 0.95)).padStart(10)}${String(p.ttfa.length).padStart(6)}`
          : ''),
    );
  }
}
table(
  `POST create, admission: ${CLIENTS} concurrent keep-alive clients, ${ROUNDS} interleaved rounds of ${ROUND_MS} ms per target ` +
    `(after ${WARMUP_MS} ms warm-up each), the node's one run slot held; runs left queued: ` +
    `${queuedAfter.map((q, i) => `${admission[i]!.name.replace('skillplane ', '')} ${q}`).join(', ')}`,
  [plain, ...admission],
  false,
);
table(
  `POST create while the runs execute in the same process (64 slots, one model call each), ${SECONDS} s per store`,
  executing,
  true,
);
for (const p of executing)
  if (p.ttfaUnloaded.length > 0)
    console.log(
      `${p.name}: unloaded TTFA (one run in flight, ${p.ttfaUnloaded.length} creates one at a time): ` +
        `p50 ${f(pct(p.ttfaUnloaded, 0.5))} ms, p95 ${f(pct(p.ttfaUnloaded, 0.95))} ms`,
    );
console.log(
  '\nTTFA = time to first action: create request sent → the run’s first step.started (ms, wall clock; sampled 1 in ' +
    `${SAMPLE_EVERY} creates during the load, so it includes queueing behind the other runs).`,
);
const store = (p: Phase) => p.name.replace('skillplane ', '');
const summary = [
  ...admission.map((p) =>
    summaryRow(`HTTP create ${store(p)}, admission`, rps(p), rps(plain), 'req/s', { target: { ratio: 0.5 } }),
  ),
  ...executing.map((p) => summaryRow(`HTTP create ${store(p)}, runs executing`, rps(p), rps(plain), 'req/s')),
];
for (const p of executing)
  if (p.ttfaUnloaded.length > 0)
    summary.push(
      summaryRow(`time to first action ${store(p)}, unloaded, p95`, pct(p.ttfaUnloaded, 0.95), null, 'ms', {
        lowerIsBetter: true,
      }),
    );
const detail = (p: Phase) => ({
  target: p.name,
  rps: Math.round(rps(p)),
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
});
emitResult('http', summary, {
  mode: MODE,
  seconds: SECONDS,
  rounds: ROUNDS,
  round_ms: ROUND_MS,
  clients: CLIENTS,
  floor: detail(plain),
  admission: admission.map(detail),
  queued_after_admission: queuedAfter,
  executing: executing.map(detail),
});
