/** Conformance: the audit trail, its filters and its cursor. */
import { expect, it } from 'vitest';
import { ev, expectCode, newRun, type Suite } from './helpers.js';

export function auditTests(t: Suite): void {
  it('audit: appends with the clock and lists newest first, filtered', async () => {
    const e1 = await t.s.appendAudit({
      principal: 'alice',
      action: 'run.create',
      target: 'run_1',
      run_id: 'run_1',
      trace_id: 't1',
      data: { a: 1 },
    });
    expect(e1).toMatchObject({ at: t.clock.iso(), run_id: 'run_1', data: { a: 1 } });
    expect(e1.id).toMatch(/^aud_/);
    t.clock.advance(1000);
    const e2 = await t.s.appendAudit({
      principal: 'bob',
      action: 'approval.decide',
      target: 'apr_1',
      run_id: 'run_1',
    });
    t.clock.advance(1000);
    const e3 = await t.s.appendAudit({ principal: null, action: 'run.create', target: 'run_2' });
    expect(e3).toMatchObject({ principal: null, target: 'run_2', run_id: null, trace_id: null, data: null });
    const ids = async (q: Parameters<typeof t.s.listAudit>[0]): Promise<string[]> =>
      (await t.s.listAudit(q)).entries.map((e) => e.id);
    const all = await t.s.listAudit();
    expect(all.entries).toEqual([e3, e2, e1]);
    expect(all.next_cursor).toBeNull();
    expect(await ids({ run_id: 'run_1' })).toEqual([e2.id, e1.id]);
    expect(await ids({ principal: 'bob' })).toEqual([e2.id]);
    expect(await ids({ action: 'run.create' })).toEqual([e3.id, e1.id]);
    expect(await ids({ target: 'run_2' })).toEqual([e3.id]);
    expect(await ids({ run_id: 'run_1', action: 'run.create' })).toEqual([e1.id]);
    // since is inclusive, until exclusive
    expect(await ids({ since: e2.at })).toEqual([e3.id, e2.id]);
    expect(await ids({ until: e2.at })).toEqual([e1.id]);
    expect(await ids({ since: e1.at, until: e3.at })).toEqual([e2.id, e1.id]);
    expect(await ids({ principal: 'nobody' })).toEqual([]);
  });

  it('audit: a run created with its audit entry has it in the same write; a replay adds none', async () => {
    const idem = { key: 'k-audit', fingerprint: 'f', ttlSec: 60 };
    const opts = {
      event: ev.created('a'),
      idempotency: idem,
      audit: { principal: 'alice', action: 'run.create', target: 'run_aud', data: { agent: 'a' } },
    };
    const first = await t.s.createRun(newRun({ id: 'run_aud', trace_id: 'tr_aud' }), opts);
    expect(first.created).toBe(true);
    const replay = await t.s.createRun(newRun({ id: 'run_aud2', trace_id: 'tr_other' }), opts);
    expect(replay).toMatchObject({ created: false, run: { id: 'run_aud' } });
    const { entries } = await t.s.listAudit({ action: 'run.create' });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({
      at: first.run.created_at,
      principal: 'alice',
      target: 'run_aud',
      run_id: 'run_aud',
      trace_id: 'tr_aud',
      data: { agent: 'a' },
    });
    // A create refused (the id is taken) writes no audit entry either.
    const { idempotency: _key, ...withoutKey } = opts;
    await expectCode(t.s.createRun(newRun({ id: 'run_aud', trace_id: 'x' }), withoutKey), 'conflict');
    expect((await t.s.listAudit({ action: 'run.create' })).entries).toHaveLength(1);
  });

  it('audit: cursor pagination is stable under concurrent inserts', async () => {
    const made: string[] = [];
    for (let i = 0; i < 23; i++) {
      made.push((await t.s.appendAudit({ principal: 'p', action: i % 2 ? 'odd' : 'even', target: null })).id);
      if (i % 4 === 0) t.clock.advance(1);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await t.s.listAudit({ limit: 10, principal: 'p', ...(cursor ? { cursor } : {}) });
      seen.push(...page.entries.map((e) => e.id));
      cursor = page.next_cursor ?? undefined;
      pages++;
      t.clock.advance(1);
      await t.s.appendAudit({ principal: 'p', action: 'late', target: null });
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([...made].reverse());
    const odd = await t.s.listAudit({ action: 'odd', limit: 5 });
    expect(odd.entries).toHaveLength(5);
    const more = await t.s.listAudit({ action: 'odd', limit: 5, cursor: odd.next_cursor! });
    expect(more.entries.map((e) => e.id)).toEqual(
      made
        .filter((_, i) => i % 2)
        .reverse()
        .slice(5, 10),
    );
    expect((await t.s.listAudit({ limit: 100000 })).entries.length).toBeLessThanOrEqual(1000);
    await expectCode(t.s.listAudit({ cursor: 'garbage!' }), 'invalid_cursor');
    const runCursor = (await t.s.listRuns({ limit: 1 })).next_cursor;
    expect(runCursor).toBeNull();
    const fakeRunCursor = Buffer.from(JSON.stringify([t.clock.iso(), 'run_x'])).toString('base64url');
    await expectCode(t.s.listAudit({ cursor: fakeRunCursor }), 'invalid_cursor');
  });
}
