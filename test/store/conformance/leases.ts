/** Conformance: claiming runs, lease expiry on the clock, renewal and release. */
import { expect, it } from 'vitest';
import { create, ev, type Suite } from './helpers.js';

export function leaseTests(t: Suite): void {
  it('claimRuns: two concurrent claimers get disjoint sets, oldest first', async () => {
    const peer = await t.h.openPeer();
    const ids: string[] = [];
    for (let i = 0; i < 40; i++) {
      ids.push((await create(t.s)).run.id);
      t.clock.advance(1);
    }
    await create(t.s, { status: 'completed' });
    const a: string[] = [];
    const b: string[] = [];
    for (let round = 0; round < 5; round++) {
      const [ra, rb] = await Promise.all([
        t.s.claimRuns('node-a', { statuses: ['queued', 'running'], leaseMs: 60_000, limit: 7 }),
        peer.claimRuns('node-b', { statuses: ['queued', 'running'], leaseMs: 60_000, limit: 7 }),
      ]);
      a.push(...ra.map((r) => r.id));
      b.push(...rb.map((r) => r.id));
      const lease = new Date(t.clock.now() + 60_000).toISOString();
      expect(ra.every((r) => r.owner === 'node-a' && r.lease_expires_at === lease)).toBe(true);
      expect(ra.map((r) => r.id)).toEqual([...ra.map((r) => r.id)].sort());
    }
    expect(a.filter((id) => b.includes(id))).toEqual([]);
    expect(new Set([...a, ...b])).toEqual(new Set(ids));
    expect(a.length + b.length).toBe(40);
    expect(await t.s.claimRuns('node-c', { statuses: ['queued'], leaseMs: 1000, limit: 10 })).toEqual([]);
    // Terminal statuses are never claimed, whatever is asked.
    expect(await t.s.claimRuns('node-c', { statuses: ['completed'], leaseMs: 1000, limit: 10 })).toEqual([]);
    expect(await t.s.getRun(a[0] as string)).toMatchObject({ owner: 'node-a', updated_at: t.clock.iso() });
  });

  it('lease expiry on the clock lets another owner claim; renew and release', async () => {
    const peer = await t.h.openPeer();
    const { run } = await create(t.s, { status: 'running' });
    const first = await t.s.claimRuns('node-a', { statuses: ['running'], leaseMs: 150, limit: 10 });
    expect(first.map((r) => r.id)).toEqual([run.id]);
    expect(await peer.claimRuns('node-b', { statuses: ['running'], leaseMs: 150, limit: 10 })).toEqual([]);
    t.clock.advance(100);
    expect(await t.s.renewLeases('node-a', [run.id, 'run_missing'], 150)).toEqual([run.id]);
    expect((await t.s.getRun(run.id))?.lease_expires_at).toBe(new Date(t.clock.now() + 150).toISOString());
    t.clock.advance(100);
    // Renewed: 200 ms after the claim, still held.
    expect(await peer.claimRuns('node-b', { statuses: ['running'], leaseMs: 150, limit: 10 })).toEqual([]);
    t.clock.advance(51);
    const stolen = await peer.claimRuns('node-b', { statuses: ['running'], leaseMs: 60_000, limit: 10 });
    expect(stolen.map((r) => [r.id, r.owner])).toEqual([[run.id, 'node-b']]);
    expect(await t.s.renewLeases('node-a', [run.id], 1000)).toEqual([]);
    expect(await t.s.releaseRun(run.id, 'node-a')).toBe(false);
    expect(await peer.releaseRun(run.id, 'node-b')).toBe(true);
    expect(await t.s.getRun(run.id)).toMatchObject({ owner: null, lease_expires_at: null });
    expect((await t.s.claimRuns('node-a', { statuses: ['running'], leaseMs: 1000, limit: 1 })).length).toBe(
      1,
    );
    // A terminal run is never renewed nor released: it never changes.
    await t.s.transitionRun(run.id, { status: 'completed' }, ev.completed());
    expect(await t.s.renewLeases('node-a', [run.id], 1000)).toEqual([]);
    expect(await t.s.releaseRun(run.id, 'node-a')).toBe(false);
    expect((await t.s.getRun(run.id))?.owner).toBe('node-a');
  });

  it('a run created with an owner and a live lease is not claimable by another node', async () => {
    const leased = new Date(t.clock.now() + 60_000).toISOString();
    const { run } = await create(t.s, { owner: 'node-a', lease_expires_at: leased });
    expect(run).toMatchObject({ owner: 'node-a', lease_expires_at: leased });
    expect(await t.s.getRun(run.id)).toMatchObject({ owner: 'node-a', lease_expires_at: leased });
    expect(await t.s.claimRuns('node-b', { statuses: ['queued'], leaseMs: 1000, limit: 10 })).toEqual([]);
    t.clock.advance(60_001);
    expect((await t.s.claimRuns('node-b', { statuses: ['queued'], leaseMs: 1000, limit: 10 })).length).toBe(
      1,
    );
  });
}
