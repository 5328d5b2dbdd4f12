/**
 * Store benchmark: 20,000 steps (beginStep + finishStep with usage, checkpoint and an event each)
 * through every RunStore driver with 64 concurrent writers (one run each). Prints ops/s side by side.
 *
 *   npx tsx bench/store.ts [steps] [writers]
 *
 * PostgreSQL: SKILLPLANE_BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432/test), in a
 * throw-away schema; skipped with a note when unreachable.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import pg from 'pg';
import {
  MemoryRunStore,
  PostgresRunStore,
  SqliteRunStore,
  newRunId,
  type RunStore,
} from '../src/store/index.js';
import { emitResult, positional, sized, summaryRow, type SummaryRow } from './lib/measure.js';

const STEPS = positional(0, sized(20_000, 4000, 300));
const WRITERS = positional(1, 64);
const PG_URL = process.env.SKILLPLANE_BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

const USAGE = { steps: 1, input_tokens: 10, output_tokens: 5, cost_usd: 0.0001 };

interface Result {
  name: string;
  ms: number;
  steps: number;
  note: string;
}

async function drive(name: string, store: RunStore, note = (): string => ''): Promise<Result> {
  const runs = await Promise.all(
    Array.from({ length: WRITERS }, (_, w) =>
      store.createRun(
        { id: newRunId(), agent: `bench-${w}`, strategy: 'single', input: null, status: 'running' },
        {
          event: {
            type: 'run.created',
            data: { agent: `bench-${w}`, strategy: 'single', priority: 'normal' },
          },
        },
      ),
    ),
  );
  const perWriter = Math.ceil(STEPS / WRITERS);
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    runs.map(async ({ run }) => {
      for (let i = 0; i < perWriter && done < STEPS; i++) {
        done++;
        const ref = { key: `model:${i}`, kind: 'model', name: 'm', branch: 'main' } as const;
        const step = await store.beginStep(
          { run_id: run.id, key: ref.key, kind: 'model', name: 'm', input: { i } },
          { type: 'step.started', data: ref },
        );
        await store.finishStep(
          run.id,
          step.seq,
          { status: 'completed', output: { text: 'ok', i } },
          { usage_delta: USAGE, checkpoint: step.seq },
          { type: 'step.completed', data: { ...ref, seq: step.seq, usage: USAGE } },
        );
      }
    }),
  );
  const ms = performance.now() - t0;
  const check = await store.getRun(runs[0]?.run.id ?? '');
  if (!check || check.usage.steps !== check.checkpoint) throw new Error(`${name}: usage/checkpoint mismatch`);
  return { name, ms, steps: done, note: note() };
}

/**
 * The floor: the same writers with nothing of ours — per step one INSERT of a step row and one
 * UPDATE finishing it (two statements, no events, usage or checkpoint), straight on the driver.
 */
async function floorDrive(
  name: string,
  exec: (sql: string, params: unknown[]) => Promise<unknown>,
): Promise<Result> {
  const perWriter = Math.ceil(STEPS / WRITERS);
  let done = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, w) => {
      for (let i = 0; i < perWriter && done < STEPS; i++) {
        done++;
        const run = `run-${w}`;
        await exec('INSERT INTO floor_steps (run_id, seq, input, status) VALUES ($1, $2, $3, $4)', [
          run,
          i,
          JSON.stringify({ i }),
          'running',
        ]);
        await exec('UPDATE floor_steps SET status = $1, output = $2 WHERE run_id = $3 AND seq = $4', [
          'completed',
          JSON.stringify({ text: 'ok', i }),
          run,
          i,
        ]);
      }
    }),
  );
  return { name, ms: performance.now() - t0, steps: done, note: 'plain driver, 2 statements per step' };
}

const FLOOR_TABLE =
  'CREATE TABLE floor_steps (run_id TEXT NOT NULL, seq INTEGER NOT NULL, input TEXT, output TEXT, status TEXT, PRIMARY KEY (run_id, seq))';

const results: Result[] = [];
results.push(await drive('memory', new MemoryRunStore()));

const dir = mkdtempSync(join(tmpdir(), 'sp-bench-'));
{
  // Plain better-sqlite3, WAL, synchronous=NORMAL (what our SQLite store uses), a statement each.
  const db = new Database(join(dir, 'floor.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec(FLOOR_TABLE);
  const cache = new Map<string, Database.Statement>();
  results.push(
    await floorDrive('sqlite floor (plain)', async (sql, params) => {
      const q = sql.replace(/\$\d+/g, '?');
      let st = cache.get(q);
      if (st === undefined) cache.set(q, (st = db.prepare(q)));
      return st.run(...params);
    }),
  );
  db.close();
}
for (const groupCommit of [true, false]) {
  const store = SqliteRunStore.open({ path: join(dir, `bench-${groupCommit}.db`), groupCommit });
  const r = await drive(groupCommit ? 'sqlite (group commit)' : 'sqlite (tx per call)', store, () =>
    groupCommit
      ? `${store.batches} tx, ${((2 * STEPS) / store.batches).toFixed(1)} calls/tx`
      : `${store.batches} tx`,
  );
  results.push(r);
  await store.close();
}
rmSync(dir, { recursive: true, force: true });

const schema = `sp_bench_${randomBytes(4).toString('hex')}`;
try {
  const pool = new pg.Pool({ connectionString: PG_URL, max: 16 });
  try {
    await pool.query(`CREATE SCHEMA "${schema}_floor"`);
    await pool.query(FLOOR_TABLE.replace('floor_steps', `"${schema}_floor".floor_steps`));
    results.push(
      await floorDrive('postgres floor (plain pg, pool 16)', (sql, params) =>
        pool.query(sql.replace('floor_steps', `"${schema}_floor".floor_steps`), params),
      ),
    );
  } finally {
    await pool.query(`DROP SCHEMA IF EXISTS "${schema}_floor" CASCADE`).catch(() => undefined);
    await pool.end();
  }
  const store = await PostgresRunStore.open({ url: PG_URL, schema, poolSize: 16, retries: 1 });
  try {
    results.push(
      await drive('postgres (pool 16)', store, () => {
        const calls = 2 * STEPS + WRITERS;
        return `${store.batches} tx, ${(calls / store.batches).toFixed(1)} calls/tx`;
      }),
    );
  } finally {
    await store.close();
    const c = new pg.Client({ connectionString: PG_URL });
    await c.connect();
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    await c.end();
  }
} catch (e) {
  results.push({
    name: 'postgres',
    ms: NaN,
    steps: 0,
    note: `skipped: ${e instanceof Error ? e.message : String(e)}`,
  });
}

console.log(`\n${STEPS} steps (beginStep + finishStep, 2 events each), ${WRITERS} concurrent writers\n`);
console.log(
  `${'driver'.padEnd(36)}${'seconds'.padStart(9)}${'steps/s'.padStart(10)}${'store ops/s'.padStart(13)}  note`,
);
for (const r of results) {
  const sec = r.ms / 1000;
  const sps = r.steps / sec;
  console.log(
    `${r.name.padEnd(36)}${sec.toFixed(2).padStart(9)}${(Number.isFinite(sps) ? sps.toFixed(0) : '-').padStart(10)}${(Number.isFinite(sps) ? (2 * sps).toFixed(0) : '-').padStart(13)}  ${r.note}`,
  );
}

const sps = (name: string): number | null => {
  const r = results.find((x) => x.name === name);
  return r === undefined || !Number.isFinite(r.ms) || r.steps === 0 ? null : r.steps / (r.ms / 1000);
};
const summary: SummaryRow[] = [];
const sqlite = sps('sqlite (group commit)');
if (sqlite !== null)
  summary.push(
    summaryRow('store sqlite journaled steps ×64 writers', sqlite, sps('sqlite floor (plain)'), 'steps/s'),
  );
const pgSteps = sps('postgres (pool 16)');
if (pgSteps !== null)
  summary.push(
    summaryRow(
      'store postgres journaled steps ×64 writers',
      pgSteps,
      sps('postgres floor (plain pg, pool 16)'),
      'steps/s',
      {
        target: { min: 5000 },
      },
    ),
  );
emitResult('store', summary, {
  steps: STEPS,
  writers: WRITERS,
  results: results.map((r) => ({
    driver: r.name,
    seconds: r.ms / 1000,
    steps_per_s: r.steps / (r.ms / 1000),
    note: r.note,
  })),
});
