import { describe, expect, it } from 'vitest';
import type { App } from '../../src/app/index.js';
import { isStoreOutage, LeaseLostError } from '../../src/agents/recovery.js';
import { SkillplaneError } from '../../src/errors/index.js';
import { mapPgError } from '../../src/store/postgres/errors.js';
import { mapSqliteError } from '../../src/store/sqlite/errors.js';
import { MemoryRunStore, SqliteRunStore, type RunStore } from '../../src/store/index.js';
import {
  allRuns,
  buildApp,
  checkExactlyOnce,
  crashSnapshot,
  crashableStore,
  executions,
  recordScript,
  seedRun,
  tamperRun,
  until,
  writeSlowDangerSkill,
  cleanupsAfterEach,
  recoveryEnv,
  type RecoveryEnv,
} from './helpers.js';

/** Everything a test opened, torn down after it. */
const cleanups = cleanupsAfterEach();

type Env = RecoveryEnv;

async function setup(script = recordScript({ calls: 3, delayMs: 15 })): Promise<Env> {
  return recoveryEnv(cleanups, 'sp-recovery-', script, writeSlowDangerSkill);
}

async function openSqlite(path: string): Promise<SqliteRunStore> {
  const s = await SqliteRunStore.open({ path });
  cleanups.push(() => s.close());
  return s;
}

/** Starts a node on its own store handle; `crash()` freezes it mid-flight like a SIGKILL would. */
async function startNode(
  env: Env,
  store: RunStore,
  nodeId: string,
  extra: Partial<Parameters<typeof buildApp>[0]> = {},
): Promise<{ app: App; crash(): void; partition(): void; heal(): void }> {
  const c = crashableStore(store);
  const app = await buildApp({
    dir: env.dir,
    workspace: env.workspace,
    modelUrl: env.server.url,
    store: c.store,
    nodeId,
    agents: [
      { name: 'worker', skills: ['test/record'] },
      { name: 'ops', skills: ['test/danger'] },
      { name: 'risky', skills: ['test/slowdanger'] },
    ],
    leaseMs: 600,
    ...extra,
  });
  let crashed = false;
  cleanups.push(async () => {
    if (crashed) c.kill();
    await app.close(0).catch(() => undefined);
  });
  return {
    app,
    crash() {
      crashed = true;
      c.freeze();
    },
    partition: () => c.kill(),
    heal: () => c.heal(),
  };
}

describe('restart recovery (SQLite, in process)', () => {
  it('resumes every run from its journal after a crash, never re-running a completed step', async () => {
    const env = await setup();
    const a = await startNode(env, await openSqlite(env.dbPath), 'node-a');
    const ids: string[] = [];
    for (let i = 0; i < 12; i++) {
      const { run } = await a.app.runtime.submit({ agent: 'worker', input: `job${i}` });
      ids.push(run.id);
    }
    // Crash with a third to two thirds of the 36 skill executions done.
    await until(() => executions(env.sideFile).length >= 12, 10_000, 'executions before the crash');
    a.crash();
    const storeB = await openSqlite(env.dbPath);
    const completedBefore = await crashSnapshot(storeB, ids, env.sideFile);
    const unfinished = (await allRuns(storeB)).filter((r) => r.status !== 'completed').map((r) => r.id);
    expect(unfinished.length).toBeGreaterThan(0);
    const b = await startNode(env, storeB, 'node-b', { start: false });
    // Node A's leases are still live: node B resumes the runs only once they expire.
    const t0 = Date.now();
    await b.app.runtime.start();
    await until(
      async () => (await allRuns(storeB)).every((r) => r.status === 'completed'),
      15_000,
      'every run to complete on node B',
    );
    const runs = await allRuns(storeB);
    expect(runs.map((r) => r.id).sort()).toEqual([...ids].sort());
    expect(runs.every((r) => r.owner === null)).toBe(true);
    const check = await checkExactlyOnce(storeB, ids, env.sideFile, completedBefore);
    expect(check.problems).toEqual([]);
    expect(check.skillSteps).toBe(36);
    expect(completedBefore.completed.size).toBeGreaterThan(0);
    // Every run the crash left unfinished was last resumed by node B, which did the rest (node A
    // may have resumed its own runs before the crash, after a lease renewal came too late).
    const lastPickup = await Promise.all(
      unfinished.map(async (id) => {
        const picks = (await storeB.listEvents(id)).filter(
          (e) => e.type === 'run.started' || e.type === 'run.resumed',
        );
        return (picks.at(-1)?.data as { node?: string } | undefined)?.node;
      }),
    );
    expect(lastPickup).toEqual(unfinished.map(() => 'node-b'));
    expect(Date.now() - t0).toBeLessThan(15_000);
  }, 30_000);

  it('retries a model step that was in flight at the crash', async () => {
    // A slow model: the crash always hits the first model call.
    const env = await setup(recordScript({ calls: 1, delayMs: 400 }));
    const a = await startNode(env, await openSqlite(env.dbPath), 'node-a');
    const { run } = await a.app.runtime.submit({ agent: 'worker', input: 'slowmodel' });
    await until(() => env.server.requests.length >= 1, 5_000, 'the first model request');
    a.crash();
    const storeB = await openSqlite(env.dbPath);
    const before = await storeB.getSteps(run.id);
    expect(before.map((s) => [s.kind, s.status])).toEqual([['model', 'running']]);
    const b = await startNode(env, storeB, 'node-b');
    const done = await b.app.runtime.wait(run.id, { timeoutMs: 10_000 });
    expect(done.status).toBe('completed');
    const steps = await storeB.getSteps(run.id);
    expect(steps[0]).toMatchObject({ kind: 'model', status: 'completed', attempt: 2 });
    expect(executions(env.sideFile)).toHaveLength(1);
  }, 20_000);

  it('fails a run with interrupted when a risk-tagged skill was in flight, without running it again', async () => {
    const env = await setup(recordScript({ calls: 1, delayMs: 5, tool: 'test__slowdanger' }));
    const noApproval = { skills: { require_approval_tags: [] } };
    const a = await startNode(env, await openSqlite(env.dbPath), 'node-a', { config: noApproval });
    const { run } = await a.app.runtime.submit({ agent: 'risky', input: 'wipe' });
    await until(() => executions(env.sideFile).length === 1, 10_000, 'the risky skill to start');
    a.crash();
    const storeB = await openSqlite(env.dbPath);
    const b = await startNode(env, storeB, 'node-b', { config: noApproval });
    const done = await b.app.runtime.wait(run.id, { timeoutMs: 10_000 });
    expect(done.status).toBe('failed');
    expect(done.error?.code).toBe('interrupted');
    expect(executions(env.sideFile)).toHaveLength(1);
    // The interrupted step is settled too: nothing stays running.
    const steps = await storeB.getSteps(run.id);
    expect(steps.map((s) => [s.kind, s.status, s.error?.code ?? null])).toEqual([
      ['model', 'completed', null],
      ['skill', 'failed', 'interrupted'],
    ]);
    expect(done.error?.data).toMatchObject({ reason: 'risk_tagged', attempt: 1 });
  }, 20_000);

  it('keeps a waiting_approval run waiting across a restart and resumes it once approved', async () => {
    const env = await setup(recordScript({ calls: 1, delayMs: 5, tool: 'test__danger' }));
    const a = await startNode(env, await openSqlite(env.dbPath), 'node-a');
    const { run } = await a.app.runtime.submit({ agent: 'ops', input: 'dangerous' });
    const waiting = await a.app.runtime.wait(run.id, { timeoutMs: 5_000 });
    expect(waiting.status).toBe('waiting_approval');
    a.crash();
    const storeB = await openSqlite(env.dbPath);
    const b = await startNode(env, storeB, 'node-b');
    // Nothing to resume: reclaim passes (run here, not waited for) claim nothing, and the run
    // still waits.
    for (let i = 0; i < 3; i++) expect(await b.app.runtime.recovery.reclaim()).toBe(0);
    const still = await storeB.getRun(run.id);
    expect(still).toMatchObject({ status: 'waiting_approval', owner: null });
    const [approval] = await b.app.runtime.listApprovals({ run_id: run.id, status: 'pending' });
    expect(approval).toBeDefined();
    await b.app.runtime.decide(approval!.id, { approve: true, principal: 'alice' });
    const done = await b.app.runtime.wait(run.id, { timeoutMs: 10_000 });
    expect(done.status).toBe('completed');
    expect(executions(env.sideFile).map((e) => e.label)).toEqual(['dangerous#0']);
  }, 20_000);

  it('returns the same run for an idempotency key used again after a restart', async () => {
    const env = await setup();
    const a = await startNode(env, await openSqlite(env.dbPath), 'node-a');
    const first = await a.app.runtime.submit({ agent: 'worker', input: 'once' }, { idempotencyKey: 'key-1' });
    a.crash();
    const storeB = await openSqlite(env.dbPath);
    const b = await startNode(env, storeB, 'node-b');
    const again = await b.app.runtime.submit({ agent: 'worker', input: 'once' }, { idempotencyKey: 'key-1' });
    expect(again.created).toBe(false);
    expect(again.run.id).toBe(first.run.id);
    await expect(
      b.app.runtime.submit({ agent: 'worker', input: 'other' }, { idempotencyKey: 'key-1' }),
    ).rejects.toMatchObject({ code: 'idempotency_conflict' });
    const done = await b.app.runtime.wait(first.run.id, { timeoutMs: 10_000 });
    expect(done.status).toBe('completed');
    expect((await allRuns(storeB)).length).toBe(1);
  }, 20_000);

  it('prunes finished runs older than store.retention_days at start, keeping the rest', async () => {
    const env = await setup();
    const store = await openSqlite(env.dbPath);
    const old = new Date(Date.now() - 3 * 86_400_000).toISOString();
    const mk = async (agent: string, finish: 'old' | 'new' | null) => {
      const run = await seedRun(store, { agent, strategy: 'single', input: {} });
      if (finish !== null) {
        await tamperRun(store, run.id, {
          status: 'completed',
          finished_at: finish === 'old' ? old : new Date().toISOString(),
        });
      }
      return run.id;
    };
    const oldDone = await mk('x', 'old');
    const newDone = await mk('x', 'new');
    await seedRun(store, { agent: 'x', strategy: 'single', input: {}, status: 'waiting_approval' });
    await startNode(env, store, 'node-a', { config: { store: { retention_days: 2 } } });
    await until(async () => (await store.getRun(oldDone)) === undefined, 5_000, 'the old run to be pruned');
    expect(await store.getRun(newDone)).toBeDefined();
    expect((await allRuns(store)).map((r) => r.status).sort()).toEqual(['completed', 'waiting_approval']);
  });
});

describe('run ownership', () => {
  it('abandons a run locally, without settling it, when its lease is not renewed', async () => {
    const env = await setup(() => ({ content: 'slow', delay_ms: 5_000 }));
    const store = new MemoryRunStore();
    const a = await startNode(env, store, 'node-a', { leaseMs: 600 });
    const { run } = await a.app.runtime.submit({ agent: 'worker', input: 'x' });
    await until(() => env.server.requests.length >= 1, 5_000, 'the model request');
    // Another node took the run over (as after an expired lease).
    await tamperRun(store, run.id, { owner: 'node-b' }, 'node-b');
    await until(() => a.app.runtime.activeRuns === 0, 3_000, 'node A to drop the run');
    // The model server sees the abort a moment later; a request that ran to its end never counts.
    await until(() => env.server.requests[0]!.aborted, 2_000, 'the model request to be aborted');
    const after = await store.getRun(run.id);
    expect(after).toMatchObject({ status: 'running', owner: 'node-b', error: null });
    const types = (await store.listEvents(run.id)).map((e) => e.type);
    expect(types).not.toContain('run.failed');
    expect(types).not.toContain('run.cancelled');
  });

  it('owns a new run from creation, so another node does not claim it from the queue', async () => {
    const env = await setup(() => ({ content: 'slow', delay_ms: 800 }));
    const store = new MemoryRunStore();
    const a = await startNode(env, store, 'node-a', {
      config: { agents: { max_parallel_agents: 1 } },
    });
    const first = await a.app.runtime.submit({ agent: 'worker', input: 'one' });
    await until(() => env.server.requests.length >= 1, 5_000, 'the first run to call the model');
    const queued = await a.app.runtime.submit({ agent: 'worker', input: 'two' });
    // The second run waits for the only slot, and is node A's from the moment it was stored: a
    // claim by another node finds nothing to take (with the owner set later, it would take it).
    expect(await store.getRun(queued.run.id)).toMatchObject({ status: 'queued', owner: 'node-a' });
    expect(
      await store.claimRuns('node-b', { statuses: ['queued', 'running'], leaseMs: 600, limit: 10 }),
    ).toEqual([]);
    expect((await store.getRun(queued.run.id))?.status).toBe('queued');
    for (const id of [first.run.id, queued.run.id]) {
      expect((await a.app.runtime.wait(id, { timeoutMs: 5_000 })).status).toBe('completed');
    }
  });

  it('releases queued runs at a graceful shutdown so the next node takes them at once', async () => {
    const env = await setup(() => ({ content: 'slow', delay_ms: 300 }));
    const store = new MemoryRunStore();
    const a = await startNode(env, store, 'node-a', { config: { agents: { max_parallel_agents: 1 } } });
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await a.app.runtime.submit({ agent: 'worker', input: `r${i}` })).run.id);
    await a.app.close(0);
    const runs = await Promise.all(ids.map((id) => store.getRun(id)));
    expect(runs.every((r) => r!.owner === null && r!.status !== 'completed')).toBe(true);
    const b = await startNode(env, store, 'node-b');
    for (const id of ids)
      expect((await b.app.runtime.wait(id, { timeoutMs: 5_000 })).status).toBe('completed');
  });

  it('abandons its runs while the store is unreachable and finishes them itself once it is back', async () => {
    const env = await setup(recordScript({ calls: 3, delayMs: 60 }));
    const store = new MemoryRunStore();
    const a = await startNode(env, store, 'node-a', { leaseMs: 600 });
    const ids: string[] = [];
    for (let i = 0; i < 6; i++)
      ids.push((await a.app.runtime.submit({ agent: 'worker', input: `p${i}` })).run.id);
    await until(() => executions(env.sideFile).length >= 4, 5_000, 'some executions');
    a.partition();
    // Renewals fail: every run is abandoned locally (not settled) before its lease runs out.
    await until(() => a.app.runtime.activeRuns === 0, 3_000, 'the runs to be abandoned');
    const completedBefore = await crashSnapshot(store, ids, env.sideFile);
    expect((await allRuns(store)).every((r) => r.status === 'running' || r.status === 'queued')).toBe(true);
    a.heal();
    // The reclaim loop takes them back once their leases expire; nothing committed was lost.
    for (const id of ids)
      expect((await a.app.runtime.wait(id, { timeoutMs: 10_000 })).status).toBe('completed');
    const check = await checkExactlyOnce(store, ids, env.sideFile, completedBefore);
    expect(check.problems).toEqual([]);
    expect(check.skillSteps).toBe(18);
  }, 20_000);

  it('tells a store outage (connection lost, disk full) from an error of the run', () => {
    // The drivers map their own codes to ours; recovery reads only ours.
    const full = mapSqliteError(
      Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }),
    );
    expect(full.code).toBe('store_full');
    expect(isStoreOutage(full)).toBe(true);
    expect(isStoreOutage(new SkillplaneError('store_unavailable', 'PostgreSQL is unreachable'))).toBe(true);
    expect(isStoreOutage(new SkillplaneError('step_failed', 'wrapped', { cause: full }))).toBe(true);
    const tooMany = mapPgError(
      Object.assign(new Error('sorry, too many clients already'), { code: '53300' }),
    );
    expect(tooMany.code).toBe('store_unavailable');
    expect(isStoreOutage(tooMany)).toBe(true);
    // A raw driver error that escaped its driver is not taken for an outage.
    expect(isStoreOutage(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }))).toBe(
      false,
    );
    expect(isStoreOutage(new SkillplaneError('model_error', 'bad request'))).toBe(false);
    expect(isStoreOutage('nope')).toBe(false);
  });

  it('names the reason of an abandoned run', () => {
    const e = new LeaseLostError('run_1', 'expired');
    expect(e.code).toBe('lease_lost');
    expect(e.data).toMatchObject({ run_id: 'run_1', reason: 'expired' });
  });
});
