/** Conformance: creating, reading, listing, transitioning and pruning runs. */
import { expect, it } from 'vitest';
import { ask, create, ev, expectCode, newRun, newStep, type Suite } from './helpers.js';

export function runTests(t: Suite): void {
  it('creates a run with defaults, the given id and its first event, timed by the clock', async () => {
    const input = newRun({ priority: 'interactive', metadata: { k: 'v' } });
    const { run, created } = await t.s.createRun(input, { event: ev.created() });
    expect(created).toBe(true);
    expect(run.id).toBe(input.id);
    expect(run.id).toMatch(/^run_[0-9a-f]{28}$/);
    expect(run).toMatchObject({
      status: 'queued',
      priority: 'interactive',
      checkpoint: 0,
      schema_version: 1,
      created_at: t.clock.iso(),
      updated_at: t.clock.iso(),
      started_at: null,
      finished_at: null,
    });
    expect(run.usage).toEqual({ steps: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 });
    expect(run.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(await t.s.getRun(run.id)).toEqual(run);
    expect(await t.s.getRun('run_missing')).toBeUndefined();
    expect(await t.s.listEvents(run.id)).toEqual([
      { run_id: run.id, seq: 1, type: 'run.created', data: ev.created().data, at: t.clock.iso() },
    ]);
    await expectCode(t.s.createRun({ ...input }, { event: ev.created() }), 'conflict');
    expect(await t.s.listEvents(run.id)).toHaveLength(1);
  });

  it('returns records the caller cannot alias', async () => {
    const input = newRun({ input: { list: [1] }, metadata: { m: { deep: 1 } } });
    await t.s.createRun(input, { event: ev.created() });
    (input.input as { list: number[] }).list.push(2);
    const got = await t.s.getRun(input.id);
    expect(got?.input).toEqual({ list: [1] });
    (got?.metadata.m as { deep: number }).deep = 2;
    expect((await t.s.getRun(input.id))?.metadata).toEqual({ m: { deep: 1 } });
  });

  it('refuses values that cannot be stored as input_invalid, writing nothing', async () => {
    const bad = newRun({ input: { n: 1n } });
    await expectCode(t.s.createRun(bad, { event: ev.created() }), 'input_invalid');
    expect(await t.s.getRun(bad.id)).toBeUndefined();
    const { run } = await create(t.s, { status: 'running' });
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    await expectCode(
      t.s.beginStep(newStep(run.id, 'k', { input: cyclic }), ev.stepStarted('k')),
      'input_invalid',
    );
    expect(await t.s.getSteps(run.id)).toEqual([]);
    expect(await t.s.listEvents(run.id)).toHaveLength(1);
    expect((await t.s.beginStep(newStep(run.id, 'k'), ev.stepStarted('k'))).seq).toBe(1);
  });

  it('idempotency: same fingerprint returns the run, another conflicts, expiry forgets', async () => {
    const idem = { key: 'k1', fingerprint: 'f1', ttlSec: 30 };
    const a = await create(t.s, {}, idem);
    const b = await create(t.s, {}, idem);
    expect(b.created).toBe(false);
    expect(b.run).toEqual(a.run);
    expect(a.run.idempotency_key).toBe('k1');
    expect(await t.s.listEvents(a.run.id)).toHaveLength(1);
    await expectCode(create(t.s, {}, { ...idem, fingerprint: 'f2' }), 'idempotency_conflict');
    t.clock.advance(29_999);
    expect((await create(t.s, {}, idem)).created).toBe(false);
    t.clock.advance(1);
    const c = await create(t.s, {}, { ...idem, fingerprint: 'f2' });
    expect(c.created).toBe(true);
    expect(c.run.id).not.toBe(a.run.id);
    expect((await create(t.s, {}, { ...idem, fingerprint: 'f2' })).run.id).toBe(c.run.id);
    const many = await Promise.all(
      Array.from({ length: 10 }, () => create(t.s, {}, { key: 'k2', fingerprint: 'f', ttlSec: 60 })),
    );
    expect(many.filter((r) => r.created)).toHaveLength(1);
    expect(new Set(many.map((r) => r.run.id)).size).toBe(1);
  });

  it('transitions apply the patch verbatim, with from/owner guards and terminal immutability', async () => {
    const { run } = await create(t.s, { metadata: { a: 1 } });
    await expectCode(
      t.s.transitionRun(run.id, { status: 'completed' }, ev.completed(), { from: ['running'] }),
      'invalid_transition',
    );
    t.clock.advance(1000);
    const running = await t.s.transitionRun(
      run.id,
      { status: 'running', owner: 'n1', metadata: { b: 2 } },
      ev.started(),
      { from: ['queued'] },
    );
    // No implicit fields: the lifecycle passes started_at itself.
    expect(running).toMatchObject({
      status: 'running',
      owner: 'n1',
      started_at: null,
      updated_at: t.clock.iso(),
    });
    expect(running.metadata).toEqual({ a: 1, b: 2 });
    await expectCode(
      t.s.transitionRun(run.id, { checkpoint: 3 }, ev.started(), { owner: 'n2' }),
      'not_owner',
    );
    const done = await t.s.transitionRun(
      run.id,
      { status: 'completed', result: { answer: 42 } },
      ev.completed(),
    );
    // Entering a terminal status sets no finish time and keeps owner and lease.
    expect(done).toMatchObject({
      status: 'completed',
      result: { answer: 42 },
      owner: 'n1',
      finished_at: null,
    });
    await expectCode(t.s.transitionRun(run.id, { status: 'running' }, ev.started()), 'already_terminal');
    await expectCode(t.s.transitionRun(run.id, { metadata: { c: 3 } }, ev.started()), 'already_terminal');
    expect(await t.s.getRun(run.id)).toEqual(done);
    expect((await t.s.listEvents(run.id)).map((e) => e.type)).toEqual([
      'run.created',
      'run.started',
      'run.completed',
    ]);
    await expectCode(t.s.transitionRun('run_missing', { status: 'running' }, ev.started()), 'not_found');
    const other = (await create(t.s)).run;
    const times = { started_at: '2026-01-01T00:00:01.000Z', finished_at: '2026-01-01T00:00:02.000Z' };
    const settled = await t.s.transitionRun(
      other.id,
      { status: 'failed', ...times, owner: null, lease_expires_at: null, error: { code: 'x', message: 'y' } },
      ev.failed(),
    );
    expect(settled).toMatchObject({ ...times, owner: null, error: { code: 'x', message: 'y' } });
    expect(await t.s.getRun(other.id)).toEqual(settled);
  });

  it('listRuns: filters and cursor pagination stable under concurrent inserts', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 25; i++) {
      const over = {
        agent: i % 2 ? 'odd' : 'even',
        priority: i % 5 === 0 ? ('batch' as const) : ('normal' as const),
      };
      ids.push((await create(t.s, over)).run.id);
      if (i % 3 === 0) t.clock.advance(1);
    }
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await t.s.listRuns({ limit: 10, ...(cursor ? { cursor } : {}) });
      seen.push(...page.runs.map((r) => r.id));
      cursor = page.next_cursor ?? undefined;
      pages++;
      t.clock.advance(1);
      await create(t.s, { agent: 'late' }); // inserted between pages, newer than every cursor
    } while (cursor);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
    const odd = await t.s.listRuns({ agent: 'odd' });
    expect(odd.runs).toHaveLength(12);
    expect(odd.next_cursor).toBeNull();
    expect((await t.s.listRuns({ priority: 'batch' })).runs).toHaveLength(5);
    await t.s.transitionRun(ids[3] as string, { status: 'running' }, ev.started());
    await t.s.transitionRun(ids[4] as string, { status: 'failed' }, ev.failed());
    expect((await t.s.listRuns({ status: 'running' })).runs.map((r) => r.id)).toEqual([ids[3]]);
    expect(
      (await t.s.listRuns({ status: ['running', 'failed'], agent: 'even' })).runs.map((r) => r.id),
    ).toEqual([ids[4]]);
    expect((await t.s.listRuns({ status: [] })).runs).toEqual([]);
    const ref = (await t.s.getRun(ids[19] as string))?.created_at as string;
    const after = await t.s.listRuns({ created_after: ref, agent: 'odd', limit: 500 });
    expect(after.runs.length).toBeGreaterThan(0);
    expect(after.runs.every((r) => r.created_at > ref)).toBe(true);
    expect((await t.s.listRuns({ limit: 100000 })).runs.length).toBeLessThanOrEqual(500);
    await expectCode(t.s.listRuns({ cursor: 'garbage!' }), 'invalid_cursor');
  });

  it('listRuns: offset paging and a total of every match (Opta-LMX clients page this way)', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 7; i++) {
      ids.push((await create(t.s, { agent: i % 2 ? 'odd' : 'even' })).run.id);
      t.clock.advance(1);
    }
    const newest = [...ids].reverse();
    const first = await t.s.listRuns({ limit: 3, offset: 0, with_total: true });
    expect(first.runs.map((r) => r.id)).toEqual(newest.slice(0, 3));
    expect(first.total).toBe(7);
    const second = await t.s.listRuns({ limit: 3, offset: 3, with_total: true });
    expect(second.runs.map((r) => r.id)).toEqual(newest.slice(3, 6));
    expect(second.total).toBe(7);
    const last = await t.s.listRuns({ limit: 3, offset: 6 });
    expect(last.runs.map((r) => r.id)).toEqual(newest.slice(6));
    expect(last.next_cursor).toBeNull();
    expect(last.total).toBeUndefined();
    // The total counts the filter's matches, not the page; past the end the page is empty.
    const odd = await t.s.listRuns({ agent: 'odd', limit: 1, offset: 1, with_total: true });
    expect(odd.runs.map((r) => r.id)).toEqual([ids[3]]); // odd ones newest first: 5, 3, 1
    expect(odd.total).toBe(3);
    const beyond = await t.s.listRuns({ limit: 5, offset: 50, with_total: true });
    expect(beyond).toEqual({ runs: [], next_cursor: null, total: 7 });
  });

  it('listRuns and listApprovals filter by principal (approvals through their run)', async () => {
    const alice = [
      (await create(t.s, { principal: 'alice', status: 'running' })).run,
      (await create(t.s, { principal: 'alice' })).run,
    ];
    const bob = (await create(t.s, { principal: 'bob', status: 'running' })).run;
    const nobody = (await create(t.s)).run;
    const mine = await t.s.listRuns({ principal: 'alice', limit: 1 });
    expect(mine.runs.map((r) => r.id)).toEqual([alice[1]!.id]);
    const rest = await t.s.listRuns({ principal: 'alice', cursor: mine.next_cursor! });
    expect(rest.runs.map((r) => r.id)).toEqual([alice[0]!.id]);
    expect(rest.next_cursor).toBeNull();
    expect((await t.s.listRuns({ principal: 'bob', status: 'running' })).runs.map((r) => r.id)).toEqual([
      bob.id,
    ]);
    expect((await t.s.listRuns({ principal: 'carol' })).runs).toEqual([]);
    expect((await t.s.listRuns()).runs.map((r) => r.id)).toContain(nobody.id);
    const forAlice = await ask(t.s, alice[0]!.id);
    const forBob = await ask(t.s, bob.id);
    expect((await t.s.listApprovals({ principal: 'alice' })).map((a) => a.id)).toEqual([forAlice.id]);
    expect((await t.s.listApprovals({ principal: 'bob', status: 'pending' })).map((a) => a.id)).toEqual([
      forBob.id,
    ]);
    expect(await t.s.listApprovals({ principal: 'alice', run_id: bob.id })).toEqual([]);
    expect(await t.s.listApprovals({ principal: 'carol' })).toEqual([]);
    expect((await t.s.listApprovals()).map((a) => a.id)).toEqual([forBob.id, forAlice.id]);
  });

  it('pruneFinished removes terminal runs finished before the cut, and expired keys', async () => {
    const done: string[] = [];
    for (let i = 0; i < 3; i++) {
      const { run } = await create(t.s, { status: 'running' });
      await t.s.beginStep(newStep(run.id, 'k'), ev.stepStarted('k'));
      await ask(t.s, run.id, { step_key: 'k' });
      const finished_at = t.clock.iso();
      await t.s.transitionRun(
        run.id,
        { status: i === 0 ? 'failed' : 'completed', finished_at },
        ev.completed(),
      );
      done.push(run.id);
    }
    const keyed = await create(t.s, {}, { key: 'kp', fingerprint: 'f', ttlSec: 7200 });
    await t.s.transitionRun(
      keyed.run.id,
      { status: 'cancelled', finished_at: t.clock.iso() },
      ev.cancelled(),
    );
    const live = (await create(t.s, { status: 'running' }, { key: 'kl', fingerprint: 'f', ttlSec: 60 })).run;
    expect(await t.s.pruneFinished(new Date(t.clock.now()))).toBe(0);
    t.clock.advance(3_600_000);
    // One finished "just now" stays: it is not older than the cut.
    const recent = (await create(t.s, { status: 'completed' })).run;
    expect(await t.s.pruneFinished(new Date(t.clock.now() - 1_800_000))).toBe(4);
    for (const id of done) {
      expect(await t.s.getRun(id)).toBeUndefined();
      expect(await t.s.getSteps(id)).toEqual([]);
      expect(await t.s.listEvents(id)).toEqual([]);
      expect(await t.s.listApprovals({ run_id: id })).toEqual([]);
    }
    expect(await t.s.getRun(live.id)).toBeDefined();
    expect(await t.s.getRun(recent.id)).toBeDefined();
    expect((await create(t.s, {}, { key: 'kp', fingerprint: 'other', ttlSec: 60 })).created).toBe(true);
    // The live run's key expired an hour ago: pruning forgot it too.
    expect((await create(t.s, {}, { key: 'kl', fingerprint: 'other', ttlSec: 60 })).created).toBe(true);
  });

  it('refuses runs written with a newer schema_version', async () => {
    const { run } = await create(t.s);
    const ok = (await create(t.s)).run;
    await t.h.forceSchemaVersion(run.id, 99);
    await expectCode(t.s.getRun(run.id), 'unsupported_schema_version');
    await expectCode(
      t.s.transitionRun(run.id, { status: 'running' }, ev.started()),
      'unsupported_schema_version',
    );
    await expectCode(t.s.appendEvent(run.id, ev.started()), 'unsupported_schema_version');
    await expectCode(t.s.beginStep(newStep(run.id, 'k'), ev.stepStarted('k')), 'unsupported_schema_version');
    const claimed = await t.s.claimRuns('n', { statuses: ['queued'], leaseMs: 1000, limit: 10 });
    expect(claimed.map((r) => r.id)).toEqual([ok.id]);
  });
}
