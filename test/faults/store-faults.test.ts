import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { SqliteRunStore } from '../../src/store/index.js';
import { until } from '../../src/testing/index.js';
import { startHarness, type Harness } from '../agents/harness.js';

/**
 * A SQLite store that runs out of room under a live runtime (SQLite's max_page_count stands in for
 * a full disk): the write that does not fit fails with store_full, the runs already stored stay
 * readable, a step result that does not fit fails its step with store_full and leaves the run to
 * the lease reclaim, and a run that fits still completes.
 */
let h: Harness | undefined;
const dir = mkdtempSync(join(tmpdir(), 'sp-faults-store-'));
afterEach(async () => {
  await h?.close();
  h = undefined;
  rmSync(dir, { recursive: true, force: true });
});

describe('store faults through the runtime', () => {
  it('fails a write that overflows a full SQLite file with store_full and keeps serving', async () => {
    const path = join(dir, 'full.db');
    SqliteRunStore.open({ path }).close();
    const raw = new Database(path, { readonly: true });
    const pages = raw.pragma('page_count', { simple: true }) as number;
    raw.close();
    const store = SqliteRunStore.open({ path, maxPageCount: pages + 64 });
    h = await startHarness({
      script: ({ body }) => ({
        content: JSON.stringify(body).includes('answer big') ? 'y'.repeat(1_000_000) : 'ok',
      }),
      agents: [{ name: 'solo' }],
      store,
    });

    const first = await h.app.runtime.submit({ agent: 'solo', input: 'small' });
    expect((await h.app.runtime.wait(first.run.id, { timeoutMs: 10_000 })).status).toBe('completed');

    const big = h.app.runtime.submit({ agent: 'solo', input: 'x'.repeat(1_000_000) });
    await expect(big).rejects.toMatchObject({ code: 'store_full' });

    const stored = await h.app.runtime.getRun(first.run.id);
    expect(stored).toMatchObject({ status: 'completed' });
    expect((await h.app.runtime.getSteps(first.run.id)).length).toBeGreaterThan(0);

    const midRun = await h.app.runtime.submit({ agent: 'solo', input: 'answer big' });
    // A step result that does not fit: the step fails with store_full and the run is left to the
    // lease reclaim (a store outage is not the run's fault), neither completed nor failed by it.
    const stepFull = await until(
      async () =>
        (await h!.app.runtime.getSteps(midRun.run.id)).find(
          (s) => s.status === 'failed' && s.error?.code === 'store_full',
        ),
      10_000,
      'the oversized step to fail with store_full',
    );
    expect(stepFull!.kind).toBe('model');
    expect((await h.app.runtime.getRun(midRun.run.id))?.status).toBe('running');

    const fresh = await h.app.runtime.submit({ agent: 'solo', input: 'small again' });
    expect((await h.app.runtime.wait(fresh.run.id, { timeoutMs: 10_000 })).status).toBe('completed');
  });
});
