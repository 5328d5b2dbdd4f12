import { execFile } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteRunStore, openRunStore } from '../../src/store/index.js';
import { expectCode, runStoreConformance } from './conformance.js';

type Row = Record<string, unknown>;

const dir = mkdtempSync(join(tmpdir(), 'sp-sqlite-'));
let n = 0;
const nextPath = (): string => join(dir, `store-${n++}.db`);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

runStoreConformance('sqlite', async () => {
  const path = nextPath();
  const store = SqliteRunStore.open({ path });
  const peers: SqliteRunStore[] = [];
  return {
    store,
    openPeer: async () => {
      const p = SqliteRunStore.open({ path });
      peers.push(p);
      return p;
    },
    forceSchemaVersion: async (id, v) => store.forceSchemaVersion(id, v),
    dispose: async () => {
      for (const p of peers) await p.close();
      await store.close();
    },
  };
});

describe('SqliteRunStore specifics', () => {
  it('keeps data across close and reopen, in WAL mode', async () => {
    const path = nextPath();
    const a = await openRunStore({ driver: 'sqlite', path });
    const { run } = await a.createRun({ agent: 'x', strategy: 'single', input: { deep: [1, { two: 2 }] } });
    const step = await a.beginStep({ run_id: run.id, key: 'k', kind: 'model', name: 'm', input: 'in' });
    await a.finishStep(run.id, step.seq, { status: 'completed', output: 'out' }, { checkpoint: 1 });
    await a.close();
    const b = await openRunStore({ driver: 'sqlite', path });
    expect(await b.getRun(run.id)).toMatchObject({ input: { deep: [1, { two: 2 }] }, checkpoint: 1 });
    expect((await b.getStepByKey(run.id, 'k'))?.output).toBe('out');
    await b.close();
    const raw = new Database(path, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(raw.prepare('SELECT version, name FROM skillplane_migrations').all()).toEqual([
      { version: 1, name: 'initial' },
      { version: 2, name: 'runs_principal' },
    ]);
    raw.close();
  });

  it('refuses a file that is not a SQLite database with store_corrupt', async () => {
    const path = nextPath();
    writeFileSync(path, 'this is definitely not a sqlite database '.repeat(200));
    await expectCode(openRunStore({ driver: 'sqlite', path }), 'store_corrupt');
  });

  it('checks the database at open and marks the store unhealthy after a corruption error', async () => {
    const path = nextPath();
    const seed = SqliteRunStore.open({ path });
    for (let i = 0; i < 100; i++)
      await seed.createRun({ agent: 'x', strategy: 'single', input: 'y'.repeat(300) });
    await seed.close();
    const raw = new Database(path, { readonly: true });
    const pageSize = raw.pragma('page_size', { simple: true }) as number;
    const root = (raw.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'runs'").get() as Row)
      .rootpage;
    raw.close();
    const fd = openSync(path, 'r+');
    writeSync(fd, Buffer.alloc(pageSize - 100, 0xa5), 0, pageSize - 100, (Number(root) - 1) * pageSize + 50);
    closeSync(fd);

    const checked = SqliteRunStore.open({ path });
    expect(await checked.health()).toMatchObject({ ok: false, code: 'store_corrupt' });
    await checked.close();

    const unchecked = SqliteRunStore.open({ path, quickCheck: false });
    expect(await unchecked.health()).toEqual({ ok: true });
    await expectCode(unchecked.listRuns(), 'store_corrupt');
    expect(await unchecked.health()).toMatchObject({ ok: false, code: 'store_corrupt' });
    await unchecked.close();
  });

  it('refuses a foreign SQLite database with store_foreign', async () => {
    const path = nextPath();
    const raw = new Database(path);
    raw.exec('CREATE TABLE runs (x INTEGER)');
    raw.close();
    await expectCode(openRunStore({ driver: 'sqlite', path }), 'store_foreign');
    const other = nextPath();
    const raw2 = new Database(other);
    raw2.exec('CREATE TABLE unrelated (x INTEGER)');
    raw2.close();
    await (await openRunStore({ driver: 'sqlite', path: other })).close();
  });

  it('refuses a database migrated by a newer build', async () => {
    const path = nextPath();
    await (await openRunStore({ driver: 'sqlite', path })).close();
    const raw = new Database(path);
    raw
      .prepare('INSERT INTO skillplane_migrations VALUES (999, ?, ?)')
      .run('future', new Date().toISOString());
    raw.close();
    await expectCode(openRunStore({ driver: 'sqlite', path }), 'unsupported_schema_version');
  });

  it('two opens of the same new file at once both succeed (migration lock)', async () => {
    const path = nextPath();
    const [a, b] = await Promise.all([
      openRunStore({ driver: 'sqlite', path }),
      openRunStore({ driver: 'sqlite', path }),
    ]);
    await a.close();
    await b.close();
    const path2 = nextPath();
    const run = promisify(execFile);
    const child = (): Promise<{ stdout: string }> =>
      run(process.execPath, [
        '--import',
        'tsx',
        join(import.meta.dirname, 'fixtures', 'open-sqlite.ts'),
        path2,
      ]);
    const outs = await Promise.all([child(), child(), child()]);
    expect(outs.map((o) => o.stdout.trim())).toEqual(['ok', 'ok', 'ok']);
    const s = await openRunStore({ driver: 'sqlite', path: path2 });
    expect((await s.listRuns()).runs).toHaveLength(3);
    await s.close();
  });

  it('group-commits writes issued in the same tick into one transaction', async () => {
    const store = SqliteRunStore.open({ path: nextPath() });
    const { run } = await store.createRun({ agent: 'x', strategy: 'single', input: null });
    const before = store.batches;
    const results = await Promise.allSettled([
      ...Array.from({ length: 100 }, (_, i) => store.appendEvent(run.id, 'e', i)),
      store.appendEvent('run_missing', 'e', null),
    ]);
    expect(store.batches - before).toBe(1);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(100);
    expect(results[100]).toMatchObject({ status: 'rejected', reason: { code: 'not_found' } });
    expect((await store.listEvents(run.id)).map((e) => e.seq)).toEqual(
      Array.from({ length: 101 }, (_, i) => i + 1),
    );
    await store.close();
    await expectCode(store.getRun(run.id), 'store_closed');
  });
});
