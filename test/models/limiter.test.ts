import { describe, expect, it } from 'vitest';
import { CancelledError } from '../../src/errors/index.js';
import { PriorityLimiter } from '../../src/models/index.js';
import type { Priority, ReleaseFn } from '../../src/models/index.js';

const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('PriorityLimiter', () => {
  it('keeps at most N in flight and admits the next waiter when a slot frees', async () => {
    const limiter = new PriorityLimiter(2);
    const admitted: number[] = [];
    const releases: ReleaseFn[] = [];
    for (let i = 0; i < 5; i++) {
      void limiter.acquire('normal').then((release) => {
        admitted.push(i);
        releases.push(release);
      });
    }
    await tick();
    expect(admitted).toEqual([0, 1]);
    expect(limiter.stats()).toEqual({
      capacity: 2,
      inFlight: 2,
      waiting: { interactive: 0, normal: 3, batch: 0 },
    });
    releases[0]!();
    releases[0]!(); // a second call of the same release is ignored
    await tick();
    expect(admitted).toEqual([0, 1, 2]);
    expect(limiter.stats().inFlight).toBe(2);
    expect(limiter.stats().waiting.normal).toBe(2);
  });

  it('admits waiters interactive first, then normal, then batch, each in arrival order', async () => {
    const limiter = new PriorityLimiter(1, { maxWaitBeforeBoostMs: Infinity });
    const hold = await limiter.acquire('batch');
    const order: string[] = [];
    const waiters: [string, Priority][] = [
      ['batch-1', 'batch'],
      ['normal-1', 'normal'],
      ['interactive-1', 'interactive'],
      ['normal-2', 'normal'],
      ['interactive-2', 'interactive'],
      ['batch-2', 'batch'],
    ];
    const done = waiters.map(async ([label, priority]) => {
      const release = await limiter.acquire(priority);
      order.push(label);
      await tick();
      release();
    });
    hold();
    await Promise.all(done);
    expect(order).toEqual(['interactive-1', 'interactive-2', 'normal-1', 'normal-2', 'batch-1', 'batch-2']);
    expect(limiter.stats().inFlight).toBe(0);
  });

  it('removes an aborted waiter from the queue and never admits it', async () => {
    const limiter = new PriorityLimiter(1);
    const hold = await limiter.acquire();
    const controller = new AbortController();
    const aborted = limiter.acquire('interactive', controller.signal);
    const other = limiter.acquire('batch');
    expect(limiter.stats().waiting).toEqual({ interactive: 1, normal: 0, batch: 1 });
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(CancelledError);
    await expect(aborted).rejects.toMatchObject({ code: 'cancelled' });
    expect(limiter.stats().waiting).toEqual({ interactive: 0, normal: 0, batch: 1 });
    hold();
    const release = await other;
    expect(limiter.stats()).toMatchObject({ inFlight: 1, waiting: { interactive: 0, normal: 0, batch: 0 } });
    release();
  });

  it('rejects at once when the signal is already aborted', async () => {
    const limiter = new PriorityLimiter(1);
    await expect(limiter.acquire('normal', AbortSignal.abort())).rejects.toMatchObject({ code: 'cancelled' });
    expect(limiter.stats().inFlight).toBe(0);
  });

  it('treats a batch waiter older than maxWaitBeforeBoostMs as interactive', async () => {
    let now = 0;
    const limiter = new PriorityLimiter(1, { maxWaitBeforeBoostMs: 30_000, now: () => now });
    const hold = await limiter.acquire();
    const order: string[] = [];
    const batch = limiter.acquire('batch').then((r) => (order.push('batch'), r));
    now = 31_000;
    const interactive = limiter.acquire('interactive').then((r) => (order.push('interactive'), r));
    hold();
    await tick();
    // Exactly one waiter got the slot, and it is the boosted batch one (a wrong pick fails here
    // instead of waiting for a release that never comes).
    expect(order).toEqual(['batch']);
    (await batch)();
    await tick();
    expect(order).toEqual(['batch', 'interactive']);
    (await interactive)();
  });

  it('keeps strict priority for waiters younger than maxWaitBeforeBoostMs', async () => {
    let now = 0;
    const limiter = new PriorityLimiter(1, { maxWaitBeforeBoostMs: 30_000, now: () => now });
    const hold = await limiter.acquire();
    const order: string[] = [];
    const batch = limiter.acquire('batch').then((r) => (order.push('batch'), r));
    now = 10_000;
    const interactive = limiter.acquire('interactive').then((r) => (order.push('interactive'), r));
    hold();
    await tick();
    expect(order).toEqual(['interactive']);
    (await interactive)();
    await tick();
    expect(order).toEqual(['interactive', 'batch']);
    (await batch)();
  });

  it('rejects every waiter when closed', async () => {
    const limiter = new PriorityLimiter(1);
    const hold = await limiter.acquire();
    const waiting = limiter.acquire('normal');
    limiter.close();
    await expect(waiting).rejects.toMatchObject({ code: 'cancelled' });
    await expect(limiter.acquire()).rejects.toMatchObject({ code: 'cancelled' });
    hold();
    expect(limiter.stats().inFlight).toBe(0);
  });

  it('refuses a capacity below one', () => {
    expect(() => new PriorityLimiter(0)).toThrow(RangeError);
  });
});
