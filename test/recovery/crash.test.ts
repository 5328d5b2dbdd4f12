/**
 * THE crash test: real `skillplane serve` processes (`node --import tsx src/cli/main.ts --config
 * FILE serve --port N`), 200 multi-step runs whose skill records every execution in a side file,
 * SIGKILL mid-flight, restart, and an exactly-once audit of the side effects against the journal.
 * The scripted model server lives in this (test) process so it survives the kills. Runs are
 * submitted, polled and listed over the HTTP API (the typed client); the journal audit reads the
 * store directly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { SkillplaneClient, type ApiRun } from '../../src/client/index.js';
import { PostgresRunStore, SqliteRunStore, type RunStore } from '../../src/store/index.js';
import { startScriptedModelServer, type ScriptedModelServer } from '../../src/testing/index.js';
import {
  allRuns,
  checkExactlyOnce,
  mapLimit,
  crashSnapshot,
  executions,
  recordScript,
  until,
  writeTestSkills,
  type CrashSnapshot,
} from './helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');
const PG_URL = process.env.SKILLPLANE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUNS = 200;
const CALLS = 3;
const TERMINAL = new Set(['completed', 'failed', 'cancelled']);
const NOT_TERMINAL = ['queued', 'running', 'waiting_approval'] as const;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
const schemas: string[] = [];
afterAll(async () => {
  if (schemas.length === 0) return;
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await c.end();
});

interface ServeProcess {
  proc: ChildProcess;
  url: string;
  /** The node id the server logged at start-up. */
  node: string;
  client: SkillplaneClient;
  exited: Promise<number | null>;
  output: () => string;
}

/** A port free right now (so a restart can ask for the same one). */
async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolvePort(port));
    });
  });
}

/** Starts `skillplane serve` and waits for its `listening on` log line. */
async function serve(
  configFile: string,
  port: number,
  env: Record<string, string> = {},
): Promise<ServeProcess> {
  const proc = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      'src/cli/main.ts',
      '--config',
      configFile,
      'serve',
      '--port',
      String(port),
      '--grace',
      '2000',
    ],
    { cwd: ROOT, env: { ...process.env, LOG_LEVEL: 'info', ...env }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const append = (d: Buffer) => {
    out += d.toString();
    if (out.length > 256_000) out = out.slice(-128_000);
  };
  proc.stdout!.on('data', append);
  proc.stderr!.on('data', append);
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  cleanups.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  });
  const line = await new Promise<Record<string, unknown>>((resolveLine, reject) => {
    // Start-up transpiles the sources (tsx): slow on two loaded cores, and not what is tested.
    const timer = setTimeout(() => reject(new Error(`serve did not start:\n${out}`)), 45_000);
    const check = () => {
      const l = out.split('\n').find((x) => x.includes('"listening on http://127.0.0.1:'));
      if (l === undefined) return;
      clearTimeout(timer);
      resolveLine(JSON.parse(l) as Record<string, unknown>);
    };
    proc.stdout!.on('data', check);
    void exited.then((code) => reject(new Error(`serve exited (${code}) before listening:\n${out}`)));
  });
  const url = String(line.url);
  return {
    proc,
    url,
    node: String(line.node),
    client: new SkillplaneClient({ baseUrl: url }),
    exited,
    output: () => out,
  };
}

async function sigkill(node: ServeProcess): Promise<void> {
  node.proc.kill('SIGKILL');
  await node.exited;
}

/** Submits all runs (idempotency key per run) with bounded concurrency, spread over the servers. */
async function submitAll(nodes: ServeProcess[]): Promise<string[]> {
  const ids: string[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (next < RUNS) {
        const i = next++;
        const run = await nodes[i % nodes.length]!.client.createRun(
          { agent: 'worker', input: `job${i}` },
          { idempotencyKey: `crash-${i}` },
        );
        ids[i] = run.id;
      }
    }),
  );
  return ids;
}

/** Every run over the API, following the cursor (pages of 100, so paging is exercised). */
async function listAll(client: SkillplaneClient, status?: readonly string[]): Promise<ApiRun[]> {
  const out: ApiRun[] = [];
  for await (const r of client.iterateRuns({
    limit: 100,
    ...(status === undefined ? {} : { status: [...status] as ApiRun['status'][] }),
  }))
    out.push(r);
  return out;
}

interface Setup {
  dir: string;
  sideFile: string;
  server: ScriptedModelServer;
  configFile: string;
}

async function setup(store: object, server: object = {}): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'sp-crash-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const { sideFile, workspace } = writeTestSkills(dir);
  const model = await startScriptedModelServer({
    script: recordScript({ calls: CALLS, delayMs: 20 }),
    model: 'test-model',
  });
  cleanups.push(() => model.close());
  const configFile = join(dir, 'skillplane.yaml');
  // JSON is YAML.
  writeFileSync(
    configFile,
    JSON.stringify({
      server,
      store,
      models: { default: { base_url: model.url, model: 'test-model', max_retries: 0 } },
      skills: {
        directories: [join(dir, 'skills')],
        allowed_roots: [workspace],
        watch: false,
        // One warm process per slot: spawning a process per skill call would dominate the test.
        warm_processes: 16,
      },
      agents: {
        directories: [],
        max_parallel_agents: 16,
        max_queued_runs: 1000,
        definitions: [{ name: 'worker', instructions: 'test', skills: ['test/record'] }],
      },
    }),
  );
  return { dir, sideFile, server: model, configFile };
}

/** Waits until the side file shows 30 % of all executions, then kills `node` and checks it was mid-flight. */
async function killMidFlight(s: Setup, node: ServeProcess): Promise<number> {
  const total = RUNS * CALLS;
  await until(() => executions(s.sideFile).length >= total * 0.3, 30_000, '30 % of the executions');
  await sigkill(node);
  const atKill = executions(s.sideFile).length;
  expect(atKill).toBeGreaterThanOrEqual(total * 0.3);
  expect(atKill).toBeLessThanOrEqual(total * 0.6);
  return atKill;
}

/** Polls the API (bounded) until no run is left in a non-terminal state. */
async function waitAllTerminal(client: SkillplaneClient, timeoutMs: number): Promise<void> {
  await until(
    async () => (await listAll(client, NOT_TERMINAL)).length === 0,
    timeoutMs,
    'every run to be terminal',
  );
}

/** The end state every crash must lead to: all runs completed, each step's side effect once. */
async function expectAllDoneExactlyOnce(
  client: SkillplaneClient,
  store: RunStore,
  s: Setup,
  ids: string[],
  completedBefore: CrashSnapshot,
): Promise<{ retriedInFlight: number }> {
  // No run lost: the API lists exactly the runs submitted, all completed.
  const runs = await listAll(client);
  expect(runs).toHaveLength(RUNS);
  expect(new Set(runs.map((r) => r.id))).toEqual(new Set(ids));
  expect(runs.every((r) => TERMINAL.has(r.status))).toBe(true);
  expect(
    runs
      .filter((r) => r.status !== 'completed')
      .map((r) => `${r.id} ${r.status} ${r.error?.code ?? ''}: ${r.error?.message ?? ''}`),
  ).toEqual([]);
  // Leases are released at the end (the API does not show them; the journal does).
  expect((await allRuns(store)).filter((r) => r.owner !== null).map((r) => r.id)).toEqual([]);
  const check = await checkExactlyOnce(store, ids, s.sideFile, completedBefore);
  expect(check.problems).toEqual([]);
  expect(check.skillSteps).toBe(RUNS * CALLS);
  return { retriedInFlight: check.retriedInFlight.length };
}

describe('crash recovery of `skillplane serve` with SIGKILL', () => {
  it('SQLite: a killed server restarted on its port resumes at once and finishes all 200 runs, no step twice, no run lost', async () => {
    // No `server.node_id`: `serve` derives `<hostname>-<port>`, so restarting on the same port keeps
    // the id. The lease is long (60 s): the restart must resume the previous incarnation's runs at
    // once (released at start-up), not when their leases expire.
    const LEASE_SEC = 60;
    const s = await setup({ driver: 'sqlite', path: 'data/runs.db', lease_sec: LEASE_SEC });
    const port = await freePort();
    const first = await serve(s.configFile, port);
    const ids = await submitAll([first]);
    const atKill = await killMidFlight(s, first);

    // The journal as the crash left it: a step completed here must never run again.
    const reader = await SqliteRunStore.open({ path: join(s.dir, 'data/runs.db') });
    cleanups.push(() => reader.close());
    const completedBefore = await crashSnapshot(reader, ids, s.sideFile);
    const left = (await allRuns(reader)).filter((r) => r.status !== 'completed');
    const unfinished = left.length;
    expect(unfinished).toBeGreaterThan(0);
    const firstExpiry = Math.min(
      ...left.map((r) => Date.parse(r.lease_expires_at ?? '')).filter((t) => t > 0),
    );

    const t0 = Date.now();
    const second = await serve(s.configFile, port);
    expect(second.node).toBe(first.node);
    // The idempotency index survived: the same key returns the same run.
    const again = await second.client.createRun(
      { agent: 'worker', input: 'job7' },
      { idempotencyKey: 'crash-7' },
    );
    expect(again.id).toBe(ids[7]);
    await waitAllTerminal(second.client, 40_000);
    const recoveryMs = Date.now() - t0;
    // Every resume of the restarted node happened before the first lease of the crash would have
    // expired: it did not wait for them (a bound on the events, not on this machine's speed).
    const resumedAt = (await mapLimit(ids, 8, (id) => reader.listEvents(id)))
      .flat()
      .filter((e) => e.type === 'run.resumed' && Date.parse(e.at) >= t0)
      .map((e) => Date.parse(e.at));
    expect(resumedAt.length).toBeGreaterThan(0);
    expect(Math.max(...resumedAt)).toBeLessThan(firstExpiry);
    const { retriedInFlight } = await expectAllDoneExactlyOnce(
      second.client,
      reader,
      s,
      ids,
      completedBefore,
    );
    second.proc.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    console.info(
      `[crash sqlite] node ${first.node}: killed at ${atKill}/${RUNS * CALLS} executions, ${unfinished} runs unfinished, ` +
        `${completedBefore.completed.size} completed steps kept, ${retriedInFlight} in-flight steps retried, ` +
        `restart to all done ${recoveryMs} ms (lease ${LEASE_SEC} s)`,
    );
  }, 120_000);

  it('PostgreSQL: with one of two servers killed, the survivor finishes its runs exactly once', async () => {
    const schema = `sp_crash_${randomBytes(5).toString('hex')}`;
    schemas.push(schema);
    // A small pool: the test runs two nodes beside other suites on one PostgreSQL server.
    const s = await setup({ driver: 'postgres', url: PG_URL, schema, lease_sec: 2, pool_size: 4 });
    // Distinct node ids through the environment override of `server.node_id`. Both at once:
    // concurrent openers migrate the schema exactly once.
    const [n1, n2] = await Promise.all([
      serve(s.configFile, 0, { SKILLPLANE_SERVER__NODE_ID: 'node-1' }),
      serve(s.configFile, 0, { SKILLPLANE_SERVER__NODE_ID: 'node-2' }),
    ]);
    expect([n1.node, n2.node]).toEqual(['node-1', 'node-2']);
    const ids = await submitAll([n1, n2]);
    const atKill = await killMidFlight(s, n1);

    const reader = await PostgresRunStore.open({ url: PG_URL, schema, poolSize: 2 });
    cleanups.push(() => reader.close());
    const completedBefore = await crashSnapshot(reader, ids, s.sideFile);
    const t0 = Date.now();
    await waitAllTerminal(n2.client, 40_000);
    const takeoverMs = Date.now() - t0;
    const { retriedInFlight } = await expectAllDoneExactlyOnce(n2.client, reader, s, ids, completedBefore);
    // Node 2 took over node 1's unfinished runs; node 1 never came back.
    let takenOver = 0;
    for (const events of await mapLimit(ids, 8, (id) => reader.listEvents(id))) {
      const nodes = events
        .filter((e) => e.type === 'run.started' || e.type === 'run.resumed')
        .map((e) => (e.data as { node: string }).node);
      if (nodes[0] === 'node-1' && nodes.includes('node-2')) takenOver++;
    }
    expect(takenOver).toBeGreaterThan(0);
    n2.proc.kill('SIGTERM');
    expect(await n2.exited).toBe(0);
    console.info(
      `[crash postgres] killed node-1 at ${atKill}/${RUNS * CALLS} executions, ${takenOver} runs taken over by node-2, ` +
        `${retriedInFlight} in-flight steps retried, kill to all done ${takeoverMs} ms`,
    );
  }, 120_000);
});
