/**
 * What a skill can count on across retries and crashes: `ctx.idempotencyKey` (the step's, stable)
 * and `ctx.attempt` (counted by the journal), and `idempotent: false` making a call at most once.
 * Crashes are real restarts on one SQLite file: node A's store stops answering at a chosen call
 * (as a SIGKILL would leave it) and node B, a fresh runtime on its own handle, recovers.
 */
import { describe, expect, it } from 'vitest';
import type { App } from '../../src/app/index.js';
import { MemoryRunStore, SqliteRunStore, type RunStore } from '../../src/store/index.js';
import {
  buildApp,
  isSkillCompletion,
  keyedExecutions,
  pausingStore,
  recordScript,
  writeKeyedSkills,
  cleanupsAfterEach,
  recoveryEnv,
  type RecoveryEnv,
} from './helpers.js';

const cleanups = cleanupsAfterEach();

type Env = RecoveryEnv;

async function setup(tool: string): Promise<Env> {
  return recoveryEnv(
    cleanups,
    'sp-durability-',
    recordScript({ calls: 1, delayMs: 5, tool }),
    writeKeyedSkills,
  );
}

async function node(env: Env, store: RunStore, nodeId: string): Promise<App> {
  const app = await buildApp({
    dir: env.dir,
    workspace: env.workspace,
    modelUrl: env.server.url,
    store,
    nodeId,
    leaseMs: 600,
    agents: [
      { name: 'keyed', skills: ['test/keyed'] },
      { name: 'once', skills: ['test/keyed-once'] },
    ],
  });
  cleanups.push(() => app.close(0).catch(() => undefined));
  return app;
}

async function openSqlite(path: string): Promise<SqliteRunStore> {
  const s = await SqliteRunStore.open({ path });
  cleanups.push(() => s.close());
  return s;
}

/**
 * Node A runs `agent` on `input` until a store call `at` matches (default: its skill call has run
 * and is about to be journaled as completed), and dies there; node B then opens the same
 * database and recovers the run.
 */
async function crashDuringSkillCall(
  env: Env,
  agent: string,
  input: string,
  at: (method: string, args: unknown[]) => boolean = isSkillCompletion,
) {
  const a = pausingStore(await openSqlite(env.dbPath), at);
  const appA = await node(env, a.store, 'node-a');
  // Torn down before node A closes: a dead node's calls fail instead of hanging its shutdown.
  cleanups.push(() => a.kill());
  const { run } = await appA.runtime.submit({ agent, input });
  await a.paused;
  const storeB = await openSqlite(env.dbPath);
  const inFlight = (await storeB.getSteps(run.id)).find((s) => s.kind === 'skill');
  expect(inFlight).toMatchObject({ attempt: 1 });
  const appB = await node(env, storeB, 'node-b');
  const done = await appB.runtime.wait(run.id, { timeoutMs: 10_000 });
  const steps = await storeB.getSteps(run.id);
  return { run, done, steps, seq: inFlight!.seq };
}

describe('ctx.idempotencyKey and ctx.attempt', () => {
  it('gives a skill re-run after a crash the same idempotency key and the next attempt', async () => {
    const env = await setup('test__keyed');
    const { run, done, steps, seq } = await crashDuringSkillCall(env, 'keyed', 'pay');
    expect(done.status).toBe('completed');
    // Both executions saw the step's key; the journal counted the attempts.
    expect(keyedExecutions(env.sideFile).map((e) => [e.label, e.key, e.attempt])).toEqual([
      ['pay#0', `${run.id}:${seq}`, 1],
      ['pay#0', `${run.id}:${seq}`, 2],
    ]);
    expect(steps.find((s) => s.seq === seq)).toMatchObject({
      status: 'completed',
      attempt: 2,
      output: { recorded: 'pay#0', attempt: 2 },
    });
  }, 30_000);

  it('keeps the key and counts the attempt when a failed call is retried', async () => {
    const env = await setup('test__keyed');
    const app = await node(env, new MemoryRunStore(), 'node-a');
    const { run } = await app.runtime.submit({ agent: 'keyed', input: 'crash' });
    const done = await app.runtime.wait(run.id, { timeoutMs: 10_000 });
    expect(done.status).toBe('completed');
    const step = (await app.runtime.getSteps(run.id)).find((s) => s.kind === 'skill')!;
    expect(step).toMatchObject({ status: 'completed', attempt: 2 });
    expect(keyedExecutions(env.sideFile).map((e) => [e.key, e.attempt])).toEqual([
      [`${run.id}:${step.seq}`, 1],
      [`${run.id}:${step.seq}`, 2],
    ]);
  }, 20_000);
});

describe('idempotent: false', () => {
  it('settles a call in flight at a crash as interrupted instead of running it again', async () => {
    const env = await setup('test__keyed-once');
    const { run, done, steps, seq } = await crashDuringSkillCall(env, 'once', 'charge');
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({
      code: 'interrupted',
      data: { reason: 'not_idempotent', seq, attempt: 1 },
    });
    expect(done.error?.message).toContain('idempotent: false');
    // Ran once, on node A; the step is settled in the journal, not left running.
    expect(keyedExecutions(env.sideFile).map((e) => [e.key, e.attempt])).toEqual([[`${run.id}:${seq}`, 1]]);
    expect(steps.find((s) => s.seq === seq)).toMatchObject({
      status: 'failed',
      attempt: 1,
      error: { code: 'interrupted' },
    });
  }, 30_000);

  it('replays a failed call when its run resumes after a crash, instead of calling it again', async () => {
    const env = await setup('test__keyed-once');
    // The call fails (its process dies: not retried), the model answers, and node A dies just
    // before that answer is journaled.
    const answered = (method: string, args: unknown[]) =>
      method === 'finishStep' && (args[2] as { output?: { content?: unknown } }).output?.content === 'done';
    const { done, steps, seq } = await crashDuringSkillCall(env, 'once', 'crash', answered);
    expect(done.status).toBe('completed');
    expect(keyedExecutions(env.sideFile)).toHaveLength(1);
    expect(steps.find((s) => s.seq === seq)).toMatchObject({
      status: 'failed',
      attempt: 1,
      error: { code: 'skill_crashed' },
    });
    // The answer's model call was in flight: re-issued on node B.
    expect(steps.filter((s) => s.kind === 'model').map((s) => [s.status, s.attempt])).toEqual([
      ['completed', 1],
      ['completed', 2],
    ]);
  }, 30_000);

  it('does not retry a failed call automatically', async () => {
    const env = await setup('test__keyed-once');
    const app = await node(env, new MemoryRunStore(), 'node-a');
    const { run } = await app.runtime.submit({ agent: 'once', input: 'crash' });
    const done = await app.runtime.wait(run.id, { timeoutMs: 10_000 });
    // The failure goes back to the model (which then answers); the skill ran exactly once.
    expect(done.status).toBe('completed');
    expect(keyedExecutions(env.sideFile)).toHaveLength(1);
    const step = (await app.runtime.getSteps(run.id)).find((s) => s.kind === 'skill');
    expect(step).toMatchObject({ status: 'failed', attempt: 1, error: { code: 'skill_crashed' } });
  }, 20_000);
});
