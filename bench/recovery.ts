/**
 * Recovery benchmark.
 *
 * 1. Restart recovery: 1,000 runs of a 3-tool-call chain (7 steps each) are started on node A
 *    (SQLite), which "crashes" (its store freezes, like a SIGKILL) once about a third of the steps
 *    are journaled. Node B — the same node id, as a restarted process — opens the same file and
 *    `runtime.start()` is timed until every non-terminal run is claimed and rescheduled, then
 *    until every run is completed (completed steps replayed from the journal, never re-executed).
 * 2. Durability cost: runs/s of a fan-out workload (`parallel_map` over 4 items, each branch one
 *    model turn calling a skill then answering, then a reducer agent) with the SQLite store vs the
 *    in-memory store, same process, same scripted model server, side by side.
 *
 *   npx tsx bench/recovery.ts [--runs 1000] [--fanout-runs 400] [--window 16]   (--runs 0: fan-out only)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createApp, type App } from '../src/app/index.js';
import type { RunRequestInput } from '../src/agents/index.js';
import { loadConfig } from '../src/config/index.js';
import { MemoryRunStore, SqliteRunStore, type RunStore } from '../src/store/index.js';
import { startScriptedModelServer, type Script } from '../src/testing/index.js';
import {
  emitResult,
  numArg,
  sized,
  summaryRow,
  table,
  waitFor,
  writeNoopSkill,
  type SummaryRow,
} from './lib/measure.js';

const RUNS = numArg('runs', sized(1000, 100, 10));
const FANOUT_RUNS = numArg('fanout-runs', sized(400, 60, 8));
const WINDOW = numArg('window', 16);
const CHAIN_CALLS = 3;
const ITEMS = 4;
const TOOL = 'bench__noop';

/** While true, every model answer takes SLOW_MS: the first node's runs are all mid-flight when it dies. */
let slowModel = false;
const SLOW_MS = 1_500;

/** Worker: one tool call per turn until `calls`, then an answer; agents without tools answer. */
const script: Script = ({ body }) => {
  const delay = slowModel ? { delay_ms: SLOW_MS } : {};
  const offered = (body.tools ?? []).some((t) => t.function.name === TOOL);
  const results = body.messages.filter((m) => m.role === 'tool').length;
  const wanted = body.messages.some((m) => m.role === 'system' && String(m.content).includes('chain'))
    ? CHAIN_CALLS
    : 1;
  if (offered && results < wanted)
    return { tool_calls: [{ name: TOOL, arguments: { n: results } }], ...delay };
  return { content: 'done', ...delay };
};

async function app(
  dir: string,
  modelUrl: string,
  store: RunStore,
  opts: { nodeId: string; start: boolean; parallel: number; warm: number },
): Promise<App> {
  const loaded = loadConfig({
    cwd: dir,
    env: {},
    overrides: {
      store: { driver: 'memory' },
      models: { default: { base_url: modelUrl, model: 'bench', max_retries: 0, max_concurrency: 256 } },
      skills: {
        directories: [join(dir, 'skills')],
        watch: false,
        // Enough warm processes for every branch in flight: a spawn per skill call would dominate.
        warm_processes: opts.warm,
      },
      agents: {
        directories: [],
        max_parallel_agents: opts.parallel,
        max_queued_runs: Math.max(2_000, RUNS * 2),
        definitions: [
          { name: 'chain', instructions: 'chain', skills: ['bench/noop'] },
          { name: 'worker', instructions: 'worker', skills: ['bench/noop'] },
          { name: 'reducer', instructions: 'reduce', skills: [] },
        ],
      },
    },
  });
  return createApp(loaded, { store, watch: false, nodeId: opts.nodeId, start: opts.start });
}

/** A store whose calls hang from `freeze()` on: the node is dead to the database. */
function freezable(inner: RunStore): { store: RunStore; freeze(): void } {
  let frozen = false;
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) =>
        frozen ? new Promise(() => undefined) : (v as (...a: unknown[]) => unknown).apply(target, args);
    },
  });
  return { store, freeze: () => (frozen = true) };
}

async function countByStatus(store: RunStore): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let cursor: string | undefined;
  for (;;) {
    const page = await store.listRuns({ limit: 500, ...(cursor === undefined ? {} : { cursor }) });
    for (const r of page.runs) counts[r.status] = (counts[r.status] ?? 0) + 1;
    if (page.next_cursor === null) return counts;
    cursor = page.next_cursor;
  }
}

async function recoveryBench(dir: string, modelUrl: string, modelCalls: () => number): Promise<string[][]> {
  const path = join(dir, 'recovery.db');
  const innerA = await SqliteRunStore.open({ path });
  const a = freezable(innerA);
  // Every run in flight at once on a slow model, so at the crash all of them are non-terminal
  // and each has some completed steps in its journal.
  const nodeA = await app(dir, modelUrl, a.store, {
    nodeId: 'bench-node',
    start: true,
    parallel: RUNS,
    warm: 64,
  });
  slowModel = true;
  const ids: string[] = [];
  for (let i = 0; i < RUNS; i++)
    ids.push((await nodeA.runtime.submit({ agent: 'chain', input: `r${i}` })).run.id);
  // Crash once about a third of the work is done (4 model calls per run).
  await waitFor(async () => modelCalls() >= RUNS * 4 * 0.33, 'a third of the model calls');
  a.freeze();
  slowModel = false;

  const storeB = await SqliteRunStore.open({ path });
  const before = await countByStatus(storeB);
  let journaled = 0;
  for (const id of ids)
    journaled += (await storeB.getSteps(id)).filter((s) => s.status === 'completed').length;
  const nonTerminal = (before.queued ?? 0) + (before.running ?? 0);
  const nodeB = await app(dir, modelUrl, storeB, {
    nodeId: 'bench-node',
    start: false,
    parallel: 64,
    warm: 64,
  });
  const t0 = performance.now();
  const { resumed } = await nodeB.runtime.start();
  const claimedMs = performance.now() - t0;
  const settled = await Promise.all(ids.map((id) => nodeB.runtime.wait(id, { timeoutMs: 600_000 })));
  const notDone = settled.filter((r) => r.status !== 'completed');
  if (notDone.length > 0) throw new Error(`${notDone.length} runs did not complete: ${notDone[0]!.status}`);
  const doneMs = performance.now() - t0;
  await nodeB.close(1_000);
  await storeB.close();
  await nodeA.skills.close().catch(() => undefined);
  nodeA.models.close();
  recovered.claimedMs = claimedMs;
  recovered.runsPerSec = nonTerminal / (doneMs / 1000);
  return [
    ['runs non-terminal at restart', String(nonTerminal)],
    ['completed steps in the journal (replayed, not re-run)', String(journaled)],
    ['runs claimed + rescheduled by start()', String(resumed)],
    ['start() → all claimed and rescheduled', `${claimedMs.toFixed(0)} ms`],
    ['start() → all completed', `${doneMs.toFixed(0)} ms`],
    ['recovered runs/s (to completion)', (nonTerminal / (doneMs / 1000)).toFixed(0)],
  ];
}

/** The restart's figures, for the summary. */
const recovered = { claimedMs: Number.NaN, runsPerSec: Number.NaN };

async function fanoutBench(dir: string, modelUrl: string, kind: 'memory' | 'sqlite'): Promise<number[]> {
  const store =
    kind === 'memory'
      ? new MemoryRunStore()
      : await SqliteRunStore.open({ path: join(dir, `fanout-${Date.now()}.db`) });
  const node = await app(dir, modelUrl, store, {
    nodeId: `fanout-${kind}`,
    start: true,
    parallel: WINDOW,
    warm: WINDOW * ITEMS,
  });
  const req: RunRequestInput = {
    strategy: 'parallel_map',
    agent: 'worker',
    items: Array.from({ length: ITEMS }, (_, i) => `item ${i}`),
    input: 'fan out',
    options: { reducer: 'reducer' },
  };
  let steps = 0;
  const once = async (n: number): Promise<number> => {
    let next = 0;
    steps = 0;
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: WINDOW }, async () => {
        while (next < n) {
          next++;
          const { run } = await node.runtime.submit(req);
          const done = await node.runtime.wait(run.id, { timeoutMs: 120_000 });
          if (done.status !== 'completed')
            throw new Error(`fan-out run ${done.status}: ${done.error?.message}`);
          steps += done.usage.steps;
        }
      }),
    );
    return performance.now() - t0;
  };
  await once(Math.min(WINDOW, FANOUT_RUNS)); // warm-up: processes, JIT, connections
  const ms = await once(FANOUT_RUNS);
  await node.close(1_000);
  await store.close();
  return [FANOUT_RUNS / (ms / 1000), steps / (ms / 1000), ms];
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'sp-bench-recovery-'));
  writeNoopSkill(dir, 'bench/noop', '{type: object}');
  const server = await startScriptedModelServer({ script, model: 'bench' });
  try {
    if (RUNS > 0) {
      console.log(`\nRestart recovery (SQLite, ${RUNS} runs of a ${CHAIN_CALLS}-call chain, crash at ~1/3)`);
      const rows = await recoveryBench(dir, server.url, () => server.requests.length);
      console.log(table([['measure', 'value'], ...rows]));
    }

    console.log(
      `\nFan-out (parallel_map over ${ITEMS} items + reducer, ${FANOUT_RUNS} runs, window ${WINDOW})`,
    );
    const rows: string[][] = [['store', 'runs/s', 'steps/s', 'wall ms']];
    const results: Record<string, number[]> = {};
    // Alternate the stores over two rounds and keep each one's best: the machine is shared.
    for (let round = 0; round < 2; round++) {
      for (const kind of ['memory', 'sqlite'] as const) {
        const r = await fanoutBench(dir, server.url, kind);
        if (results[kind] === undefined || r[0]! > results[kind][0]!) results[kind] = r;
      }
    }
    for (const kind of ['memory', 'sqlite'] as const) {
      const r = results[kind]!;
      rows.push([kind, r[0]!.toFixed(1), r[1]!.toFixed(0), r[2]!.toFixed(0)]);
    }
    console.log(table(rows));
    const ratio = results.sqlite![0]! / results.memory![0]!;
    console.log(`SQLite durability keeps ${(ratio * 100).toFixed(0)} % of the in-memory throughput.`);
    const summary: SummaryRow[] = [];
    if (RUNS > 0) {
      summary.push(summaryRow('restart: start() → every run claimed', recovered.claimedMs, null, 'ms'));
      summary.push(summaryRow('restart: recovered runs to completion', recovered.runsPerSec, null, 'runs/s'));
    }
    summary.push(
      summaryRow(
        'fan-out sqlite vs memory (durability cost)',
        results.sqlite![0]!,
        results.memory![0]!,
        'runs/s',
      ),
    );
    emitResult('recovery', summary, {
      runs: RUNS,
      fanout_runs: FANOUT_RUNS,
      window: WINDOW,
      fanout: results,
    });
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  // Node A of the recovery bench is frozen on purpose; its handles would keep the process alive.
  process.exit(0);
}

void main();
