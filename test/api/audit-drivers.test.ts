import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PostgresRunStore, SqliteRunStore, type AuditEntry, type RunStore } from '../../src/store/index.js';
import { json, startApi, type ApiHarness } from './helpers.js';

/*
 * GET /v1/audit over the SQL drivers: entries written by the API and appended in bulk are found by
 * every filter and paged with a cursor that neither skips nor repeats, while new entries arrive.
 */

const PG_URL = process.env.SKILLPLANE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const schema = `sp_audit_api_${randomBytes(6).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'sp-audit-drv-'));

afterAll(async () => {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  try {
    await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await c.end();
  }
  rmSync(dir, { recursive: true, force: true });
});

const drivers: [string, () => Promise<RunStore>][] = [
  ['sqlite', async () => SqliteRunStore.open({ path: join(dir, 'audit.db') })],
  ['postgres', () => PostgresRunStore.open({ url: PG_URL, schema })],
];

describe.each(drivers)('GET /v1/audit on %s', (_name, open) => {
  let h: ApiHarness;
  const get = async (query: string) => {
    const res = await h.api.inject({ url: `/v1/audit${query}` });
    expect(res.statusCode, res.body).toBe(200);
    return json<{ entries: AuditEntry[]; next_cursor: string | null }>(res);
  };

  beforeAll(async () => {
    h = await startApi({ store: await open() });
    for (const user of ['uma', 'vic']) {
      const res = await h.api.inject({
        method: 'POST',
        url: '/v1/skills/test%2Fecho/execute',
        headers: { 'x-user-id': user },
        payload: { input: { who: user } },
      });
      expect(res.statusCode).toBe(200);
    }
    for (let i = 0; i < 30; i++)
      await h.store.appendAudit({
        principal: i % 3 === 0 ? 'uma' : 'wes',
        action: i % 2 === 0 ? 'bulk.even' : 'bulk.odd',
        target: `t${i}`,
        run_id: i < 10 ? 'run_a' : null,
      });
  }, 60_000);
  afterAll(async () => h?.close());

  it('records REST skill calls with their principal and input', async () => {
    const { entries } = await get('?action=skill.execute');
    expect(entries.map((e) => [e.principal, e.data?.door, e.data?.input])).toEqual([
      ['vic', 'http', { who: 'vic' }],
      ['uma', 'http', { who: 'uma' }],
    ]);
  });

  it('filters by principal, action and run, combined', async () => {
    expect((await get('?principal=uma&limit=1000')).entries).toHaveLength(11);
    expect((await get('?principal=uma&action=bulk.even')).entries.map((e) => e.target)).toEqual([
      't24',
      't18',
      't12',
      't6',
      't0',
    ]);
    expect((await get('?run_id=run_a&action=bulk.odd')).entries).toHaveLength(5);
    expect((await get('?principal=nobody')).entries).toEqual([]);
  });

  it('pages with a stable cursor while entries are added', async () => {
    const whole = (await get('?limit=1000')).entries.map((e) => e.id);
    expect(whole).toHaveLength(32);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await get(`?limit=7${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`);
      seen.push(...page.entries.map((e) => e.id));
      cursor = page.next_cursor;
      await h.store.appendAudit({ principal: 'late', action: 'bulk.late', target: null });
    } while (cursor !== null);
    expect(seen).toEqual(whole);
  });

  it('bounds by time: since inclusive, until exclusive', async () => {
    const all = (await get('?action=bulk.even&limit=1000')).entries;
    const pivot = all[7]!.at;
    const since = (await get(`?action=bulk.even&limit=1000&since=${encodeURIComponent(pivot)}`)).entries;
    const until = (await get(`?action=bulk.even&limit=1000&until=${encodeURIComponent(pivot)}`)).entries;
    expect([...since, ...until].map((e) => e.id)).toEqual(all.map((e) => e.id));
    expect(since.every((e) => e.at >= pivot) && until.every((e) => e.at < pivot)).toBe(true);
  });
});
