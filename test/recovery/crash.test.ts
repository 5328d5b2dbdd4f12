/**
 * THE crash test: real server processes, SIGKILL mid-flight, restart, and an exactly-once audit of
 * the side effects. The scripted model server lives in this (test) process so it survives kills.
 *
 * The nodes run `test/fixtures/node-main.ts` (a minimal control API shaped like `/v1/agents/runs`),
 * because `skillplane serve` (src/cli/serve-command.ts) did not exist yet when this was written.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PostgresRunStore, SqliteRunStore, type Run, type RunStore } from '../../src/store/index.js';
import { startScriptedModelServer, type ScriptedModelServer } from '../../src/testing/index.js';
import {
  allRuns,
  checkExactlyOnce,
  completedSkillSteps,
  executions,
  recordScript,
  until,
  writeTestSkills,
} from './helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');
const FIXTURE = join(ROOT, 'test/fixtures/node-main.ts');
const PG_URL = process.env.SKILLPLANE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const RUNS = 200;
const CALLS = 3;
const LEASE_MS = 1_500;

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

interface NodeProcess {
  proc: ChildProcess;
  port: number;
  exited: Promise<number | null>;
  stderr: () => string;
}

/** Starts a node process and waits for its `READY <port>` line. */
async function startNode(configFile: string, env: Record<string, string>): Promise<NodeProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', FIXTURE, '--config', configFile], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  cleanups.push(async () => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    await exited;
  });
  const port = await new Promise<number>((resolvePort, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`node did not start: ${err}`)), 20_000);
    proc.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /READY (\d+)/.exec(out);
      if (m !== null) {
        clearTimeout(timer);
        resolvePort(Number(m[1]));
      }
    });
    void exited.then((code) => reject(new Error(`node exited (${code}) before READY: ${err}`)));
  });
  return { proc, port, exited, stderr: () => err };
}

async function submit(port: number, input: string, key: string): Promise<Run> {
  const res = await fetch(`http://127.0.0.1:${port}/v1/agents/runs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'idempotency-key': key },
    body: JSON.stringify({ agent: 'worker', input }),
  });
  if (res.status !== 202 && res.status !== 200) throw new Error(`submit ${res.status}: ${await res.text()}`);
  return (await res.json()) as Run;
}

/** Submits runs `from..to-1` with bounded concurrency, spread over the given ports. */
async function submitAll(ports: number[], from: number, to: number): Promise<Run[]> {
  const out: Run[] = [];
  let next = from;
  await Promise.all(
    Array.from({ length: 20 }, async () => {
      while (next < to) {
        const i = next++;
        out[i - from] = await submit(ports[i % ports.length]!, `job${i}`, `crash-${i}`);
      }
    }),
  );
  return out;
}

async function sigkill(node: NodeProcess): Promise<void> {
  node.proc.kill('SIGKILL');
  await node.exited;
}

interface Setup {
  dir: string;
  sideFile: string;
  server: ScriptedModelServer;
  configFile: string;
}

async function setup(store: object): Promise<Setup> {
  const dir = mkdtempSync(join(tmpdir(), 'sp-crash-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  const { sideFile, workspace } = writeTestSkills(dir);
  const server = await startScriptedModelServer({
    script: recordScript({ calls: CALLS, delayMs: 20 }),
    model: 'test-model',
  });
  cleanups.push(() => server.close());
  const configFile = join(dir, 'skillplane.yaml');
  // JSON is YAML.
  writeFileSync(
    configFile,
    JSON.stringify({
      store,
      models: { default: { base_url: server.url, model: 'test-model', max_retries: 0 } },
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
  return { dir, sideFile, server, configFile };
}

/** Waits until the side file shows 30 % of all executions, then kills `node` and checks it was mid-flight. */
async function killMidFlight(s: Setup, node: NodeProcess): Promise<number> {
  const total = RUNS * CALLS;
  await until(() => executions(s.sideFile).length >= total * 0.3, 30_000, '30 % of the executions');
  await sigkill(node);
  const atKill = executions(s.sideFile).length;
  expect(atKill).toBeLessThan(total);
  return atKill;
}

/** The end state every crash must lead to: all runs completed, each step's side effect once. */
async function expectAllDoneExactlyOnce(
  store: RunStore,
  s: Setup,
  ids: string[],
  completedBefore: Set<string>,
): Promise<{ retriedInFlight: number }> {
  await until(
    async () => {
      const runs = await allRuns(store);
      return (
        runs.length === RUNS && runs.every((r) => ['completed', 'failed', 'cancelled'].includes(r.status))
      );
    },
    30_000,
    'every run to be terminal',
  );
  const runs = await allRuns(store);
  expect(runs).toHaveLength(RUNS);
  expect(new Set(runs.map((r) => r.id))).toEqual(new Set(ids));
  expect(
    runs
      .filter((r) => r.status !== 'completed')
      .map((r) => `${r.id} ${r.status} ${r.error?.code ?? ''}: ${r.error?.message ?? ''}`),
  ).toEqual([]);
  expect(runs.every((r) => r.owner === null)).toBe(true);
  const check = await checkExactlyOnce(store, ids, s.sideFile, completedBefore);
  expect(check.problems).toEqual([]);
  expect(check.skillSteps).toBe(RUNS * CALLS);
  return { retriedInFlight: check.retriedInFlight.length };
}

describe('crash recovery with real processes and SIGKILL', () => {
  it('SQLite: a killed server restarts and finishes all 200 runs, no step twice, no run lost', async () => {
    const s = await setup({ driver: 'sqlite', path: 'data/runs.db' });
    const env = { SP_NODE_ID: 'node-1', SP_LEASE_MS: String(LEASE_MS) };
    const first = await startNode(s.configFile, env);
    const ids = (await submitAll([first.port], 0, RUNS)).map((r) => r.id);
    const atKill = await killMidFlight(s, first);

    // The journal as the crash left it: a step completed here must never run again.
    const reader = await SqliteRunStore.open({ path: join(s.dir, 'data/runs.db') });
    cleanups.push(() => reader.close());
    const completedBefore = await completedSkillSteps(reader, ids);
    const unfinished = (await allRuns(reader)).filter((r) => r.status !== 'completed').length;
    expect(unfinished).toBeGreaterThan(0);

    const t0 = Date.now();
    const second = await startNode(s.configFile, env);
    // The idempotency index survived: the same key returns the same run.
    expect((await submit(second.port, 'job7', 'crash-7')).id).toBe(ids[7]);
    const { retriedInFlight } = await expectAllDoneExactlyOnce(reader, s, ids, completedBefore);
    const recoveryMs = Date.now() - t0;
    second.proc.kill('SIGTERM');
    expect(await second.exited).toBe(0);
    console.info(
      `[crash sqlite] killed at ${atKill}/${RUNS * CALLS} executions, ${unfinished} runs unfinished, ` +
        `${completedBefore.size} completed steps kept, ${retriedInFlight} in-flight steps retried, ` +
        `restart to all done ${recoveryMs} ms`,
    );
  }, 60_000);

  it('PostgreSQL: with one of two servers killed, the survivor finishes its runs exactly once', async () => {
    const schema = `sp_crash_${randomBytes(5).toString('hex')}`;
    schemas.push(schema);
    const s = await setup({ driver: 'postgres', url: PG_URL });
    const env = { SP_PG_SCHEMA: schema, SP_LEASE_MS: String(LEASE_MS) };
    // Both at once: concurrent openers migrate the schema exactly once.
    const [n1, n2] = await Promise.all([
      startNode(s.configFile, { ...env, SP_NODE_ID: 'node-1' }),
      startNode(s.configFile, { ...env, SP_NODE_ID: 'node-2' }),
    ]);
    const ids = (await submitAll([n1.port, n2.port], 0, RUNS)).map((r) => r.id);
    const atKill = await killMidFlight(s, n1);

    const reader = await PostgresRunStore.open({ url: PG_URL, schema, poolSize: 2 });
    cleanups.push(() => reader.close());
    const completedBefore = await completedSkillSteps(reader, ids);
    const t0 = Date.now();
    const { retriedInFlight } = await expectAllDoneExactlyOnce(reader, s, ids, completedBefore);
    const takeoverMs = Date.now() - t0;
    // Node 2 took over node 1's unfinished runs; node 1 never came back.
    let takenOver = 0;
    for (const id of ids) {
      const nodes = (await reader.listEvents(id))
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
  }, 60_000);
});
