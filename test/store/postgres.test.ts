import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresRunStore, openRunStore } from '../../src/store/index.js';
import { expectCode, runStoreConformance } from './conformance.js';

const url = process.env.SKILLPLANE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const base = `sp_test_${randomBytes(6).toString('hex')}`;
const schemas: string[] = [];
const nextSchema = (): string => {
  const s = `${base}_${schemas.length}`;
  schemas.push(s);
  return s;
};

afterAll(async () => {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  for (const s of schemas) await c.query(`DROP SCHEMA IF EXISTS "${s}" CASCADE`);
  await c.end();
});

runStoreConformance('postgres', async () => {
  const schema = nextSchema();
  const store = await PostgresRunStore.open({ url, schema });
  const peers: PostgresRunStore[] = [];
  return {
    store,
    openPeer: async () => {
      const p = await PostgresRunStore.open({ url, schema });
      peers.push(p);
      return p;
    },
    forceSchemaVersion: (id, v) => store.forceSchemaVersion(id, v),
    dispose: async () => {
      for (const p of peers) await p.close();
      await store.close();
    },
  };
});

describe('PostgresRunStore specifics', () => {
  it('applies migrations exactly once with concurrent openers', async () => {
    const schema = nextSchema();
    const stores = await Promise.all(
      Array.from({ length: 4 }, () => openRunStore({ driver: 'postgres', url, schema })),
    );
    await Promise.all(stores.map((s) => s.close()));
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const rows = (await c.query(`SELECT version, name FROM "${schema}".skillplane_migrations`)).rows;
    await c.end();
    expect(rows.sort((a, b) => a.version - b.version)).toEqual([
      { version: 1, name: 'initial' },
      { version: 2, name: 'runs_principal' },
    ]);
  });

  it('refuses a schema holding foreign tables with store_foreign', async () => {
    const schema = nextSchema();
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    await c.query(`CREATE SCHEMA "${schema}"; CREATE TABLE "${schema}".runs (x int)`);
    await c.end();
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
    const { run } = await store.createRun({ agent: 'x', strategy: 'single', input: null });
    await Promise.all([store.getRun(run.id), store.listEvents(run.id), store.getSteps(run.id)]);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    const killed = await c.query(
      'SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1',
      [app],
    );
    await c.end();
    expect(killed.rowCount).toBeGreaterThan(0);
    expect((await store.appendEvent(run.id, 'after', null)).seq).toBe(2);
    expect((await store.getRun(run.id))?.id).toBe(run.id);
    expect(await store.health()).toEqual({ ok: true });
    await store.close();
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
