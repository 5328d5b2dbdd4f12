import { describe, expect, it } from 'vitest';
import { MemoryRunStore } from '../../src/store/index.js';
import { FakeClock } from '../../src/testing/index.js';
import { runStoreConformance } from './conformance.js';
import { ask, create, ev, newStep } from './conformance/helpers.js';

runStoreConformance('memory', async (clock) => {
  const store = new MemoryRunStore({ clock });
  return {
    store,
    openPeer: async () => store,
    forceSchemaVersion: async (id, v) => store.forceSchemaVersion(id, v),
    dispose: () => store.close(),
  };
});

describe('MemoryRunStore specifics', () => {
  it('keeps at most maxFinishedRuns terminal runs, evicting the oldest finished first', async () => {
    const store = new MemoryRunStore({ clock: new FakeClock(), maxFinishedRuns: 3 });
    const live = (await create(store, { status: 'running' })).run;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const { run } = await create(
        store,
        { status: 'running' },
        { key: `k${i}`, fingerprint: 'f', ttlSec: 3600 },
      );
      await store.beginStep(newStep(run.id, 'k'), ev.stepStarted('k'));
      await ask(store, run.id);
      ids.push(run.id);
    }
    // Finish them out of creation order: 3, 0, 4, 1, 2.
    for (const i of [3, 0, 4, 1, 2])
      await store.transitionRun(ids[i]!, { status: 'completed' }, ev.completed());
    expect(store.size).toBe(4);
    for (const i of [3, 0]) {
      expect(await store.getRun(ids[i]!)).toBeUndefined();
      expect(await store.getSteps(ids[i]!)).toEqual([]);
      expect(await store.listEvents(ids[i]!)).toEqual([]);
      expect(await store.listApprovals({ run_id: ids[i]! })).toEqual([]);
      // Its idempotency key went with it.
      expect((await create(store, {}, { key: `k${i}`, fingerprint: 'g', ttlSec: 60 })).created).toBe(true);
    }
    for (const i of [4, 1, 2]) expect((await store.getRun(ids[i]!))?.status).toBe('completed');
    expect(await store.getRun(live.id)).toBeDefined();
    // A run created terminal counts too.
    await create(store, { status: 'cancelled' });
    expect(await store.getRun(ids[4]!)).toBeUndefined();
    await store.close();
  });

  it('evicts a run as soon as it finishes when the bound is zero', async () => {
    const store = new MemoryRunStore({ maxFinishedRuns: 0 });
    const { run } = await create(store, { status: 'running' });
    await store.transitionRun(run.id, { status: 'failed' }, ev.failed());
    expect(await store.getRun(run.id)).toBeUndefined();
    expect(store.size).toBe(0);
  });
});
