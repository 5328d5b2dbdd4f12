import { seedRun } from '../recovery/helpers.js';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SqliteRunStore } from '../../src/store/index.js';
import { json, startApi, type ApiHarness } from '../api/helpers.js';

/*
 * Store corruption: a damaged SQLite data page made requests fail with store_corrupt while
 * /readyz still said ready. The driver now runs PRAGMA quick_check at open and remembers any
 * corruption it meets; /readyz then answers 503 store_corrupt, and the process keeps running.
 */

const dir = mkdtempSync(join(tmpdir(), 'sp-corrupt-'));
const path = join(dir, 'skillplane.db');
let h: ApiHarness;

/** Overwrites most of the root page of the `runs` table of a closed database. */
function corruptRunsTable(file: string): void {
  const raw = new Database(file, { readonly: true });
  const pageSize = raw.pragma('page_size', { simple: true }) as number;
  const { rootpage } = raw.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'runs'").get() as {
    rootpage: number;
  };
  raw.close();
  const fd = openSync(file, 'r+');
  try {
    const garbage = Buffer.alloc(pageSize - 100, 0xa5);
    writeSync(fd, garbage, 0, garbage.length, (rootpage - 1) * pageSize + 50);
  } finally {
    closeSync(fd);
  }
}

beforeAll(async () => {
  const seed = SqliteRunStore.open({ path });
  // Finished runs: start-up recovery (which claims unfinished ones) does not read their pages.
  for (let i = 0; i < 200; i++)
    await seedRun(seed, {
      agent: 'assistant',
      strategy: 'single',
      input: `run ${i} `.repeat(30),
      status: 'completed',
    });
  await seed.close(); // checkpoints the WAL into the file
  corruptRunsTable(path);
  h = await startApi({ store: SqliteRunStore.open({ path }) });
});
afterAll(async () => {
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('a corrupt SQLite store', () => {
  it('is reported by /readyz as 503 store_corrupt, and the process keeps serving', async () => {
    const ready = await h.api.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(ready.headers['content-type']).toContain('application/problem+json');
    expect(json(ready)).toMatchObject({ status: 503, code: 'store_corrupt' });
    expect(String(json(ready).detail)).toContain('damaged');

    const list = await h.api.inject({ url: '/v1/agents/runs' });
    expect(list.statusCode).toBe(503);
    expect(json(list)).toMatchObject({ code: 'store_corrupt' });
    expect(list.body).not.toContain('at ');

    expect(json(await h.api.inject({ url: '/healthz' }))).toEqual({ status: 'ok' });
    expect((await h.api.inject({ url: '/readyz' })).statusCode).toBe(503);
  });
});
