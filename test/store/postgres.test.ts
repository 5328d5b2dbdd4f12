import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresRunStore, openRunStore, type RunStore } from '../../src/store/index.js';
import { FakeClock, until } from '../../src/testing/index.js';
import { expectCode, runStoreConformance, type FaultCase } from './conformance.js';
import { create, ev } from './conformance/helpers.js';
import { expectV2FixtureWorks } from './conformance/fixture.js';

const url = process.env.SKILLPLANE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const base = `sp_test_${randomBytes(6).toString('hex')}`;
const schemas: string[] = [];
const nextSchema = (): string => {
  const s = `${base}_${schemas.length}`;
  schemas.push(s);
  return s;
};
const opened: RunStore[] = [];

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

afterAll(async () => {
  for (const s of opened) await s.close();
  await admin(async (c) => {
    for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  });
});

const faults: FaultCase[] = [
  {
    name: 'a backend terminated mid-transaction',
    code: 'store_unavailable',
    causeCode: '57P01',
    provoke: async ({ clock }) => {
      const app = `sp_fault_${randomBytes(4).toString('hex')}`;
      const schema = nextSchema();
      const store = await PostgresRunStore.open({ url, schema, clock, retries: 1, applicationName: app });
      opened.push(store);
      const { run } = await create(store);
      // Hold the run's row so the store's transaction is mid-flight when its backend dies.
      const locker = new pg.Client({ connectionString: url });
      await locker.connect();
      await locker.query('BEGIN');
      await locker.query(`SELECT 1 FROM "${schema}".runs WHERE id = $1 FOR UPDATE`, [run.id]);
      const call = store.appendEvent(run.id, ev.started());
      // Handled from the start: the call may fail while the terminate below is still awaited.
      const release = (): void => void locker.query('ROLLBACK').then(() => locker.end());
      call.then(release, release);
      const waiting =
        "SELECT pid FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'";
      await until(
        async () => (await locker.query(waiting, [app])).rowCount,
        10_000,
        'the store to wait on the lock',
      );
      await locker.query(
        'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
        [app],
      );
      return { call };
    },
  },
];

runStoreConformance(
  'postgres',
  async (clock) => {
    const schema = nextSchema();
    const store = await PostgresRunStore.open({ url, schema, clock });
    const peers: PostgresRunStore[] = [];
    return {
      store,
      openPeer: async () => {
        const p = await PostgresRunStore.open({ url, schema, clock });
        peers.push(p);
        return p;
      },
      forceSchemaVersion: (id, v) => store.forceSchemaVersion(id, v),
      dispose: async () => {
        for (const p of peers) await p.close();
        await store.close();
      },
    };
  },
  { faults },
);

describe('PostgresRunStore specifics', () => {
  it('applies migrations exactly once with concurrent openers', async () => {
    const schema = nextSchema();
    const stores = await Promise.all(
      Array.from({ length: 4 }, () => openRunStore({ driver: 'postgres', url, schema })),
    );
    await Promise.all(stores.map((s) => s.close()));
    const rows = await admin(
      async (c) => (await c.query(`SELECT version, name FROM "${schema}".skillplane_migrations`)).rows,
    );
    expect(rows.sort((a, b) => a.version - b.version)).toEqual([
      { version: 1, name: 'initial' },
      { version: 2, name: 'runs_principal' },
      { version: 3, name: 'step_agent_audit_filters' },
    ]);
  });

  it('loads and migrates a schema written at version 2', async () => {
    const schema = nextSchema();
    const dump = readFileSync(join(import.meta.dirname, 'fixtures', 'postgres-v2.sql'), 'utf8');
    await admin((c) => c.query(dump.replaceAll('__SCHEMA__', schema)));
    const clock = new FakeClock();
    const store = await PostgresRunStore.open({ url, schema, clock });
    await expectV2FixtureWorks(store, clock);
    await store.close();
  });

  it('refuses a schema holding foreign tables with store_foreign', async () => {
    const schema = nextSchema();
    await admin((c) => c.query(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".runs (x int)`));
    await expectCode(openRunStore({ driver: 'postgres', url, schema }), 'store_foreign');
  });

  it('reconnects after the server drops every connection', async () => {
    const app = `sp_reconnect_${randomBytes(4).toString('hex')}`;
    const store = await PostgresRunStore.open({
      url,
      schema: nextSchema(),
      poolSize: 3,
      applicationName: app,
    });
    const { run } = await create(store);
    await Promise.all([store.getRun(run.id), store.listEvents(run.id), store.getSteps(run.id)]);
    const killed = await admin((c) =>
      c.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1', [app]),
    );
    expect(killed.rowCount).toBeGreaterThan(0);
    expect((await store.appendEvent(run.id, ev.started())).seq).toBe(2);
    expect((await store.getRun(run.id))?.id).toBe(run.id);
    expect(await store.health()).toEqual({ ok: true });
    await store.close();
  });

  it('fails only the call holding a value PostgreSQL refuses, not its batch', async () => {
    const store = await PostgresRunStore.open({ url, schema: nextSchema() });
    const { run } = await create(store);
    const before = store.batches;
    const results = await Promise.allSettled([
      store.appendEvent(run.id, ev.started('a')),
      create(store, { input: { text: 'nul \u0000 inside' } }),
      store.appendAudit({ principal: null, action: 'x' }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(results[1]).toMatchObject({ reason: { code: 'input_invalid' } });
    expect(store.batches - before).toBeGreaterThanOrEqual(2);
    expect((await store.listEvents(run.id)).map((e) => e.seq)).toEqual([1, 2]);
    await store.close();
  });

  it('keeps event seqs gap-free when two nodes write one run at once', async () => {
    const schema = nextSchema();
    const [a, b] = await Promise.all([
      PostgresRunStore.open({ url, schema }),
      PostgresRunStore.open({ url, schema }),
    ]);
    const { run } = await create(a);
    await Promise.all(
      Array.from({ length: 60 }, (_, i) => (i % 2 ? a : b).appendEvent(run.id, ev.started(`n${i}`))),
    );
    expect((await a.listEvents(run.id)).map((e) => e.seq)).toEqual(
      Array.from({ length: 61 }, (_, i) => i + 1),
    );
    await Promise.all([a.close(), b.close()]);
  });

  it('group-commits the writes of one turn into one transaction', async () => {
    const store = await PostgresRunStore.open({ url, schema: nextSchema() });
    const runs = await Promise.all(Array.from({ length: 20 }, () => create(store)));
    const before = store.batches;
    await Promise.all(runs.map(({ run }) => store.appendEvent(run.id, ev.started())));
    expect(store.batches - before).toBe(1);
    await store.close();
    await expectCode(store.getRun(runs[0]!.run.id), 'store_closed');
  });

  it('reports an unreachable server as store_unavailable', async () => {
    await expectCode(
      PostgresRunStore.open({ url: 'postgres://postgres@127.0.0.1:1/test', schema: 'x', retries: 2 }),
      'store_unavailable',
    );
  });

  it('rejects an unsafe schema name', async () => {
    await expectCode(openRunStore({ driver: 'postgres', url, schema: 'x"; drop' }), 'validation_failed');
  });
});
