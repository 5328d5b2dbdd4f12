/**
 * Runtime benchmark: end-to-end runs through `Runtime.submit` + `Runtime.wait` with real skills
 * (sandboxed child processes, kept warm) and the scripted model server answering instantly over
 * real HTTP, beside a plain async baseline doing the same model and skill calls in the same
 * process with no scheduler, store or journal.
 *
 *   npx tsx bench/runtime.ts [--runs N] [--window 64] [--only fanout,chain,router,queue] [--sandbox auto|node]
 *                            [--stores memory,sqlite] [--queue-stores memory] [--backlog 2000]
 *                            [--interactive 200]
 *                            [--warm 320] [--warmup 256] [--tracing off|memory|otlp|all]
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
 *
 * `--tracing` (default `off`) runs each fanout/chain/router row once per tracing mode, side by
 * side (`memory`: spans made and batched, dropped by the exporter; `otlp`: OTLP/HTTP JSON to a
 * local sink; `all`: off, memory and otlp), and prints the cost of tracing per journal step.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { startScriptedModelServer, type ScriptedModelServer } from '../src/testing/index.js';
import {
  arg,
  closedLoop,
  emitResult,
  gc,
  numArg,
  pct,
  Sampler,
  sized,
  summaryRow,
  table,
  writeNoopSkill,
  type SummaryRow,
} from './lib/measure.js';
import { queueScenario, type QueueResult, type QueueSettings } from './runtime/queue.js';
import { Floor } from './runtime/floor.js';
import { benchTracing, exported, type TracingMode } from './runtime/tracing.js';
import {
  CHAIN_CALLS,
  SKILL_ID,
  TOOL,
  baselineJob,
  failures,
  processEvents,
  runtimeJob,
  script,
  startApp,
  stepShape,
  type StoreKind,
  type Workload,
} from './runtime/workloads.js';

const RUNS = numArg('runs', sized(4000, 200, 16));
const WINDOWS = arg('window', sized('64,512', '64', '8'))
  .split(',')
  .map((w) => {
    const n = Number(w);
    if (!Number.isInteger(n) || n < 1) throw new Error('--window must be a list of positive integers');
    return n;
  });
const WINDOW = WINDOWS[0]!;
const ONLY = new Set(arg('only', 'fanout,chain,router,queue').split(','));
const STORES = arg('stores', 'memory,sqlite').split(',') as StoreKind[];
const QUEUE_STORES = arg('queue-stores', 'memory').split(',') as StoreKind[];
/** `--compare off` skips the floor and baseline rows (for profiling the runtime alone). */
const COMPARE = arg('compare', 'on') !== 'off';
const WARMUP = numArg('warmup', Math.min(sized(256, 64, 8), RUNS));
const TRACING_ARG = arg('tracing', 'off');
const TRACING: TracingMode[] =
  TRACING_ARG === 'all' ? ['off', 'memory', 'otlp'] : (TRACING_ARG.split(',') as TracingMode[]);
const settings: QueueSettings = {
  window: WINDOW,
  /** Idle sandbox processes kept per skill. */
  warm: numArg('warm', 2),
  maxProcs: numArg('max-procs', 4),
  /** `skills.sandbox` of the app: `auto` (namespaces where available) or `node` (permission model only). */
  sandbox: arg('sandbox', 'auto'),
  backlog: numArg('backlog', sized(10_000, 1000, 40)),
  interactive: numArg('interactive', sized(200, 50, 10)),
  warmup: WARMUP,
};
const { warm: WARM, maxProcs: MAX_PROCS, sandbox: SANDBOX } = settings;

interface Row {
  scenario: string;
  store: string;
  /** Runs outstanding (client window = max_parallel_agents). */
  window: number;
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
  /** CPU time of this process (user + system) per run, µs: less sensitive to a busy machine than wall time. */
  cpuUsPerRun: number;
  /** Skill calls the app reported during the row, and how many succeeded (runtime rows only). */
  skillCalls?: number;
  skillOk?: number;
}

async function measure(
  scenario: string,
  store: string,
  server: ScriptedModelServer,
  n: number,
  window: number,
  one: (i: number) => Promise<boolean>,
): Promise<Row> {
  gc();
  // The scripted server records every request; drop them so they do not count as our memory.
  const sampler = new Sampler(() => (server.requests.length = 0));
  const spawnsBefore = processEvents.spawn;
  const cpu0 = process.cpuUsage();
  const { latencies, ms, ok } = await closedLoop(n, window, one);
  const cpu = process.cpuUsage(cpu0);
  const s = sampler.stop();
  const spawns = processEvents.spawn - spawnsBefore;
  const sorted = latencies.sort();
  const r = (v: number) => Math.round(v * 10) / 10;
  return {
    scenario,
    store,
    window,
    runs: n,
    ok,
    seconds: r(ms / 1000),
    runsPerSec: Math.round((n / ms) * 1000),
    p50: r(pct(sorted, 0.5)),
    p95: r(pct(sorted, 0.95)),
    p99: r(pct(sorted, 0.99)),
    ...s,
    spawns,
    cpuUsPerRun: Math.round((cpu.user + cpu.system) / n),
  };
}

const dir = mkdtempSync(join(tmpdir(), 'sp-bench-rt-'));
writeNoopSkill(dir, SKILL_ID);
const server = await startScriptedModelServer({ script, model: 'bench-model' });
const floor = new Floor(server.url, MAX_PROCS);
const rows: Row[] = [];
const shapes: Record<string, string> = {};
/** Journal steps per run of each workload (for the cost of tracing per step). */
const stepsPerRun: Record<string, number> = {};
const queue: QueueResult[] = [];
const started = performance.now();
try {
  for (const window of WINDOWS)
    for (const workload of ['fanout', 'chain', 'router'] as const) {
      if (!ONLY.has(workload)) continue;
      const ws = { ...settings, window };
      for (const [k, kind] of STORES.entries())
        for (const [t, mode] of TRACING.entries()) {
          const traced = await benchTracing(mode);
          const label = TRACING.length === 1 && mode === 'off' ? kind : `${kind} trace:${mode}`;
          const h = await startApp(ws, dir, server, kind, RUNS + window, traced.tracing);
          try {
            // Warm the JIT, the HTTP connection pool and the skill's process pool.
            const w0 = performance.now();
            const spawns0 = processEvents.spawn;
            await closedLoop(WARMUP, window, runtimeJob(h.app, workload));
            process.stderr.write(
              `  warm-up ${workload} ${kind} ×${window}: ${WARMUP} runs in ${Math.round(performance.now() - w0)} ms, ` +
                `${processEvents.spawn - spawns0} sandbox spawns\n`,
            );
            if (k === 0 && t === 0 && COMPARE) {
              await closedLoop(WARMUP, window, floor.job(workload));
              rows.push(await measure(workload, 'floor', server, RUNS, window, floor.job(workload)));
              await closedLoop(WARMUP, window, baselineJob(h.app, workload));
              rows.push(
                await measure(workload, 'baseline', server, RUNS, window, baselineJob(h.app, workload)),
              );
              shapes[workload] ??= await stepShape(h.app, workload);
              stepsPerRun[workload] = [...shapes[workload].matchAll(/×(\d+)/g)].reduce(
                (n, m) => n + Number(m[1]),
                0,
              );
            }
            const calls = { n: 0, ok: 0 };
            const off = h.app.observations.subscribe((o) => {
              if (o.type !== 'skill_call') return;
              calls.n++;
              if (o.code === null) calls.ok++;
            });
            const row = await measure(workload, label, server, RUNS, window, runtimeJob(h.app, workload));
            off();
            rows.push({ ...row, skillCalls: calls.n, skillOk: calls.ok });
          } finally {
            await h.close();
            await traced.close();
          }
          process.stderr.write(`  done: ${workload} ${label} ×${window} ${JSON.stringify(rows.slice(-2))}\n`);
        }
    }
  if (ONLY.has('queue')) {
    for (const kind of QUEUE_STORES) {
      queue.push(await queueScenario(settings, dir, server, kind));
      process.stderr.write(`  done: queue ${kind} ${JSON.stringify(queue.at(-1))}\n`);
    }
  }
} finally {
  floor.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}

const totalSeconds = Math.round((performance.now() - started) / 100) / 10;
const maxRssMb = Math.round(process.resourceUsage().maxRSS / 1024);

/** One line per scenario for the suite's table (bench/run-all.mjs): ours, the floor, the ratio. */
const summary: SummaryRow[] = [];
for (const r of rows) {
  if (r.store === 'floor' || r.store === 'baseline') continue;
  const f = rows.find((x) => x.scenario === r.scenario && x.window === r.window && x.store === 'floor');
  const ratio =
    r.scenario === 'router' ? undefined : r.store === 'memory' ? 0.9 : r.store === 'sqlite' ? 0.8 : undefined;
  summary.push(
    summaryRow(`${r.scenario} ${r.store} ×${r.window}`, r.runsPerSec, f?.runsPerSec ?? null, 'runs/s', {
      ...(ratio === undefined ? {} : { target: { ratio } }),
    }),
  );
}
// The seed's service levels (docs/BENCHMARKS.md): orchestration errors and skill success over
// every runtime row, beside the throughput and queue-wait rows above.
const ours = rows.filter((r) => r.skillCalls !== undefined);
if (ours.length > 0) {
  const runs = ours.reduce((n, r) => n + r.runs, 0);
  const failed = ours.reduce((n, r) => n + (r.runs - r.ok), 0);
  const calls = ours.reduce((n, r) => n + (r.skillCalls ?? 0), 0);
  const okCalls = ours.reduce((n, r) => n + (r.skillOk ?? 0), 0);
  summary.push(
    summaryRow(`orchestration errors, ${runs} runs`, (failed / runs) * 100, null, '%', {
      lowerIsBetter: true,
      target: { max: 1 },
    }),
  );
  if (calls > 0)
    summary.push(
      summaryRow(`skill success, ${calls} calls`, (okCalls / calls) * 100, null, '%', {
        target: { min: 99 },
      }),
    );
}
for (const q of queue)
  summary.push(
    summaryRow(
      `queue ${q.store}: interactive p95 wait, ${q.backlog} batch`,
      q.interactiveWait.p95,
      null,
      'ms',
      {
        lowerIsBetter: true,
        target: { max: 50 },
      },
    ),
  );

const describe: Record<Workload, string> = {
  fanout: `parallel_map over 5 worker agents (each: model → ${TOOL} → model) then a reducer agent`,
  chain: `single agent: model → ${TOOL}, ${CHAIN_CALLS} times, then a final model answer (10 model steps)`,
  router: 'router by rule (options.routes) → one worker agent (model → tool → model)',
};
console.log(
  `\nRuntime benchmark — ${RUNS} runs per row, ${WINDOWS.join(' and ')} outstanding (client window = max_parallel_agents), ` +
    `scripted model over HTTP answering instantly, tool skill in sandbox processes (warm_processes ${WARM}, max_processes_per_skill ${MAX_PROCS}, sandbox ${SANDBOX}).`,
);
for (const w of ['fanout', 'chain', 'router'] as const) {
  if (shapes[w] !== undefined) console.log(`  ${w.padEnd(7)} ${describe[w]}; journal: ${shapes[w]}`);
}
console.log(
  '  floor: plain fetch to the same model server (pooled keep-alive) and the skill in warm plain child ' +
    'processes over IPC (as many as max_processes_per_skill): nothing of ours.',
);
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
  'window',
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
  'CPU µs/run',
];
const cells = rows.map((r) => [
  r.scenario,
  r.store,
  String(r.window),
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
  String(r.cpuUsPerRun),
]);
if (rows.length > 0) {
  console.log(table([header, ...cells], { left: 2, rule: true }));
  const ratios = summary
    .filter((x) => x.ratio !== null)
    .map((x) => `${x.scenario} ${x.ratio?.toFixed(2)}× floor`);
  console.log(`\nthroughput vs floor: ${ratios.join(', ')}`);
  if (TRACING.length > 1 || TRACING[0] !== 'off') {
    // Cost of tracing: extra wall time per run (closed loop, same window) over its journal steps,
    // and the p50 latency difference, against the same store with tracing off.
    const notes: string[] = [];
    for (const w of ['fanout', 'chain', 'router'] as const)
      for (const kind of STORES) {
        const off = rows.find((r) => r.scenario === w && r.store === `${kind} trace:off`);
        for (const mode of TRACING.filter((m) => m !== 'off')) {
          const on = rows.find((r) => r.scenario === w && r.store === `${kind} trace:${mode}`);
          const steps = stepsPerRun[w];
          if (off === undefined || on === undefined || steps === undefined) continue;
          const extraMs = (on.seconds - off.seconds) * 1000;
          const wallPerStepUs = Math.round((extraMs * 1000) / (RUNS * steps));
          // CPU time of the server process per journal step: the cost of making and exporting
          // the spans, barely moved by other load on the machine (wall time is).
          const cpuPerStepUs = Math.round((on.cpuUsPerRun - off.cpuUsPerRun) / steps);
          notes.push(
            `${w}/${kind} ${mode}: CPU ${cpuPerStepUs >= 0 ? '+' : ''}${cpuPerStepUs} µs per step ` +
              `(${off.cpuUsPerRun} → ${on.cpuUsPerRun} µs per run of ${steps} steps), ` +
              `${(((on.runsPerSec - off.runsPerSec) / off.runsPerSec) * 100).toFixed(1)}% runs/s, ` +
              `p50 ${on.p50 - off.p50 >= 0 ? '+' : ''}${(on.p50 - off.p50).toFixed(1)} ms, ` +
              `wall ${wallPerStepUs} µs per step`,
          );
        }
      }
    console.log(`\ntracing cost vs off: ${notes.join('; ')}`);
    console.log(
      `  spans exported: ${exported.spans} (memory), OTLP bytes received by the sink: ${exported.bytes}`,
    );
  }
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
emitResult('runtime', summary, {
  runs: RUNS,
  windows: WINDOWS,
  warm_processes: WARM,
  rows,
  queue,
  shapes,
  max_rss_mb: maxRssMb,
  seconds: totalSeconds,
});
const incomplete = rows.some((r) => r.ok !== r.runs) || queue.some((q) => q.ok !== q.backlog + q.interactive);
if (incomplete) process.exitCode = 1;
