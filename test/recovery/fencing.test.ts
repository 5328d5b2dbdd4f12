/**
 * A node whose store calls stall past its lease (a long pause, a slow partition) comes back after
 * another node took its run over: its late journal writes must be refused (`not_owner`), so a step
 * the new owner is re-running is not recorded as completed by the old one (which would let the new
 * owner's execution of an already "completed" step happen, and fail its run). Same on SQLite and
 * PostgreSQL.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { PostgresRunStore, SqliteRunStore, type RunStore } from '../../src/store/index.js';
import { startScriptedModelServer } from '../../src/testing/index.js';
import {
  buildApp,
  isSkillCompletion,
  keyedExecutions,
  pausingStore,
  recordScript,
  until,
  writeKeyedSkills,
  writeTestSkills,
} from './helpers.js';

const PG_URL = process.env.SKILLPLANE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schemas: string[] = [];
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});
afterAll(async () => {
  if (schemas.length === 0) return;
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await c.end();
});

/** Opens one store handle per node on a shared database. */
type Opener = (dir: string) => Promise<RunStore>;

const drivers: [string, () => Opener][] = [
  ['SQLite', () => async (dir) => SqliteRunStore.open({ path: join(dir, 'runs.db') })],
  [
    'PostgreSQL',
    () => {
      const schema = `sp_fence_${randomBytes(5).toString('hex')}`;
      schemas.push(schema);
      return () => PostgresRunStore.open({ url: PG_URL, schema, poolSize: 2 });
    },
  ],
];

describe.each(drivers)('lease fencing of journal writes (%s)', (_name, opener) => {
  it("refuses a stalled node's late step writes once another node owns the run", async () => {
    const open = opener();
    const dir = mkdtempSync(join(tmpdir(), 'sp-fence-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const { sideFile, workspace } = writeTestSkills(dir);
    writeKeyedSkills(dir, workspace);
    const server = await startScriptedModelServer({
      script: recordScript({ calls: 1, delayMs: 5, tool: 'test__keyed' }),
      model: 'test-model',
    });
    cleanups.push(() => server.close());
    const node = async (id: string, store: RunStore) => {
      const app = await buildApp({
        dir,
        workspace,
        modelUrl: server.url,
        store,
        nodeId: id,
        leaseMs: 1_000,
        agents: [{ name: 'keyed', skills: ['test/keyed'] }],
      });
      cleanups.push(() => app.close(0).catch(() => undefined));
      return app;
    };
    const innerA = await open(dir);
    cleanups.push(() => innerA.close());
    const a = pausingStore(innerA, isSkillCompletion);
    const appA = await node('node-a', a.store);
    cleanups.push(() => a.kill());
    const reader = await open(dir);
    cleanups.push(() => reader.close());

    // Node A's skill call has run; its "completed" write (and everything after it) stalls.
    const { run } = await appA.runtime.submit({ agent: 'keyed', input: 'gate' });
    await a.paused;
    // Node B claims the run once A's lease has expired, and re-runs the step in flight (attempt 2,
    // held by the skill until the gate opens).
    const innerB = await open(dir);
    cleanups.push(() => innerB.close());
    await node('node-b', innerB);
    await until(
      () => keyedExecutions(sideFile).some((e) => e.attempt === 2),
      15_000,
      "node B's re-run of the step",
    );
    const seq = (await reader.getSteps(run.id)).find((s) => s.kind === 'skill')!.seq;
    expect(await reader.getRun(run.id)).toMatchObject({ owner: 'node-b', status: 'running' });

    // A's stalled writes arrive now, while B's attempt runs: refused, the journal is B's.
    await a.release();
    expect((await reader.getSteps(run.id)).find((s) => s.seq === seq)).toMatchObject({
      status: 'running',
      attempt: 2,
    });

    writeFileSync(join(workspace, 'gate'), 'open');
    await until(
      async () => (await reader.getRun(run.id))?.status === 'completed',
      15_000,
      'the run to complete on node B',
    );
    expect((await reader.getSteps(run.id)).find((s) => s.seq === seq)).toMatchObject({
      status: 'completed',
      attempt: 2,
      output: { recorded: 'gate#0', attempt: 2 },
    });
    // Started on A, resumed on B; only B journaled the step's outcome.
    const events = await reader.listEvents(run.id);
    expect(
      events
        .filter((e) => e.type === 'run.started' || e.type === 'run.resumed')
        .map((e) => (e.data as { node: string }).node),
    ).toEqual(['node-a', 'node-b']);
    expect(
      events.filter((e) => e.type === 'step.completed' && (e.data as { seq?: number }).seq === seq),
    ).toHaveLength(1);
  }, 40_000);
});
