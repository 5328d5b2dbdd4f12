import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import type { App } from '../../src/app/index.js';
import { PostgresRunStore, type RunStore } from '../../src/store/index.js';
import { startScriptedModelServer, type Script, type ScriptedModelServer } from '../../src/testing/index.js';
import {
  allRuns,
  buildApp,
  checkExactlyOnce,
  crashSnapshot,
  crashableStore,
  executions,
  recordingStore,
  recordScript,
  stepOverlaps,
  until,
  writeTestSkills,
  type StepCall,
} from './helpers.js';

// No skip when PostgreSQL is down: these tests must fail then.
const url = process.env.SKILLPLANE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const base = `sp_recovery_${randomBytes(5).toString('hex')}`;
const schemas: string[] = [];

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await c.end();
});

interface Cluster {
  dir: string;
  sideFile: string;
  server: ScriptedModelServer;
  log: StepCall[];
  /** A store handle for the test's own reads. */
  reader: RunStore;
  node(
    id: string,
    opts?: { leaseMs?: number; maxParallel?: number },
  ): Promise<{ app: App; partition(): void }>;
}

/** Nodes on one fresh PostgreSQL schema, each with its own pool, sharing skills and a model server. */
async function cluster(script: Script): Promise<Cluster> {
  const schema = `${base}_${schemas.length}`;
  schemas.push(schema);
  const dir = mkdtempSync(join(tmpdir(), 'sp-multinode-'));
  const { sideFile, workspace } = writeTestSkills(dir);
  const server = await startScriptedModelServer({ script, model: 'test-model' });
  const reader = await PostgresRunStore.open({ url, schema, poolSize: 2 });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => server.close());
  cleanups.push(() => reader.close());
  const log: StepCall[] = [];
  return {
    dir,
    sideFile,
    server,
    log,
    reader,
    async node(id, opts = {}) {
      const pgStore = await PostgresRunStore.open({ url, schema, poolSize: 4 });
      const c = crashableStore(pgStore);
      // Logged outside the crash switch, so the calls a partitioned node still attempts are seen.
      const store = recordingStore(c.store, id, log);
      const app = await buildApp({
        dir,
        workspace,
        modelUrl: server.url,
        store,
        nodeId: id,
        leaseMs: opts.leaseMs ?? 1_000,
        agents: [{ name: 'worker', skills: ['test/record'] }],
        config: { agents: { max_parallel_agents: opts.maxParallel ?? 8 } },
      });
      cleanups.push(async () => {
        c.kill();
        await app.close(0).catch(() => undefined);
        await pgStore.close();
      });
      return {
        app,
        // The node loses its database: every store call fails from now on (renewals included).
        partition: () => c.kill(),
      };
    },
  };
}

async function nodesOf(store: RunStore, runId: string): Promise<string[]> {
  return (await store.listEvents(runId))
    .filter((e) => e.type === 'run.started' || e.type === 'run.resumed')
    .map((e) => (e.data as { node: string }).node);
}

describe('several nodes on PostgreSQL', () => {
  it('a node that loses the database is replaced after its lease expires, every step exactly once', async () => {
    const c = await cluster(recordScript({ calls: 3, delayMs: 30 }));
    // A 2 s lease leaves slack for slow renewals on a loaded machine (a node that cannot renew in
    // time fences its own runs and reclaims them, which would count as a second pickup).
    const a = await c.node('node-a', { maxParallel: 6, leaseMs: 2_000 });
    await c.node('node-b', { leaseMs: 2_000 });
    const ids: string[] = [];
    for (let i = 0; i < 24; i++)
      ids.push((await a.app.runtime.submit({ agent: 'worker', input: `j${i}` })).run.id);
    // B's reclaim loop runs meanwhile but never takes A's queued runs: A owns them from creation.
    await until(() => executions(c.sideFile).length >= 24, 15_000, 'a third of the executions');
    for (const id of ids) expect(await nodesOf(c.reader, id)).not.toContain('node-b');
    a.partition();
    const completedBefore = await crashSnapshot(c.reader, ids, c.sideFile);
    await until(
      async () => (await allRuns(c.reader)).every((r) => r.status === 'completed'),
      20_000,
      'every run to complete',
    );
    const runs = await allRuns(c.reader);
    expect(runs).toHaveLength(24);
    expect(runs.every((r) => r.owner === null && r.lease_expires_at === null)).toBe(true);
    const check = await checkExactlyOnce(c.reader, ids, c.sideFile, completedBefore);
    expect(check.problems).toEqual([]);
    expect(check.skillSteps).toBe(72);
    // Each run A had not finished went to B for good: A never came back. (B may pick a run up
    // again itself when one of its own renewals came too late on a loaded machine: it fenced the
    // run first, so that is a second pickup, not a second owner.)
    let takenOver = 0;
    for (const id of ids) {
      const nodes = await nodesOf(c.reader, id);
      const firstB = nodes.indexOf('node-b');
      if (firstB === -1) continue;
      expect(nodes.slice(firstB), `${id}: ${nodes.join(',')}`).toEqual(
        nodes.slice(firstB).map(() => 'node-b'),
      );
      takenOver++;
    }
    expect(takenOver).toBeGreaterThan(0);
    expect(stepOverlaps(c.log)).toEqual([]);
    expect(c.log.some((e) => e.node === 'node-b' && e.op === 'begin')).toBe(true);
  }, 40_000);

  it('a partitioned node aborts its steps before its lease expires, so two nodes never run a step at once', async () => {
    // Model steps (2.5 s) far longer than the lease (1 s): without the fence node A would still be
    // in its first step when node B begins it again.
    const c = await cluster(() => ({ content: 'done', delay_ms: 2_500 }));
    const a = await c.node('node-a');
    const b = await c.node('node-b');
    const ids: string[] = [];
    for (let i = 0; i < 4; i++)
      ids.push((await a.app.runtime.submit({ agent: 'worker', input: `p${i}` })).run.id);
    await until(() => c.server.requests.length >= 4, 5_000, 'four model requests in flight');
    a.partition();
    await until(() => a.app.runtime.activeRuns === 0, 3_000, 'node A to abandon its runs');
    // Node A's model requests were aborted (the model server sees each close a moment later): a
    // request that ran to its 2.5 s end instead never counts as aborted and fails this wait.
    await until(
      () => c.server.requests.slice(0, 4).every((r) => r.aborted),
      2_000,
      "the model server to see node A's requests aborted",
    );
    const done = await Promise.all(ids.map((id) => b.app.runtime.wait(id, { timeoutMs: 10_000 })));
    expect(done.map((r) => r.status)).toEqual(['completed', 'completed', 'completed', 'completed']);
    for (const id of ids) {
      expect(await nodesOf(c.reader, id)).toEqual(['node-a', 'node-b']);
      const [step] = await c.reader.getSteps(id);
      expect(step).toMatchObject({ kind: 'model', status: 'completed', attempt: 2 });
    }
    expect(stepOverlaps(c.log)).toEqual([]);
    expect(c.log.filter((e) => e.node === 'node-a' && e.op === 'finish' && !e.ok)).toHaveLength(4);
  }, 30_000);
});
