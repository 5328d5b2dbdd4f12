import { execFile } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { SqliteRunStore, openRunStore, type RunStore } from '../../src/store/index.js';
import { FakeClock } from '../../src/testing/index.js';
import { expectCode, runStoreConformance, type FaultCase } from './conformance.js';
import { create, ev } from './conformance/helpers.js';
import { expectV2FixtureWorks } from './conformance/fixture.js';

type Row = Record<string, unknown>;

const dir = mkdtempSync(join(tmpdir(), 'sp-sqlite-'));
let n = 0;
const nextPath = (): string => join(dir, `store-${n++}.db`);
const opened: RunStore[] = [];
afterAll(async () => {
  for (const s of opened) await s.close();
  rmSync(dir, { recursive: true, force: true });
});

const faults: FaultCase[] = [
  {
    name: 'a full database (max_page_count reached)',
    code: 'store_full',
    causeCode: 'SQLITE_FULL',
    provoke: async ({ clock }) => {
      const path = nextPath();
      SqliteRunStore.open({ path }).close();
      const raw = new Database(path, { readonly: true });
      const pages = raw.pragma('page_count', { simple: true }) as number;
      raw.close();
      const store = SqliteRunStore.open({ path, clock, maxPageCount: pages });
      opened.push(store);
      return { call: create(store, { input: 'x'.repeat(200_000) }) };
    },
  },
  {
    name: 'a database another writer holds',
    code: 'store_busy',
    causeCode: 'SQLITE_BUSY',
    provoke: async ({ clock }) => {
      const path = nextPath();
      const store = SqliteRunStore.open({ path, clock, busyTimeoutMs: 0 });
      opened.push(store);
      const raw = new Database(path);
      raw.exec('BEGIN IMMEDIATE');
      const call = create(store);
      const release = (): void => {
        raw.exec('ROLLBACK');
        raw.close();
      };
      call.then(release, release);
      return { call };
    },
  },
];

runStoreConformance(
  'sqlite',
  async (clock) => {
    const path = nextPath();
    const store = SqliteRunStore.open({ path, clock });
    const peers: SqliteRunStore[] = [];
    return {
      store,
      openPeer: async () => {
        const p = SqliteRunStore.open({ path, clock });
        peers.push(p);
        return p;
      },
      forceSchemaVersion: async (id, v) => store.forceSchemaVersion(id, v),
      dispose: async () => {
        for (const p of peers) await p.close();
        await store.close();
      },
    };
  },
  { faults },
);

describe('SqliteRunStore specifics', () => {
  it('keeps data across close and reopen, in WAL mode, with every migration recorded', async () => {
    const path = nextPath();
    const a = await openRunStore({ driver: 'sqlite', path });
    const { run } = await create(a, { input: { deep: [1, { two: 2 }] } });
    const step = await a.beginStep(
      { run_id: run.id, key: 'k', kind: 'model', name: 'm', input: 'in' },
      ev.stepStarted('k'),
    );
    await a.finishStep(
      run.id,
      step.seq,
      { status: 'completed', output: 'out' },
      { checkpoint: 1 },
      ev.stepCompleted('k', 1),
    );
    await a.close();
    const b = await openRunStore({ driver: 'sqlite', path });
    expect(await b.getRun(run.id)).toMatchObject({ input: { deep: [1, { two: 2 }] }, checkpoint: 1 });
    expect((await b.getStepByKey(run.id, 'k'))?.output).toBe('out');
    await b.close();
    const raw = new Database(path, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(raw.prepare('SELECT version, name FROM skillplane_migrations ORDER BY version').all()).toEqual([
      { version: 1, name: 'initial' },
      { version: 2, name: 'runs_principal' },
      { version: 3, name: 'step_agent_audit_filters' },
    ]);
    raw.close();
  });

  it('loads and migrates a database written at schema version 2', async () => {
    const path = nextPath();
    const raw = new Database(path);
    raw.exec(readFileSync(join(import.meta.dirname, 'fixtures', 'sqlite-v2.sql'), 'utf8'));
    raw.close();
    const clock = new FakeClock();
    const store = SqliteRunStore.open({ path, clock });
    await expectV2FixtureWorks(store, clock);
    await store.close();
    const check = new Database(path, { readonly: true });
    expect(check.prepare('SELECT max(version) AS v FROM skillplane_migrations').get()).toEqual({ v: 3 });
    check.close();
  });

  it('refuses a file that is not a SQLite database with store_corrupt', async () => {
    const path = nextPath();
    writeFileSync(path, 'this is definitely not a sqlite database '.repeat(200));
    await expectCode(openRunStore({ driver: 'sqlite', path }), 'store_corrupt');
  });

  it('checks the database at open and marks the store unhealthy after a corruption error', async () => {
    const path = nextPath();
    const seed = SqliteRunStore.open({ path });
    for (let i = 0; i < 100; i++) await create(seed, { input: 'y'.repeat(300) });
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
    const err = await expectCode(unchecked.listRuns(), 'store_corrupt');
    expect(err.cause).toMatchObject({ code: expect.stringMatching(/^SQLITE_(CORRUPT|NOTADB)/) });
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
      .run('future', '2026-01-01T00:00:00.000Z');
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

  it('group-commits writes issued in the same tick into one transaction, one savepoint each', async () => {
    const store = SqliteRunStore.open({ path: nextPath() });
    const { run } = await create(store);
    const before = store.batches;
    const results = await Promise.allSettled([
      ...Array.from({ length: 100 }, (_, i) => store.appendEvent(run.id, ev.started(`n${i}`))),
      store.appendEvent('run_missing', ev.started()),
      create(store, { input: { bad: 1n } }),
    ]);
    expect(store.batches - before).toBe(1);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(100);
    expect(results[100]).toMatchObject({ status: 'rejected', reason: { code: 'not_found' } });
    expect(results[101]).toMatchObject({ status: 'rejected', reason: { code: 'input_invalid' } });
    expect((await store.listEvents(run.id)).map((e) => e.seq)).toEqual(
      Array.from({ length: 101 }, (_, i) => i + 1),
    );
    await store.close();
    await expectCode(store.getRun(run.id), 'store_closed');
  });

  it('a call that fails half-way through its writes leaves nothing, and its batch-mates stand', async () => {
    // Calls of a batch run without savepoints first; one that throws after it wrote rolls the
    // batch back and the batch runs again with a savepoint per call.
    const store = SqliteRunStore.open({ path: nextPath() });
    const { run } = await create(store);
    await store.appendEvent(run.id, ev.started());
    const existing = await store.listEvents(run.id);
    const first = existing[0];
    const halfWay = {
      write: true,
      scope: run.id,
      plan: () => ({
        reads: {},
        decide: () => ({
          value: undefined,
          changes: [
            { kind: 'updateRun', id: run.id, set: { agent: 'tampered' } },
            // The primary key (run_id, seq) is taken: the second write fails.
            {
              kind: 'insertEvent',
              row: { run_id: run.id, seq: first!.seq, type: 'run.started', data: null, at: first!.at },
            },
          ],
        }),
      }),
    };
    const before = store.batches;
    const results = await Promise.allSettled([
      ...Array.from({ length: 20 }, (_, i) => store.appendEvent(run.id, ev.started(`a${i}`))),
      (store as unknown as { execute: (op: unknown) => Promise<unknown> }).execute(halfWay),
      ...Array.from({ length: 20 }, (_, i) => store.appendEvent(run.id, ev.started(`b${i}`))),
    ]);
    expect(store.batches - before).toBe(1);
    expect(results[20]).toMatchObject({ status: 'rejected' });
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(40);
    expect((await store.getRun(run.id))?.agent).toBe(run.agent);
    expect((await store.listEvents(run.id)).map((e) => e.seq)).toEqual(
      Array.from({ length: existing.length + 40 }, (_, i) => i + 1),
    );
    await store.close();
  });
});
