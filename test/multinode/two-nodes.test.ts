/**
 * Two API nodes on one PostgreSQL store: run notifications and cancels cross between them over the
 * run bus (LISTEN/NOTIFY on the store's schema). In-process apps, each with its own pool and a real
 * socket; two-serve-processes.test.ts does the same with real `skillplane serve` processes.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/index.js';
import type { App } from '../../src/app/index.js';
import { PostgresRunStore, type Run } from '../../src/store/index.js';
import { createTestApp, until } from '../../src/testing/index.js';
import { multinodeEnv, pgUrl, post, readStream, types } from './helpers.js';

const env = multinodeEnv('sp_twonodes');
const { cleanups } = env;

interface Node {
  app: App;
  url: string;
}

/** An in-process node: its own pool on the shared schema, its bus from the config, a real socket. */
async function node(id: string): Promise<Node> {
  const { schema } = env;
  const store = await PostgresRunStore.open({ url: pgUrl, schema, poolSize: 4 });
  const app = await createTestApp({
    dir: env.dir,
    modelUrl: env.model.url,
    agents: [{ name: 'assistant' }],
    store,
    config: { store: { driver: 'postgres', url: pgUrl, schema } },
    app: { nodeId: id },
  });
  const api = await buildServer(app.ports, { logger: false, heartbeatMs: 50, defaultMetrics: false });
  await api.listen({ host: '127.0.0.1', port: 0 });
  cleanups.push(async () => {
    await api.close();
    await app.close(0);
    await store.close();
  });
  return { app, url: `http://127.0.0.1:${(api.server.address() as AddressInfo).port}` };
}

describe('two nodes on one PostgreSQL store', () => {
  it('streams a run executing on node A from node B to its end', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    const created = await post(`${a.url}/v1/agents/runs`, { agent: 'assistant', input: 'sleep 800' });
    expect(created.status).toBe(202);
    const { id } = (await created.json()) as { id: string };
    const started = Date.now();
    const stream = await readStream(`${b.url}/v1/agents/runs/${id}/events`, 8_000);
    expect(stream.ended).toBe(true);
    expect(Date.now() - started).toBeLessThan(6_000);
    const seen = types(stream.events);
    expect(seen[0]).toBe('run.created');
    expect(seen.at(-1)).toBe('run.completed');
    // B heard the events written after it connected (the model step ended ~800 ms later).
    expect(seen).toContain('step.completed');
    const run = await env.reader.getRun(id);
    expect(run?.status).toBe('completed');
    expect(b.app.runtime.busHealth()).toMatchObject({ driver: 'postgres', listening: true });
    expect(b.app.runtime.busHealth()?.received).toBeGreaterThan(0);
  }, 15_000);

  it('answers ?wait on node B promptly for a run node A executes (an idempotent replay)', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    const key = { 'idempotency-key': `k-${randomBytes(4).toString('hex')}` };
    const body = { agent: 'assistant', input: 'sleep 800' };
    const first = await post(`${a.url}/v1/agents/runs`, body, key);
    expect(first.status).toBe(202);
    const { id } = (await first.json()) as { id: string };
    const started = Date.now();
    const replay = await post(`${b.url}/v1/agents/runs?wait=20`, body, key);
    expect(replay.status).toBe(200);
    const run = (await replay.json()) as { id: string; status: string };
    expect(run).toMatchObject({ id, status: 'completed' });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect((await env.reader.getRun(id))?.owner).toBeNull();
  }, 15_000);

  it('cancels through node B a run node A executes: A aborts its model request and settles it', async () => {
    const a = await node('node-a');
    const b = await node('node-b');
    const before = env.model.requests.length;
    const created = await post(`${a.url}/v1/agents/runs`, { agent: 'assistant', input: 'sleep 30000' });
    const { id } = (await created.json()) as { id: string };
    await until(() => env.model.requests.length > before, 5_000, "node A's model request");
    const started = Date.now();
    const res = await post(`${b.url}/v1/agents/runs/${id}/cancel`, {});
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ id, status: 'cancelled' });
    // Well within the 5 s B would wait before settling it itself: the owner did.
    expect(Date.now() - started).toBeLessThan(4_000);
    // A's execution stopped at once: its model request was aborted (with B settling the run
    // itself, A would only notice at its next lease renewal, ~10 s later).
    await until(() => env.model.requests[before]?.aborted === true, 3_000, "A's model request to be aborted");
    await until(() => a.app.runtime.activeRuns === 0, 3_000, 'node A to let go of the run');
    const events = await env.reader.listEvents(id);
    expect(events.filter((e) => e.type === 'run.cancelled')).toHaveLength(1);
    expect(events.at(-1)?.type).toBe('run.cancelled');
    // One cancel, one audit entry: the owner's cancel does not audit it again.
    await until(
      async () => (await env.reader.listAudit({ action: 'run.cancel', target: id })).entries.length === 1,
      2_000,
      'the cancel audit entry',
    );
    expect((await env.reader.listAudit({ action: 'run.cancel', target: id })).entries).toHaveLength(1);
  }, 15_000);

  it('settles the run itself when the owner is dead (its lease expired) or does not answer', async () => {
    const b = await node('node-b');
    const seed = async (leaseMs: number): Promise<Run> =>
      (
        await env.reader.createRun(
          {
            id: `run_${randomBytes(8).toString('hex')}`,
            agent: 'assistant',
            strategy: 'single',
            input: { agent: 'assistant', input: 'x' },
            status: 'running',
            owner: 'node-gone',
            lease_expires_at: new Date(Date.now() + leaseMs).toISOString(),
          },
          {
            event: {
              type: 'run.created',
              data: { agent: 'assistant', strategy: 'single', priority: 'normal' },
            },
          },
        )
      ).run;
    const dead = await seed(-60_000);
    let started = Date.now();
    expect(await b.app.runtime.cancel(dead.id, 'ops')).toMatchObject({ status: 'cancelled' });
    expect(Date.now() - started).toBeLessThan(1_000);
    // A live lease but nobody answers the bus: B waits its bound (5 s), then settles the run.
    const silent = await seed(60_000);
    started = Date.now();
    expect(await b.app.runtime.cancel(silent.id, 'ops')).toMatchObject({ status: 'cancelled' });
    expect(Date.now() - started).toBeGreaterThanOrEqual(4_900);
  }, 15_000);
});
