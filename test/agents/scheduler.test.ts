import { afterEach, describe, expect, it, vi } from 'vitest';
import { abortableSleep } from '../../src/agents/abort.js';
import { Scheduler } from '../../src/agents/scheduler.js';
import { LeaseLostError } from '../../src/agents/recovery.js';
import type { Priority, SchedulerOptions } from '../../src/agents/scheduler.js';
import { CancelledError, ConflictError, RunQueueFullError } from '../../src/errors/index.js';

const WEIGHTS = { interactive: 8, normal: 4, batch: 1 };

function make(opts: Partial<SchedulerOptions> = {}): Scheduler {
  return new Scheduler({ maxConcurrent: 2, maxQueued: 100, weights: WEIGHTS, ...opts });
}

/** A promise with its resolver, to hold a slot until the test lets go. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/** Admits and runs a ticket in one go. */
function submit<T>(s: Scheduler, id: string, priority: Priority, task: (signal: AbortSignal) => Promise<T>) {
  s.admit({ id, priority });
  return s.run(id, task);
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Scheduler', () => {
  it('lets a new interactive run overtake a batch backlog that has waited long past agingMs', async () => {
    let now = 0;
    const s = make({ maxConcurrent: 1, maxQueued: 500, agingMs: 2_000, now: () => now });
    const order: string[] = [];
    const gates = new Map<string, ReturnType<typeof gate>>();
    const task = (id: string) => async () => {
      order.push(id);
      const g = gate();
      gates.set(id, g);
      await g.promise;
    };
    const all = [submit(s, 'hold', 'normal', task('hold'))];
    for (let i = 0; i < 200; i++) all.push(submit(s, `b${i}`, 'batch', task(`b${i}`)));
    now = 60_000; // the whole backlog is now 30 aging periods old
    all.push(submit(s, 'i0', 'interactive', task('i0')));
    // Finish tasks one at a time; the interactive run must start within the next two dispatches.
    for (let k = 0; k < 3; k++) {
      await Promise.resolve();
      gates.get(order[order.length - 1]!)!.open();
      await new Promise((r) => setImmediate(r));
    }
    expect(order.indexOf('i0')).toBeGreaterThan(0);
    expect(order.indexOf('i0')).toBeLessThanOrEqual(2);
    s.close();
    for (const g of gates.values()) g.open();
    await Promise.allSettled(all);
  });

  it('keeps slots beyond batchShare free: an interactive run behind a batch backlog starts at once', async () => {
    const s = make({ maxConcurrent: 4, batchShare: 0.75 });
    expect(s.batchLimit).toBe(3);
    const started: string[] = [];
    const gates = new Map<string, ReturnType<typeof gate>>();
    const task = (id: string) => async () => {
      started.push(id);
      const g = gate();
      gates.set(id, g);
      await g.promise;
    };
    const all = Array.from({ length: 10 }, (_, i) => submit(s, `b${i}`, 'batch', task(`b${i}`)));
    expect(started).toEqual(['b0', 'b1', 'b2']); // the fourth slot is not given to batch
    expect(s.stats()).toMatchObject({ running: 3, queued: { batch: 7 } });
    all.push(submit(s, 'i0', 'interactive', task('i0')));
    expect(started.at(-1)).toBe('i0'); // no batch run had to finish first
    all.push(submit(s, 'n0', 'normal', task('n0')));
    expect(started).not.toContain('n0'); // every slot taken: it waits its turn
    gates.get('b0')!.open();
    await new Promise((r) => setImmediate(r));
    expect(started.at(-1)).toBe('n0'); // the freed slot goes to the waiting normal run, not batch
    gates.get('i0')!.open();
    await new Promise((r) => setImmediate(r));
    expect(started.at(-1)).toBe('b3'); // batch is back under its share
    for (const g of gates.values()) g.open();
    s.close();
    await Promise.allSettled(all);
  });

  it('batchShare 1 gives batch every slot; batchShare never goes below one slot', () => {
    expect(make({ maxConcurrent: 4, batchShare: 1 }).batchLimit).toBe(4);
    expect(make({ maxConcurrent: 1 }).batchLimit).toBe(1);
    expect(() => make({ batchShare: 0 })).toThrow(RangeError);
    expect(() => make({ batchShare: 1.5 })).toThrow(RangeError);
  });

  it('finishes many concurrent tasks without deadlock and never exceeds maxConcurrent', async () => {
    vi.useFakeTimers();
    const s = make({ maxConcurrent: 3 });
    let active = 0;
    let peak = 0;
    const runs = Array.from({ length: 12 }, (_, i) =>
      submit(s, `r${i}`, (['interactive', 'normal', 'batch'] as const)[i % 3]!, async () => {
        active++;
        peak = Math.max(peak, active);
        await abortableSleep(10 + (i % 4) * 7);
        active--;
        return i;
      }),
    );
    await vi.runAllTimersAsync();
    expect(await Promise.all(runs)).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(peak).toBe(3);
    expect(s.stats()).toMatchObject({
      running: 0,
      queued: { interactive: 0, normal: 0, batch: 0 },
      admitted: 0,
    });
    await s.drain();
  });

  it('releases the slot when a task fails, throws synchronously or returns a rejected promise', async () => {
    const s = make({ maxConcurrent: 1 });
    const boom = new Error('boom');
    const a = submit(s, 'a', 'normal', () => {
      throw boom;
    });
    const b = submit(s, 'b', 'normal', () => Promise.reject(boom));
    const c = submit(s, 'c', 'normal', async () => 'ok');
    await expect(a).rejects.toBe(boom);
    await expect(b).rejects.toBe(boom);
    await expect(c).resolves.toBe('ok');
    expect(s.stats().running).toBe(0);
  });

  it('throws RunQueueFullError with size, capacity and a 1 s retry hint when there is no history', () => {
    const s = make({ maxConcurrent: 1, maxQueued: 3 });
    for (let i = 0; i < 3; i++) s.admit({ id: `r${i}`, priority: 'batch' });
    let err: unknown;
    try {
      s.admit({ id: 'over', priority: 'interactive' });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RunQueueFullError);
    expect(err).toMatchObject({ size: 3, capacity: 3, retryAfterMs: 1_000, code: 'queue_full' });
    expect(s.has('over')).toBe(false);
  });

  it('estimates retryAfterMs from recent durations, queue depth and maxConcurrent, clamped to 60 s', async () => {
    vi.useFakeTimers();
    const s = make({ maxConcurrent: 2, maxQueued: 4 });
    const done = Promise.all([
      submit(s, 'a', 'normal', () => abortableSleep(3_000)),
      submit(s, 'b', 'normal', () => abortableSleep(3_000)),
    ]);
    await vi.advanceTimersByTimeAsync(3_000);
    await done;
    for (let i = 0; i < 4; i++) s.admit({ id: `q${i}`, priority: 'normal' });
    // 3000 ms × 4 queued / 2 slots
    expect(() => s.admit({ id: 'x', priority: 'normal' })).toThrow(
      expect.objectContaining({ size: 4, capacity: 4, retryAfterMs: 6_000 }),
    );

    const slow = make({ maxConcurrent: 1, maxQueued: 1 });
    const long = submit(slow, 'long', 'batch', () => abortableSleep(100_000));
    await vi.advanceTimersByTimeAsync(100_000);
    await long;
    slow.admit({ id: 'q', priority: 'batch' });
    expect(() => slow.admit({ id: 'x', priority: 'batch' })).toThrow(
      expect.objectContaining({ retryAfterMs: 60_000 }),
    );
  });

  it('frees the place of an admitted ticket that is cancelled before run', () => {
    const s = make({ maxQueued: 1 });
    s.admit({ id: 'a', priority: 'normal' });
    expect(() => s.admit({ id: 'b', priority: 'normal' })).toThrow(RunQueueFullError);
    expect(s.cancel('a')).toBe(true);
    s.admit({ id: 'b', priority: 'normal' });
    expect(s.cancel('unknown')).toBe(false);
  });

  it('refuses to run a ticket that was not admitted and to admit a live id twice', async () => {
    const s = make();
    await expect(s.run('ghost', async () => 1)).rejects.toBeInstanceOf(ConflictError);
    s.admit({ id: 'a', priority: 'normal' });
    expect(() => s.admit({ id: 'a', priority: 'normal' })).toThrow(ConflictError);
    await s.run('a', async () => 1);
    s.admit({ id: 'a', priority: 'normal' }); // re-admission after it settled (resume)
    await expect(s.run('a', async () => 2)).resolves.toBe(2);
  });

  it('enqueue: one shared task and settle callback for every ticket, each told its id and outcome', async () => {
    const s = make({ maxConcurrent: 1 });
    const hold = gate();
    const outcomes: [string, boolean, unknown][] = [];
    const started: string[] = [];
    let settledAll!: () => void;
    const allSettled = new Promise<void>((r) => (settledAll = r));
    const task = async (signal: AbortSignal, id: string): Promise<string> => {
      started.push(id);
      if (id === 'first') await hold.promise;
      if (id === 'boom') throw new Error('boom');
      return `${id}:${signal.aborted}`;
    };
    const done = (ok: boolean, value: unknown, id: string): void => {
      outcomes.push([id, ok, ok ? value : (value as Error).constructor.name]);
      if (outcomes.length === 5) settledAll();
    };
    // Not admitted: told at once, before enqueue returns.
    s.enqueue('ghost', task, done);
    expect(outcomes).toEqual([['ghost', false, 'ConflictError']]);
    for (const id of ['first', 'second', 'boom', 'dropped']) {
      s.admit({ id, priority: 'normal' });
      s.enqueue(id, task, done);
    }
    expect(started).toEqual(['first']);
    expect(s.stats().queued.normal).toBe(3);
    // A queued ticket cancelled: it never starts, its settle callback gets the abort error.
    expect(s.cancel('dropped')).toBe(true);
    hold.open();
    await allSettled;
    expect(started).toEqual(['first', 'second', 'boom']);
    expect(outcomes).toEqual([
      ['ghost', false, 'ConflictError'],
      ['dropped', false, 'CancelledError'],
      ['first', true, 'first:false'],
      ['second', true, 'second:false'],
      ['boom', false, 'Error'],
    ]);
    await s.drain();
    expect(s.has('first')).toBe(false);
  });

  it('lets interactive tickets overtake queued batch tickets', async () => {
    const s = make({ maxConcurrent: 1 });
    const hold = gate();
    const order: string[] = [];
    const blocker = submit(s, 'blocker', 'normal', () => hold.promise);
    const record = (id: string) => async () => void order.push(id);
    const runs = [
      submit(s, 'b1', 'batch', record('b1')),
      submit(s, 'b2', 'batch', record('b2')),
      submit(s, 'b3', 'batch', record('b3')),
      submit(s, 'i1', 'interactive', record('i1')),
      submit(s, 'i2', 'interactive', record('i2')),
      submit(s, 'i3', 'interactive', record('i3')),
    ];
    expect(s.stats().queued).toEqual({ interactive: 3, normal: 0, batch: 3 });
    hold.open();
    await Promise.all([blocker, ...runs]);
    expect(order).toEqual(['i1', 'i2', 'i3', 'b1', 'b2', 'b3']);
  });

  it('shares slots by weight while every class has waiting tickets', async () => {
    const s = make({ maxConcurrent: 1, weights: { interactive: 3, normal: 2, batch: 1 } });
    const hold = gate();
    const order: Priority[] = [];
    const blocker = submit(s, 'blocker', 'normal', () => hold.promise);
    const runs: Promise<void>[] = [];
    for (let i = 0; i < 12; i++) {
      for (const p of ['batch', 'normal', 'interactive'] as const) {
        runs.push(submit(s, `${p}${i}`, p, async () => void order.push(p)));
      }
    }
    hold.open();
    await Promise.all([blocker, ...runs]);
    const firstSix = order.slice(0, 6);
    expect(firstSix.filter((p) => p === 'interactive')).toHaveLength(3);
    expect(firstSix.filter((p) => p === 'normal')).toHaveLength(2);
    expect(firstSix.filter((p) => p === 'batch')).toHaveLength(1);
  });

  /**
   * Two slots, 100 ms tasks, 10 interactive tickets queued then one more every 20 ms (50/s against
   * 20/s of service, so interactive tickets are always waiting), and one batch ticket at t0.
   * Returns how long the batch ticket waited (capped at 10 s) and the interactive backlog then.
   */
  async function starvationScenario(agingMs: number): Promise<{ waited: number; backlog: number }> {
    const taskMs = 100;
    const startedAt = new Map<string, number>();
    // Weights so lopsided that only aging can get the batch ticket through in time.
    const s = make({
      maxConcurrent: 2,
      maxQueued: 10_000,
      agingMs,
      weights: { interactive: 1e6, normal: 1e3, batch: 1 },
    });
    const runs: Promise<unknown>[] = [];
    let n = 0;
    const task = (id: string) => async (signal: AbortSignal) => {
      startedAt.set(id, Date.now());
      await abortableSleep(taskMs, signal);
    };
    const addInteractive = (): void => {
      const id = `i${n++}`;
      runs.push(submit(s, id, 'interactive', task(id)).catch(() => undefined));
    };
    for (let i = 0; i < 10; i++) addInteractive();
    const producer = setInterval(addInteractive, 20);
    const t0 = Date.now();
    runs.push(submit(s, 'batch', 'batch', task('batch')).catch(() => undefined));
    let backlog = 0;
    while (!startedAt.has('batch') && Date.now() - t0 < 10_000) {
      await vi.advanceTimersByTimeAsync(10);
      backlog = s.stats().queued.interactive;
    }
    clearInterval(producer);
    s.close();
    await vi.runAllTimersAsync();
    await Promise.all(runs);
    return { waited: (startedAt.get('batch') ?? Infinity) - t0, backlog };
  }

  it('runs a batch ticket within 2 × agingMs plus one task under a continuous interactive stream', async () => {
    vi.useFakeTimers();
    const agingMs = 500;
    const { waited, backlog } = await starvationScenario(agingMs);
    expect(waited).toBeLessThanOrEqual(2 * agingMs + 100);
    expect(waited).toBeGreaterThanOrEqual(agingMs); // it did wait behind the interactive backlog
    expect(backlog).toBeGreaterThan(10);
  });

  it('would starve the batch ticket under the same stream without aging', async () => {
    vi.useFakeTimers();
    const { waited, backlog } = await starvationScenario(1e9);
    expect(waited).toBe(Infinity);
    expect(backlog).toBeGreaterThan(100);
  });

  it('cancels a queued ticket through cancel(id) or its signal: removed and rejected with CancelledError', async () => {
    const s = make({ maxConcurrent: 1, maxQueued: 3 });
    const hold = gate();
    const blocker = submit(s, 'blocker', 'normal', () => hold.promise);
    const ran: string[] = [];
    const a = submit(s, 'a', 'normal', async () => void ran.push('a'));
    const c = new AbortController();
    s.admit({ id: 'b', priority: 'batch' });
    const b = s.run('b', async () => void ran.push('b'), { signal: c.signal });
    const keep = submit(s, 'keep', 'normal', async () => void ran.push('keep'));
    expect(s.stats().queued).toEqual({ interactive: 0, normal: 2, batch: 1 });

    expect(s.cancel('a')).toBe(true);
    await expect(a).rejects.toBeInstanceOf(CancelledError);
    c.abort();
    await expect(b).rejects.toBeInstanceOf(CancelledError);
    expect(s.stats().queued).toEqual({ interactive: 0, normal: 1, batch: 0 });
    s.admit({ id: 'fresh', priority: 'normal' }); // the places came back
    s.cancel('fresh');
    // The reason given to cancel is what the queued ticket's run rejects with.
    const lost = new LeaseLostError('d', 'expired');
    const d = submit(s, 'd', 'normal', async () => void ran.push('d'));
    s.cancel('d', lost);
    await expect(d).rejects.toBe(lost);

    hold.open();
    await Promise.all([blocker, keep]);
    expect(ran).toEqual(['keep']);
  });

  it('rejects at once when run is given an aborted signal', async () => {
    const s = make({ maxQueued: 1 });
    s.admit({ id: 'a', priority: 'normal' });
    const c = new AbortController();
    c.abort();
    await expect(s.run('a', async () => 1, { signal: c.signal })).rejects.toBeInstanceOf(CancelledError);
    expect(s.has('a')).toBe(false);
  });

  it('aborts the task signal when a running ticket is cancelled, and releases the slot once it settles', async () => {
    const s = make({ maxConcurrent: 1 });
    const seen: unknown[] = [];
    const running = submit(
      s,
      'r',
      'normal',
      (signal) =>
        new Promise<string>((_, reject) => {
          signal.addEventListener('abort', () => {
            seen.push(signal.reason);
            reject(signal.reason);
          });
        }),
    );
    const next = submit(s, 'next', 'normal', async () => 'next ran');
    expect(s.stats()).toMatchObject({ running: 1, queued: { normal: 1 } });
    expect(s.cancel('r')).toBe(true);
    await expect(running).rejects.toBeInstanceOf(CancelledError);
    expect(seen[0]).toBeInstanceOf(CancelledError);
    await expect(next).resolves.toBe('next ran');

    const parent = new AbortController();
    s.admit({ id: 'viaSignal', priority: 'batch' });
    let observed = false;
    const p = s.run(
      'viaSignal',
      (signal) =>
        new Promise<void>((resolve) =>
          signal.addEventListener('abort', () => resolve(void (observed = true))),
        ),
      { signal: parent.signal },
    );
    parent.abort();
    await p;
    expect(observed).toBe(true);
  });

  it('drains 10,000 queued tickets in well under a second', async () => {
    const s = new Scheduler({ maxConcurrent: 8, maxQueued: 10_000, weights: WEIGHTS });
    const hold = gate();
    const started = performance.now();
    const priorities = ['interactive', 'normal', 'batch'] as const;
    const runs: Promise<number>[] = [];
    // 8 start at once, the other 10,000 fill every queue place.
    for (let i = 0; i < 10_008; i++) {
      s.admit({ id: `r${i}`, priority: priorities[i % 3]! });
      runs.push(s.run(`r${i}`, async () => (await hold.promise, i)));
    }
    expect(s.stats().running).toBe(8);
    expect(() => s.admit({ id: 'one-more', priority: 'interactive' })).toThrow(RunQueueFullError);
    // Cancel a few from the middle of the queues: O(1) unlink.
    for (let i = 5_000; i < 5_010; i++) s.cancel(`r${i}`);
    hold.open();
    const results = await Promise.allSettled(runs);
    await s.drain();
    const elapsed = performance.now() - started;
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(9_998);
    expect(elapsed).toBeLessThan(1_000);
    const stats = s.stats();
    expect(stats.queueWaitMs.interactive.samples).toBe(1_000);
    expect(stats.running + stats.admitted).toBe(0);
  });

  it('reports queue-wait percentiles per priority', async () => {
    vi.useFakeTimers();
    const s = make({ maxConcurrent: 1 });
    const runs: Promise<void>[] = [];
    for (let i = 0; i < 20; i++) runs.push(submit(s, `r${i}`, 'normal', () => abortableSleep(100)));
    await vi.runAllTimersAsync();
    await Promise.all(runs);
    const wait = s.stats().queueWaitMs.normal;
    expect(wait).toEqual({ p50: 900, p95: 1_800, samples: 20 });
    expect(s.stats().queueWaitMs.batch.samples).toBe(0);
  });

  it('drain waits for running and queued work and honours its signal', async () => {
    const s = make({ maxConcurrent: 1 });
    const hold = gate();
    const a = submit(s, 'a', 'normal', () => hold.promise);
    const b = submit(s, 'b', 'batch', async () => undefined);
    let drained = false;
    const drain = s.drain().then(() => (drained = true));
    const c = new AbortController();
    const aborted = s.drain({ signal: c.signal });
    c.abort();
    await expect(aborted).rejects.toBeInstanceOf(CancelledError);
    await new Promise((r) => setImmediate(r));
    expect(drained).toBe(false);
    hold.open();
    await Promise.all([a, b, drain]);
    expect(drained).toBe(true);
  });

  it('close rejects every queued ticket, drops admitted ones and refuses new ones', async () => {
    const s = make({ maxConcurrent: 1 });
    const hold = gate();
    const running = submit(s, 'running', 'normal', () => hold.promise.then(() => 'done'));
    const queued = [submit(s, 'q1', 'batch', async () => 1), submit(s, 'q2', 'interactive', async () => 2)];
    s.admit({ id: 'admitted', priority: 'normal' });
    s.close();
    for (const q of queued) await expect(q).rejects.toBeInstanceOf(CancelledError);
    expect(() => s.admit({ id: 'late', priority: 'normal' })).toThrow(CancelledError);
    expect(s.stats()).toMatchObject({
      running: 1,
      admitted: 0,
      queued: { interactive: 0, normal: 0, batch: 0 },
    });
    hold.open();
    await expect(running).resolves.toBe('done');
    await s.drain();
  });
});
