/**
 * `skillplane run` executes in-process on the configured store. In a folder whose store a crashed
 * server used, it must run only its own run: never claim, resume or settle the server's runs (a
 * `running` one whose lease expired, `queued` ones). Through the real CLI (`node --import tsx
 * src/cli/main.ts run …`); the same store seeded the same way is then taken over by a normal node,
 * which shows the seeded runs were claimable all along.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteRunStore, type Run, type RunStore } from '../../src/store/index.js';
import { startScriptedModelServer } from '../../src/testing/index.js';
import { buildApp, executions, recordScript, seedRun, tamperRun, until, writeTestSkills } from './helpers.js';

const ROOT = resolve(import.meta.dirname, '../..');
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** Runs the CLI to its exit; resolves with the exit code and what it printed. */
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done, reject) => {
    const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    proc.once('error', reject);
    proc.once('exit', (code) => done({ code, stdout, stderr }));
    cleanups.push(() => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
    });
  });
}

/** What a run looks like to an observer: status, owner, lease, events and steps. */
async function footprint(store: RunStore, id: string) {
  const run = (await store.getRun(id))!;
  return {
    status: run.status,
    owner: run.owner,
    lease_expires_at: run.lease_expires_at,
    updated_at: run.updated_at,
    events: (await store.listEvents(id)).map((e) => e.type),
    steps: (await store.getSteps(id)).length,
  };
}

describe('skillplane run (in-process) on a store a crashed server used', () => {
  it("runs only its own run and leaves the server's running and queued runs untouched", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sp-cli-run-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const { sideFile, workspace } = writeTestSkills(dir);
    const server = await startScriptedModelServer({
      script: recordScript({ calls: 1, delayMs: 5 }),
      model: 'test-model',
    });
    cleanups.push(() => server.close());
    mkdirSync(join(dir, 'data'));
    const dbPath = join(dir, 'data', 'runs.db');
    const configFile = join(dir, 'skillplane.yaml');
    const agents = [{ name: 'worker', instructions: 'test', skills: ['test/record'] }];
    writeFileSync(
      configFile,
      JSON.stringify({
        // A fixed node id, as a server's config may have: the CLI must not pass for that server.
        server: { node_id: 'crashed-server' },
        store: { driver: 'sqlite', path: dbPath, lease_sec: 1 },
        models: { default: { base_url: server.url, model: 'test-model', max_retries: 0 } },
        skills: { directories: [join(dir, 'skills')], allowed_roots: [workspace], watch: false },
        agents: { directories: [], definitions: agents },
      }),
    );

    // The crashed server's runs: one running (lease expired long ago), two queued (one owned by
    // it with an expired lease, one never claimed).
    const store = await SqliteRunStore.open({ path: dbPath });
    cleanups.push(() => store.close());
    const seeder = await buildApp({
      dir,
      workspace,
      modelUrl: server.url,
      store,
      agents,
      nodeId: 'seeder',
      start: false,
    });
    const request = (text: string) => seeder.runtime.parseRequest({ agent: 'worker', input: text });
    const past = new Date(Date.now() - 3_600_000).toISOString();
    const dead = { owner: 'crashed-server', lease_expires_at: past };
    const running = await seedRun(store, {
      agent: 'worker',
      strategy: 'single',
      input: request('left running'),
      ...dead,
    });
    const startedAt = new Date(Date.now() - 5_000).toISOString();
    await tamperRun(store, running.id, { status: 'running', started_at: startedAt }, 'crashed-server');
    const queued = await seedRun(store, {
      agent: 'worker',
      strategy: 'single',
      input: request('queued'),
      ...dead,
    });
    const unowned = await seedRun(store, { agent: 'worker', strategy: 'single', input: request('unowned') });
    await seeder.close(0);
    const seeded = [running.id, queued.id, unowned.id];
    const before = await Promise.all(seeded.map((id) => footprint(store, id)));

    const res = await cli(['--config', configFile, 'run', 'worker', '-i', 'mine', '--json']);
    expect(res.code, res.stderr).toBe(0);
    const own = JSON.parse(res.stdout) as { run: Run };
    expect(own.run).toMatchObject({ status: 'completed', owner: null });
    expect(seeded).not.toContain(own.run.id);
    // Its own node id, not the server's configured one.
    const started = (await store.listEvents(own.run.id)).find((e) => e.type === 'run.started');
    expect((started?.data as { node: string }).node).toMatch(/^cli-[0-9a-f]{12}$/);
    // The server's runs: not a write, not a step, not a skill call.
    expect(await Promise.all(seeded.map((id) => footprint(store, id)))).toEqual(before);
    expect(executions(sideFile).map((e) => e.run)).toEqual([own.run.id]);

    // A normal node (what `serve` starts) takes them over: they were claimable all along.
    const node = await buildApp({
      dir,
      workspace,
      modelUrl: server.url,
      store,
      agents,
      nodeId: 'node-2',
      leaseMs: 1_000,
    });
    cleanups.push(() => node.close(0));
    const settled = async () => {
      const runs = await Promise.all(seeded.map((id) => store.getRun(id)));
      return runs.every((r) => r !== undefined && r.status !== 'queued' && r.status !== 'running')
        ? runs
        : undefined;
    };
    const after = await until(settled, 15_000, 'a normal node to take the seeded runs over');
    expect(after?.map((r) => r?.status)).toEqual(['completed', 'completed', 'completed']);
  }, 60_000);
});
