import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { abortableSleep } from '../../src/agents/abort.js';
import { mapWithConcurrency, Semaphore } from '../../src/agents/semaphore.js';
import { CancelledError } from '../../src/errors/index.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('Semaphore', () => {
  it('never hands out more than its limit and serves waiters in FIFO order', async () => {
    const sem = new Semaphore(2);
    const order: number[] = [];
    let active = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 8 }, (_, i) =>
        sem.use(async () => {
          order.push(i);
          active++;
          peak = Math.max(peak, active);
          await new Promise((r) => setImmediate(r));
          active--;
        }),
      ),
    );
    expect(peak).toBe(2);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(sem.available).toBe(2);
  });

  it('removes an aborted waiter without consuming a permit', async () => {
    const sem = new Semaphore(1);
    const release = await sem.acquire();
    const c = new AbortController();
    const aborted = sem.acquire(c.signal);
    const next = sem.acquire();
    expect(sem.waiting).toBe(2);
    c.abort();
    await expect(aborted).rejects.toBeInstanceOf(CancelledError);
    expect(sem.waiting).toBe(1);
    release();
    release(); // a second call is ignored
    const release2 = await next;
    expect(sem.available).toBe(0);
    release2();
    expect(sem.available).toBe(1);
    expect(getEventListeners(c.signal, 'abort')).toHaveLength(0);
  });

  it('rejects at once for an already aborted signal', async () => {
    const c = new AbortController();
    c.abort();
    await expect(new Semaphore(1).acquire(c.signal)).rejects.toBeInstanceOf(CancelledError);
  });
});

describe('mapWithConcurrency', () => {
  it('bounds the fan-out and returns results in input order', async () => {
    vi.useFakeTimers();
    let active = 0;
    let peak = 0;
    const p = mapWithConcurrency([50, 10, 30, 20, 40, 5], 3, async (ms, i) => {
      active++;
      peak = Math.max(peak, active);
      await abortableSleep(ms);
      active--;
      if (i === 3) throw new Error('boom');
      return ms * 2;
    });
    await vi.runAllTimersAsync();
    const results = await p;
    expect(peak).toBe(3);
    expect(results.map((r) => (r.ok ? r.value : 'err'))).toEqual([100, 20, 60, 'err', 80, 10]);
    const failed = results[3];
    expect(failed?.ok === false && (failed.error as Error).message).toBe('boom');
  });

  it('with failFast aborts running siblings, never starts the rest and rejects after all settle', async () => {
    vi.useFakeTimers();
    const started: number[] = [];
    const sawAbort: number[] = [];
    const settled: number[] = [];
    const boom = new Error('boom');
    let rejectedAt: number | undefined;
    const p = mapWithConcurrency(
      Array.from({ length: 10 }, (_, i) => i),
      3,
      async (i, _index, signal) => {
        started.push(i);
        try {
          if (i === 1) {
            await abortableSleep(100);
            throw boom;
          }
          await abortableSleep(10_000, signal);
          return i;
        } catch (err) {
          if (signal.aborted) sawAbort.push(i);
          // A sibling takes a while to clean up after the abort.
          if (i === 2) await abortableSleep(500);
          throw err;
        } finally {
          settled.push(i);
        }
      },
      { failFast: true },
    ).catch((err: unknown) => {
      rejectedAt = Date.now();
      throw err;
    });
    const start = Date.now();
    const outcome = expect(p).rejects.toBe(boom);
    await vi.advanceTimersByTimeAsync(100);
    expect(rejectedAt).toBeUndefined(); // item 2 is still cleaning up
    await vi.advanceTimersByTimeAsync(500);
    await outcome;
    expect(started).toEqual([0, 1, 2]);
    expect(sawAbort.sort((a, b) => a - b)).toEqual([0, 2]); // the siblings of the failed item
    expect(settled.sort((a, b) => a - b)).toEqual([0, 1, 2]);
    expect(rejectedAt! - start).toBe(600);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('without failFast collects every failure and keeps going', async () => {
    const results = await mapWithConcurrency([1, 2, 3, 4], 2, async (n) => {
      if (n % 2 === 0) throw new Error(`even ${n}`);
      return n;
    });
    expect(results.map((r) => r.ok)).toEqual([true, false, true, false]);
  });

  it('stops starting items and rejects when the parent signal aborts', async () => {
    vi.useFakeTimers();
    const parent = new AbortController();
    const started: number[] = [];
    const p = mapWithConcurrency(
      [0, 1, 2, 3, 4],
      2,
      async (i, _idx, signal) => {
        started.push(i);
        await abortableSleep(1_000, signal);
        return i;
      },
      { signal: parent.signal },
    );
    const outcome = expect(p).rejects.toBeInstanceOf(CancelledError);
    await vi.advanceTimersByTimeAsync(10);
    parent.abort();
    await vi.advanceTimersByTimeAsync(0);
    await outcome;
    expect(started).toEqual([0, 1]);
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(0);
  });

  it('handles an empty list', async () => {
    await expect(mapWithConcurrency([], 4, async () => 1)).resolves.toEqual([]);
  });
});
