/**
 * Runtime benchmark: end-to-end runs through `Runtime.submit` + `Runtime.wait` with real skills
 * (sandboxed child processes, kept warm) and the scripted model server answering instantly over
 * real HTTP, beside a plain async baseline doing the same model and skill calls in the same
 * process with no scheduler, store or journal.
 *
 *   npx tsx bench/runtime.ts [--runs N] [--window 64] [--only fanout,chain,router,queue] [--sandbox auto|node]
 *                            [--stores memory,sqlite] [--queue-stores memory] [--backlog 2000]
 *                            [--interactive 200]
 *                            [--warm 320] [--warmup 256]
 *
 * Workloads (each N runs, a client-side window of `--window` runs outstanding, the runtime's
 * `agents.max_parallel_agents` equal to the window):
 * - fanout: `parallel_map` over 5 worker agents; each worker's model asks for one `bench/noop`
 *   tool call, then answers; then a reducer agent answers (11 model calls + 5 skill calls).
 * - chain: one agent whose model makes 9 sequential `bench/noop` calls, then answers
 *   (10 model calls + 9 skill calls).
 * - router: rule routing (`options.routes`) to one worker agent that calls the tool once and
 *   answers (a route step + 2 model calls + 1 skill call). The runtime cannot route into a fan-out
 *   in one run, so the router step is measured in this separate scenario.
 * - queue: a backlog of batch fan-out runs submitted at once, then interactive fan-out runs
 *   arriving while the backlog drains; reports the queue wait (created_at → started_at) of each
 *   class and the scheduler's own p95.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createApp, type App } from '../src/app/index.js';
import type { RunRequestInput } from '../src/agents/index.js';
import { loadConfig } from '../src/config/index.js';
import type { ChatMessage, ToolDefinition } from '../src/models/index.js';
import { openRunStore, type Run, type RunStore } from '../src/store/index.js';
import { startScriptedModelServer, type Script, type ScriptedModelServer } from '../src/testing/index.js';

const run = promisify(execFile);

// ---------------------------------------------------------------------------------------------
// Arguments

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i === -1 ? undefined : process.argv[i + 1];
  return v ?? fallback;
}
const RUNS = Number(arg('runs', '10000'));
const WINDOW = Number(arg('window', '64'));
const ONLY = new Set(arg('only', 'fanout,chain,router,queue').split(','));
const STORES = arg('stores', 'memory,sqlite').split(',') as StoreKind[];
const QUEUE_STORES = arg('queue-stores', 'memory').split(',') as StoreKind[];
const BACKLOG = Number(arg('backlog', String(Math.min(2000, RUNS))));
const INTERACTIVE = Number(arg('interactive', String(Math.min(200, Math.max(10, Math.floor(RUNS / 10))))));
const WORKERS = ['w1', 'w2', 'w3', 'w4', 'w5'];
/** Idle sandbox processes kept: enough for every branch of every admitted run (no respawns). */
const WARM = Number(arg('warm', '2'));
const MAX_PROCS = Number(arg('max-procs', '4'));
const WARMUP = Number(arg('warmup', String(Math.min(256, RUNS))));
/** `skills.sandbox` of the app: `auto` (namespaces where available) or `node` (permission model only). */
const SANDBOX = arg('sandbox', 'auto');
const CHAIN_CALLS = 9;
const SKILL_ID = 'bench/noop';
const TOOL = 'bench__noop';

type StoreKind = 'memory' | 'sqlite';
type Workload = 'fanout' | 'chain' | 'router';

// ---------------------------------------------------------------------------------------------
// Measurement helpers

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

function pct(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? 0;
}

/** Samples RSS every 50 ms, the event-loop delay, and the sandbox child processes every second. */
class Sampler {
  peakRss = 0;
  peakChildren = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly childTimer: NodeJS.Timeout;
  private readonly loop = monitorEventLoopDelay({ resolution: 10 });

  constructor(server: ScriptedModelServer) {
    this.loop.enable();
    const tick = () => {
      this.peakRss = Math.max(this.peakRss, process.memoryUsage.rss());
      // The scripted server records every request; drop them so they do not count as our memory.
      server.requests.length = 0;
    };
    tick();
    this.timer = setInterval(tick, 50);
    const children = () => {
      run('pgrep', ['-c', '-P', String(process.pid)]).then(
        (r) => (this.peakChildren = Math.max(this.peakChildren, Number(r.stdout.trim()))),
        () => undefined,
      );
    };
    children();
    this.childTimer = setInterval(children, 1000);
  }

  stop(): { peakRssMb: number; loopP99Ms: number; peakChildren: number } {
    clearInterval(this.timer);
    clearInterval(this.childTimer);
    this.loop.disable();
    this.peakRss = Math.max(this.peakRss, process.memoryUsage.rss());
    return {
      peakRssMb: Math.round(this.peakRss / 1048576),
      loopP99Ms: Math.round(this.loop.percentile(99) / 1e5) / 10,
      peakChildren: this.peakChildren,
    };
  }
}

interface Row {
  scenario: string;
  store: string;
  runs: number;
  ok: number;
  seconds: number;
  runsPerSec: number;
  p50: number;
  p95: number;
  p99: number;
  peakRssMb: number;
  loopP99Ms: number;
  peakChildren: number;
  spawns: number;
}

/** Runs `n` jobs with `window` outstanding at a time; returns each job's latency. */
async function closedLoop(
  n: number,
  window: number,
  one: (i: number) => Promise<boolean>,
): Promise<{ latencies: Float64Array; ms: number; ok: number }> {
  const latencies = new Float64Array(n);
  let next = 0;
  let ok = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(window, n) }, async () => {
      while (next < n) {
        const i = next++;
        const s = performance.now();
        if (await one(i)) ok++;
        latencies[i] = performance.now() - s;
      }
    }),
  );
  return { latencies, ms: performance.now() - t0, ok };
}

async function measure(
  scenario: string,
  store: string,
  server: ScriptedModelServer,
  n: number,
  one: (i: number) => Promise<boolean>,
): Promise<Row> {
  gc();
  const sampler = new Sampler(server);
  const spawnsBefore = processEvents.spawn;
  const { latencies, ms, ok } = await closedLoop(n, WINDOW, one);
  const s = sampler.stop();
  const spawns = processEvents.spawn - spawnsBefore;
  const sorted = latencies.sort();
  const r = (v: number) => Math.round(v * 10) / 10;
  return {
    scenario,
    store,
    runs: n,
    ok,
    seconds: r(ms / 1000),
    runsPerSec: Math.round((n / ms) * 1000),
    p50: r(pct(sorted, 0.5)),
    p95: r(pct(sorted, 0.95)),
    p99: r(pct(sorted, 0.99)),
    ...s,
    spawns,
  };
}

/** Sandbox process spawns and exits, counted through the tool executor's event hook. */
const processEvents = { spawn: 0, exit: 0 };

/** Counts sandbox spawns and exits (the app's `onProcessEvent` hook). */
function countProcessEvent(e: { type: string }): void {
  if (e.type === 'spawn') processEvents.spawn++;
  else if (e.type === 'exit') processEvents.exit++;
}

// ---------------------------------------------------------------------------------------------
// The scripted model and the skill

const CHAIN_MARK = '[chain]';

/**
 * Instant answers, decided from the conversation: no tools offered → answer (reducer); fewer tool
 * results than the agent's target (9 for the chain agent, 1 otherwise) → one `bench__noop` call;
 * otherwise → answer.
 */
const script: Script = ({ body }) => {
  if ((body.tools ?? []).length === 0)
    return { content: 'reduced', usage: { prompt_tokens: 40, completion_tokens: 2 } };
  const messages = body.messages;
  const first = messages[0];
  const target = first?.role === 'system' && first.content.includes(CHAIN_MARK) ? CHAIN_CALLS : 1;
  let done = 0;
  for (const m of messages) if (m.role === 'tool') done++;
  if (done >= target)
    return { content: `done after ${done}`, usage: { prompt_tokens: 40, completion_tokens: 3 } };
  return {
    tool_calls: [{ id: `call_${done}`, name: TOOL, arguments: { n: done } }],
    usage: { prompt_tokens: 40, completion_tokens: 8 },
  };
};

function writeSkill(dir: string): void {
  const d = join(dir, 'skills', 'noop');
  mkdirSync(d, { recursive: true });
  writeFileSync(
    join(d, 'skill.yaml'),
    `skill_id: ${SKILL_ID}\nversion: 1.0.0\nkind: tool\ndescription: Returns its input.\nentry: ./index.mjs\n` +
      `input_schema: {type: object, properties: {n: {type: integer}}}\n`,
  );
  writeFileSync(join(d, 'index.mjs'), 'export default async (input) => ({ ok: true, n: input.n ?? 0 });\n');
}

const WORKER_INSTRUCTIONS = 'You are a worker. Call the tool once, then answer.';
const REDUCER_INSTRUCTIONS = 'You combine results.';
const CHAIN_INSTRUCTIONS = `You are a chain ${CHAIN_MARK}. Call the tool ${CHAIN_CALLS} times, then answer.`;

async function startApp(
  dir: string,
  server: ScriptedModelServer,
  kind: StoreKind,
  queued: number,
): Promise<{ app: App; store: RunStore; close(): Promise<void> }> {
  const loaded = loadConfig({
    cwd: dir,
    env: {},
    overrides: {
      store: { driver: 'memory' },
      models: {
        default: {
          base_url: server.url,
          model: 'bench-model',
          max_retries: 0,
          // Every branch of every admitted run may call the model at once: the scheduler limits.
          max_concurrency: WINDOW * WORKERS.length,
        },
      },
      skills: {
        directories: [join(dir, 'skills')],
        watch: false,
        warm_processes: WARM,
        max_processes_per_skill: MAX_PROCS,
        sandbox: SANDBOX,
      },
      agents: {
        directories: [],
        max_parallel_agents: WINDOW,
        max_queued_runs: queued,
        definitions: [
          ...WORKERS.map((name) => ({ name, instructions: WORKER_INSTRUCTIONS, skills: [SKILL_ID] })),
          { name: 'reducer', instructions: REDUCER_INSTRUCTIONS },
          { name: 'chain', instructions: CHAIN_INSTRUCTIONS, skills: [SKILL_ID], max_steps: CHAIN_CALLS + 2 },
        ],
      },
    },
  });
  const store =
    kind === 'memory'
      ? await openRunStore({ driver: 'memory' })
      : await openRunStore({ driver: 'sqlite', path: join(dir, `bench-${Date.now()}.db`) });
  const app = await createApp(loaded, {
    store,
    watch: false,
    retryBaseMs: 5,
    onProcessEvent: countProcessEvent,
  });
  return {
    app,
    store,
    async close() {
      await app.close(1000);
      await store.close();
    },
  };
}

function request(
  workload: Workload,
  i: number,
  priority: 'interactive' | 'normal' | 'batch' = 'normal',
): RunRequestInput {
  switch (workload) {
    case 'fanout':
      return {
        strategy: 'parallel_map',
        agents: WORKERS,
        input: `fan out ${i}`,
        priority,
        options: { reducer: 'reducer' },
      };
    case 'chain':
      return { strategy: 'single', agent: 'chain', input: `chain ${i}`, priority };
    case 'router':
      return {
        strategy: 'router',
        agents: ['w1', 'w2'],
        input: `route ${i} to billing`,
        priority,
        options: { routes: [{ match: 'billing', agent: 'w1' }] },
      };
  }
}

// ---------------------------------------------------------------------------------------------
// Runtime and baseline drivers

const failures: string[] = [];

async function runtimeOne(app: App, req: RunRequestInput): Promise<Run> {
  const { run } = await app.runtime.submit(req);
  return app.runtime.wait(run.id, { timeoutMs: 300_000 });
}

function runtimeJob(app: App, workload: Workload): (i: number) => Promise<boolean> {
  return async (i) => {
    const done = await runtimeOne(app, request(workload, i));
    if (done.status === 'completed') return true;
    if (failures.length < 5)
      failures.push(`${workload} ${done.id}: ${done.status} ${JSON.stringify(done.error)}`);
    return false;
  };
}

/** The same model and skill calls as the runtime makes, with plain async code (no scheduler/store/journal). */
function baselineJob(app: App, workload: Workload): (i: number) => Promise<boolean> {
  const client = app.models.get('default');
  const invoker = app.skills.invoker;
  const skill = invoker.resolve(SKILL_ID);
  const tools: ToolDefinition[] = [
    {
      type: 'function',
      function: {
        name: skill.toolName,
        description: skill.manifest.description,
        parameters: skill.inputSchema,
      },
    },
  ];
  /** One agent loop: model, tool calls, model… until an answer. */
  const agent = async (system: string, user: string, withTools: boolean): Promise<string> => {
    const messages: ChatMessage[] = [
      { role: 'system', content: system },
      { role: 'user', content: user },
    ];
    for (;;) {
      const r = await client.chat({ messages, ...(withTools ? { tools } : {}) }, { priority: 'normal' });
      if (r.message.tool_calls.length === 0) return r.message.content ?? '';
      messages.push({
        role: 'assistant',
        content: r.message.content,
        tool_calls: r.message.tool_calls.map((c) => ({
          id: c.id,
          type: 'function' as const,
          function: { name: c.name, arguments: c.arguments },
        })),
      });
      for (const c of r.message.tool_calls) {
        const out = await invoker.invoke({ skill, input: JSON.parse(c.arguments) as unknown, door: 'run' });
        messages.push({ role: 'tool', tool_call_id: c.id, content: JSON.stringify(out.output) });
      }
    }
  };
  return async (i) => {
    switch (workload) {
      case 'fanout': {
        const outputs = await Promise.all(
          WORKERS.map(() => agent(WORKER_INSTRUCTIONS, `fan out ${i}`, true)),
        );
        const reduced = await agent(
          REDUCER_INSTRUCTIONS,
          `fan out ${i}\n\nCombine these results into one answer:\n${JSON.stringify(outputs)}`,
          false,
        );
        return reduced === 'reduced';
      }
      case 'chain':
        return (await agent(CHAIN_INSTRUCTIONS, `chain ${i}`, true)) === `done after ${CHAIN_CALLS}`;
      case 'router': {
        const target = /billing/i.test(`route ${i} to billing`) ? 'w1' : 'w2';
        return (
          target === 'w1' &&
          (await agent(WORKER_INSTRUCTIONS, `route ${i} to billing`, true)) === 'done after 1'
        );
      }
    }
  };
}

/** Describes the steps one completed run of the workload journaled, e.g. `model×11 skill×5`. */
async function stepShape(app: App, workload: Workload): Promise<string> {
  const done = await runtimeOne(app, request(workload, -1));
  const counts = new Map<string, number>();
  for (const s of await app.runtime.getSteps(done.id)) counts.set(s.kind, (counts.get(s.kind) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k}×${n}`).join(' ');
}

// ---------------------------------------------------------------------------------------------
// Queue-wait scenario

interface QueueResult {
  store: string;
  backlog: number;
  interactive: number;
  backlogAtArrivalMin: number;
  interactiveWait: { p50: number; p95: number; max: number };
  arrivalSpanMs: number;
  byArrival: {
    beforeAging: { runs: number; p50: number; p95: number; max: number };
    afterTwoAging: { runs: number; p50: number; p95: number; max: number };
  };
  batchWait: { p50: number; p95: number; max: number };
  scheduler: { interactiveP95: number; batchP95: number; samples: { interactive: number; batch: number } };
  interactiveLatencyP95: number;
  seconds: number;
  peakRssMb: number;
  ok: number;
}

async function queueScenario(
  dir: string,
  server: ScriptedModelServer,
  kind: StoreKind,
): Promise<QueueResult> {
  const h = await startApp(dir, server, kind, BACKLOG + INTERACTIVE + WINDOW);
  try {
    await closedLoop(WARMUP, WINDOW, runtimeJob(h.app, 'fanout'));
    gc();
    const sampler = new Sampler(server);
    const t0 = performance.now();
    const submitted: Promise<{ run: Run; latency: number }>[] = [];
    const track = (req: RunRequestInput) => {
      const s = performance.now();
      submitted.push(runtimeOne(h.app, req).then((r) => ({ run: r, latency: performance.now() - s })));
    };
    for (let i = 0; i < BACKLOG; i++) track(request('fanout', i, 'batch'));
    // Interactive runs arrive one at a time, spread over the first part of the backlog's drain.
    let backlogMin = Number.POSITIVE_INFINITY;
    const interactive: Promise<{ run: Run; latency: number; arrivedMs: number }>[] = [];
    for (let i = 0; i < INTERACTIVE; i++) {
      await new Promise((r) => setTimeout(r, 10));
      backlogMin = Math.min(backlogMin, h.app.runtime.scheduler.stats().queued.batch);
      const s = performance.now();
      interactive.push(
        runtimeOne(h.app, request('fanout', i, 'interactive')).then((r) => ({
          run: r,
          latency: performance.now() - s,
          arrivedMs: s - t0,
        })),
      );
    }
    const inter = await Promise.all(interactive);
    const batch = await Promise.all(submitted);
    const seconds = (performance.now() - t0) / 1000;
    const stats = h.app.runtime.scheduler.stats();
    const s = sampler.stop();
    const wait = (r: Run) => Date.parse(r.started_at ?? r.created_at) - Date.parse(r.created_at);
    const summary = (runs: Run[]) => {
      const w = Float64Array.from(runs.map(wait)).sort();
      return { p50: pct(w, 0.5), p95: pct(w, 0.95), max: w[w.length - 1] ?? 0 };
    };
    const lat = Float64Array.from(inter.map((x) => x.latency)).sort();
    // The scheduler promotes a waiting ticket one class per agingMs (2 s): split the interactive
    // runs by arrival time to show how the batch backlog's age affects them.
    const agingMs = h.app.runtime.scheduler.agingMs;
    const early = inter.filter((x) => x.arrivedMs < agingMs).map((x) => x.run);
    const late = inter.filter((x) => x.arrivedMs >= 2 * agingMs).map((x) => x.run);
    const all = [...inter, ...batch];
    return {
      store: kind,
      backlog: BACKLOG,
      interactive: INTERACTIVE,
      backlogAtArrivalMin: backlogMin,
      interactiveWait: summary(inter.map((x) => x.run)),
      arrivalSpanMs: Math.round(Math.max(0, ...inter.map((x) => x.arrivedMs))),
      byArrival: {
        beforeAging: { runs: early.length, ...summary(early) },
        afterTwoAging: { runs: late.length, ...summary(late) },
      },
      batchWait: summary(batch.map((x) => x.run)),
      scheduler: {
        interactiveP95: Math.round(stats.queueWaitMs.interactive.p95),
        batchP95: Math.round(stats.queueWaitMs.batch.p95),
        samples: {
          interactive: stats.queueWaitMs.interactive.samples,
          batch: stats.queueWaitMs.batch.samples,
        },
      },
      interactiveLatencyP95: Math.round(pct(lat, 0.95)),
      seconds: Math.round(seconds * 10) / 10,
      peakRssMb: s.peakRssMb,
      ok: all.filter((x) => x.run.status === 'completed').length,
    };
  } finally {
    await h.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Main

const dir = mkdtempSync(join(tmpdir(), 'sp-bench-rt-'));
writeSkill(dir);
const server = await startScriptedModelServer({ script, model: 'bench-model' });
const rows: Row[] = [];
const shapes: Record<string, string> = {};
const queue: QueueResult[] = [];
const started = performance.now();
try {
  for (const workload of ['fanout', 'chain', 'router'] as const) {
    if (!ONLY.has(workload)) continue;
    for (const [k, kind] of STORES.entries()) {
      const h = await startApp(dir, server, kind, RUNS + WINDOW);
      try {
        // Warm the JIT, the HTTP connection pool and the skill's process pool.
        const w0 = performance.now();
        const spawns0 = processEvents.spawn;
        await closedLoop(WARMUP, WINDOW, runtimeJob(h.app, workload));
        process.stderr.write(
          `  warm-up ${workload} ${kind}: ${WARMUP} runs in ${Math.round(performance.now() - w0)} ms, ` +
            `${processEvents.spawn - spawns0} sandbox spawns\n`,
        );
        if (k === 0) {
          await closedLoop(WARMUP, WINDOW, baselineJob(h.app, workload));
          rows.push(await measure(workload, 'baseline', server, RUNS, baselineJob(h.app, workload)));
          shapes[workload] = await stepShape(h.app, workload);
        }
        rows.push(await measure(workload, kind, server, RUNS, runtimeJob(h.app, workload)));
      } finally {
        await h.close();
      }
      process.stderr.write(`  done: ${workload} ${kind} ${JSON.stringify(rows.slice(-2))}\n`);
    }
  }
  if (ONLY.has('queue')) {
    for (const kind of QUEUE_STORES) {
      queue.push(await queueScenario(dir, server, kind));
      process.stderr.write(`  done: queue ${kind} ${JSON.stringify(queue.at(-1))}\n`);
    }
  }
} finally {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}

const totalSeconds = Math.round((performance.now() - started) / 100) / 10;
const maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);

const describe: Record<Workload, string> = {
  fanout: `parallel_map over 5 worker agents (each: model → ${TOOL} → model) then a reducer agent`,
  chain: `single agent: model → ${TOOL}, ${CHAIN_CALLS} times, then a final model answer (10 model steps)`,
  router: 'router by rule (options.routes) → one worker agent (model → tool → model)',
};
console.log(
  `\nRuntime benchmark — ${RUNS} runs per row, ${WINDOW} outstanding (client window = max_parallel_agents), ` +
    `scripted model over HTTP answering instantly, tool skill in sandbox processes (warm_processes ${WARM}, max_processes_per_skill ${MAX_PROCS}, sandbox ${SANDBOX}).`,
);
for (const w of ['fanout', 'chain', 'router'] as const) {
  if (shapes[w] !== undefined) console.log(`  ${w.padEnd(7)} ${describe[w]}; journal: ${shapes[w]}`);
}
console.log(
  '  baseline: the same ModelClient chat calls and SkillInvoker.invoke calls with plain async/Promise.all, ' +
    'no scheduler/store/journal, same window.',
);
console.log(
  '  latency = client-observed submit → wait() resolved (runtime) or job start → end (baseline).\n',
);

const header = [
  'scenario',
  'store',
  'runs',
  'ok',
  'runs/s',
  'p50 ms',
  'p95 ms',
  'p99 ms',
  'peak RSS MB',
  'loop p99 ms',
  'children',
  'spawns',
];
const table = rows.map((r) => [
  r.scenario,
  r.store,
  String(r.runs),
  String(r.ok),
  String(r.runsPerSec),
  r.p50.toFixed(1),
  r.p95.toFixed(1),
  r.p99.toFixed(1),
  String(r.peakRssMb),
  r.loopP99Ms.toFixed(1),
  String(r.peakChildren),
  String(r.spawns),
]);
const widths = header.map((h, i) => Math.max(h.length, ...table.map((row) => row[i]!.length)));
const line = (cells: string[]) =>
  cells.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
if (rows.length > 0) {
  console.log(line(header));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const row of table) console.log(line(row));
  const ratio = (w: Workload, s: string) => {
    const b = rows.find((r) => r.scenario === w && r.store === 'baseline');
    const x = rows.find((r) => r.scenario === w && r.store === s);
    return b && x ? `${w}/${s} ${(x.runsPerSec / b.runsPerSec).toFixed(2)}× baseline` : undefined;
  };
  const ratios = (['fanout', 'chain', 'router'] as const)
    .flatMap((w) => STORES.map((s) => ratio(w, s)))
    .filter(Boolean);
  console.log(`\nthroughput vs baseline: ${ratios.join(', ')}`);
}
for (const q of queue) {
  console.log(
    `\nqueue wait (${q.store}): ${q.backlog} batch fan-out runs submitted at once, then ${q.interactive} interactive ` +
      `fan-out runs arriving every 10 ms (batch backlog at arrival ≥ ${q.backlogAtArrivalMin}); ${q.ok}/${q.backlog + q.interactive} completed in ${q.seconds} s, peak RSS ${q.peakRssMb} MB`,
  );
  console.log(
    `  interactive queue wait (created_at → started_at): p50 ${q.interactiveWait.p50} ms, p95 ${q.interactiveWait.p95} ms, max ${q.interactiveWait.max} ms; ` +
      `interactive run latency p95 ${q.interactiveLatencyP95} ms`,
  );
  const a = q.byArrival;
  console.log(
    `  interactive runs arrived over ${q.arrivalSpanMs} ms; queue wait of those arriving < 2 s after the backlog: ` +
      `p95 ${a.beforeAging.p95} ms (${a.beforeAging.runs} runs); arriving ≥ 4 s after (batch head aged past 2×agingMs): ` +
      `p95 ${a.afterTwoAging.p95} ms (${a.afterTwoAging.runs} runs)`,
  );
  console.log(
    `  batch queue wait: p50 ${q.batchWait.p50} ms, p95 ${q.batchWait.p95} ms, max ${q.batchWait.max} ms`,
  );
  console.log(
    `  scheduler.stats().queueWaitMs p95 (last ≤1000 per class): interactive ${q.scheduler.interactiveP95} ms ` +
      `(${q.scheduler.samples.interactive} samples), batch ${q.scheduler.batchP95} ms (${q.scheduler.samples.batch} samples)`,
  );
}
console.log(
  `\nprocess maxRSS ${maxRssMb} MB (resourceUsage, whole run); wall time ${totalSeconds} s; Node ${process.version}.`,
);
if (failures.length > 0) console.log(`failures (first ${failures.length}):\n  ${failures.join('\n  ')}`);
console.log(
  JSON.stringify({
    bench: 'runtime',
    runs: RUNS,
    window: WINDOW,
    warm_processes: WARM,
    rows,
    queue,
    shapes,
    max_rss_mb: maxRssMb,
    seconds: totalSeconds,
  }),
);
const incomplete = rows.some((r) => r.ok !== r.runs) || queue.some((q) => q.ok !== q.backlog + q.interactive);
if (incomplete) process.exitCode = 1;
