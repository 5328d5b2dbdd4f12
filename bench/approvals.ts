/**
 * Memory held per run waiting on approval: `--runs` runs (default 5,000) whose agent calls a
 * risk-tagged tool skill, so each stops at `waiting_approval` holding no slot. Reports the heap
 * and RSS over the idle app (after a full GC), per waiting run, for the memory store and SQLite.
 *
 *   npx tsx bench/approvals.ts [--runs 5000] [--stores memory,sqlite] [--quick|--tiny]
 *
 * No floor: the figure is a budget (≤ 10 KB per waiting run on a durable store; the memory store
 * keeps the runs themselves in the heap, so its figure is shown without one).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openRunStore } from '../src/store/index.js';
import { createTestApp, startScriptedModelServer, type Script } from '../src/testing/index.js';
import { arg, emitResult, gc, numArg, sized, summaryRow, table, waitFor } from './lib/measure.js';

const RUNS = numArg('runs', sized(5000, 500, 20));
const STORES = arg('stores', 'memory,sqlite').split(',');

const script: Script = ({ body }) =>
  body.messages.some((m) => m.role === 'tool')
    ? { content: 'done' }
    : { tool_calls: [{ name: 'bench__danger', arguments: { n: 1 } }] };

const dir = mkdtempSync(join(tmpdir(), 'sp-bench-approvals-'));
const skill = join(dir, 'skills', 'danger');
mkdirSync(skill, { recursive: true });
writeFileSync(
  join(skill, 'skill.yaml'),
  'skill_id: bench/danger\nversion: 1.0.0\nkind: tool\ndescription: Needs a human.\nentry: ./index.mjs\n' +
    'risk_tags: [destructive]\ninput_schema: {type: object, properties: {n: {type: integer}}}\n',
);
writeFileSync(join(skill, 'index.mjs'), 'export default async () => ({ ok: true });\n');
const server = await startScriptedModelServer({ script, model: 'bench-model' });

interface Row {
  store: string;
  runs: number;
  waiting: number;
  heapKbPerRun: number;
  rssKbPerRun: number;
  idleRssMb: number;
  seconds: number;
}
const rows: Row[] = [];
const mem = () => {
  gc();
  gc();
  return process.memoryUsage();
};
try {
  for (const kind of STORES) {
    const store =
      kind === 'memory'
        ? await openRunStore({ driver: 'memory' })
        : await openRunStore({ driver: 'sqlite', path: join(dir, `approvals-${Date.now()}.db`) });
    const app = await createTestApp({
      dir,
      modelUrl: server.url,
      store,
      agents: [{ name: 'ops', instructions: 'Call the tool.', skills: ['bench/danger'] }],
      config: {
        models: { default: { model: 'bench-model', max_concurrency: 64 } },
        agents: { max_parallel_agents: 64, max_queued_runs: RUNS + 64 },
      },
    });
    try {
      // Warm: one run to waiting and the code paths compiled, then the idle figure.
      const warm = await app.runtime.submit({ agent: 'ops', input: 'warm' });
      await waitFor(
        async () => (await app.runtime.getRun(warm.run.id)).status === 'waiting_approval',
        'warm-up',
      );
      server.requests.length = 0;
      const idle = mem();
      const t0 = performance.now();
      const ids: string[] = [];
      for (let i = 0; i < RUNS; i += 64)
        for (const { run } of await Promise.all(
          Array.from({ length: Math.min(64, RUNS - i) }, (_, k) =>
            app.runtime.submit({ agent: 'ops', input: `run ${i + k}` }),
          ),
        ))
          ids.push(run.id);
      await waitFor(async () => {
        const s = app.runtime.scheduler.stats();
        return s.running === 0 && s.queued.interactive + s.queued.normal + s.queued.batch === 0;
      }, 'every run waiting on approval');
      const seconds = (performance.now() - t0) / 1000;
      server.requests.length = 0;
      const after = mem();
      let waiting = 0;
      for (const id of ids) if ((await app.runtime.getRun(id)).status === 'waiting_approval') waiting++;
      if (waiting !== RUNS) {
        process.stderr.write(`${kind}: only ${waiting} of ${RUNS} runs are waiting on approval\n`);
        process.exitCode = 1;
      }
      rows.push({
        store: kind,
        runs: RUNS,
        waiting,
        heapKbPerRun: Math.round(((after.heapUsed - idle.heapUsed) / RUNS / 1024) * 10) / 10,
        rssKbPerRun: Math.round(((after.rss - idle.rss) / RUNS / 1024) * 10) / 10,
        idleRssMb: Math.round(idle.rss / 1048576),
        seconds: Math.round(seconds * 10) / 10,
      });
      process.stderr.write(`  done: ${JSON.stringify(rows.at(-1))}\n`);
    } finally {
      await app.close(1000);
      await store.close();
    }
  }
} finally {
  await server.close();
  rmSync(dir, { recursive: true, force: true });
}

console.log(`\nRuns waiting on approval — ${RUNS} per store, memory over the idle app after a full GC\n`);
console.log(
  table(
    [
      ['store', 'runs', 'heap KB/run', 'RSS KB/run', 'idle RSS MB', 'seconds'],
      ...rows.map((r) => [
        r.store,
        String(r.runs),
        r.heapKbPerRun.toFixed(1),
        r.rssKbPerRun.toFixed(1),
        String(r.idleRssMb),
        r.seconds.toFixed(1),
      ]),
    ],
    { rule: true },
  ),
);
emitResult(
  'approvals',
  rows.flatMap((r) => [
    // The budget is for a durable store; the memory store holds the runs themselves in the heap.
    summaryRow(`waiting on approval, ${r.store}: heap per run`, Math.max(0, r.heapKbPerRun), null, 'KB', {
      lowerIsBetter: true,
      ...(r.store === 'memory' ? {} : { target: { max: 10 } }),
    }),
    summaryRow(`waiting on approval, ${r.store}: RSS per run`, Math.max(0, r.rssKbPerRun), null, 'KB', {
      lowerIsBetter: true,
      ...(r.store === 'memory' ? {} : { target: { max: 10 } }),
    }),
  ]),
  { runs: RUNS, rows },
);
