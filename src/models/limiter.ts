import { CancelledError } from '../errors/index.js';
import type { Priority } from './types.js';

/** Releases a slot taken with {@link PriorityLimiter.acquire}; calling it twice is harmless. */
export type ReleaseFn = () => void;

/** Options of a {@link PriorityLimiter}. */
export interface PriorityLimiterOptions {
  /**
   * A `normal` or `batch` waiter that has waited this long is treated as `interactive` (and, among
   * interactive waiters, ordered by age), so low priorities cannot starve under sustained load.
   * Default 30 000 ms; `Infinity` gives strict priority.
   */
  maxWaitBeforeBoostMs?: number;
  /** Clock in ms, injectable for tests. Default `Date.now`. */
  now?: () => number;
}

/** A snapshot of a limiter. */
export interface PriorityLimiterStats {
  capacity: number;
  inFlight: number;
  waiting: Record<Priority, number>;
}

interface Waiter {
  priority: Priority;
  enqueuedAt: number;
  settled: boolean;
  resolve: (release: ReleaseFn) => void;
  reject: (err: unknown) => void;
  cleanup: () => void;
}

/** A FIFO of waiters with O(1) push/shift; cancelled entries are skipped lazily. */
class WaiterQueue {
  private items: (Waiter | undefined)[] = [];
  private head = 0;

  push(w: Waiter): void {
    this.items.push(w);
  }

  /** The oldest live waiter, dropping settled ones on the way. */
  peek(): Waiter | undefined {
    while (this.head < this.items.length) {
      const w = this.items[this.head];
      if (w !== undefined && !w.settled) return w;
      this.items[this.head] = undefined;
      this.head++;
    }
    this.compact();
    return undefined;
  }

  shift(): Waiter | undefined {
    const w = this.peek();
    if (w === undefined) return undefined;
    this.items[this.head] = undefined;
    this.head++;
    if (this.head > 1024 && this.head * 2 > this.items.length) this.compact();
    return w;
  }

  drain(): Waiter[] {
    const live = this.items.slice(this.head).filter((w): w is Waiter => w !== undefined && !w.settled);
    this.items = [];
    this.head = 0;
    return live;
  }

  private compact(): void {
    this.items = this.items.slice(this.head);
    this.head = 0;
  }
}

/**
 * A counting semaphore whose waiters are admitted by priority (interactive > normal > batch),
 * then by age (FIFO). A waiter whose signal aborts leaves the queue at once. Waiters older than
 * `maxWaitBeforeBoostMs` are promoted to interactive (aging), evaluated whenever a slot frees.
 */
export class PriorityLimiter {
  private readonly queues: Record<Priority, WaiterQueue> = {
    interactive: new WaiterQueue(),
    normal: new WaiterQueue(),
    batch: new WaiterQueue(),
  };
  private readonly waitingCount: Record<Priority, number> = { interactive: 0, normal: 0, batch: 0 };
  private readonly maxWaitBeforeBoostMs: number;
  private readonly now: () => number;
  private inFlight = 0;
  private closed = false;

  constructor(
    readonly capacity: number,
    options: PriorityLimiterOptions = {},
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError('capacity must be an integer >= 1');
    this.maxWaitBeforeBoostMs = options.maxWaitBeforeBoostMs ?? 30_000;
    this.now = options.now ?? Date.now;
  }

  /**
   * Waits for a slot. Resolves with the function that gives it back; rejects with a
   * `CancelledError` when `signal` aborts first or the limiter is closed.
   */
  acquire(priority: Priority = 'normal', signal?: AbortSignal): Promise<ReleaseFn> {
    if (this.closed) return Promise.reject(new CancelledError('limiter closed'));
    if (signal?.aborted)
      return Promise.reject(new CancelledError('cancelled while waiting for a model slot'));
    if (this.inFlight < this.capacity && this.totalWaiting() === 0) {
      this.inFlight++;
      return Promise.resolve(this.releaser());
    }
    return new Promise<ReleaseFn>((resolve, reject) => {
      const onAbort = (): void => {
        if (waiter.settled) return;
        waiter.settled = true;
        this.waitingCount[priority]--;
        reject(new CancelledError('cancelled while waiting for a model slot', signal?.reason));
      };
      const waiter: Waiter = {
        priority,
        enqueuedAt: this.now(),
        settled: false,
        resolve,
        reject,
        cleanup: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.queues[priority].push(waiter);
      this.waitingCount[priority]++;
    });
  }

  /** Current capacity use and queue lengths per priority. */
  stats(): PriorityLimiterStats {
    return { capacity: this.capacity, inFlight: this.inFlight, waiting: { ...this.waitingCount } };
  }

  /** Rejects every waiter with a `CancelledError` and refuses new ones; held slots stay valid. */
  close(): void {
    this.closed = true;
    for (const q of Object.values(this.queues)) {
      for (const w of q.drain()) {
        w.settled = true;
        w.cleanup();
        this.waitingCount[w.priority]--;
        w.reject(new CancelledError('limiter closed'));
      }
    }
  }

  private totalWaiting(): number {
    return this.waitingCount.interactive + this.waitingCount.normal + this.waitingCount.batch;
  }

  private releaser(): ReleaseFn {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
      this.dispatch();
    };
  }

  private dispatch(): void {
    while (this.inFlight < this.capacity) {
      const next = this.pickNext();
      if (next === undefined) return;
      next.settled = true;
      next.cleanup();
      this.waitingCount[next.priority]--;
      this.inFlight++;
      next.resolve(this.releaser());
    }
  }

  /** Interactive head or any boosted head (oldest first), else normal, else batch. */
  private pickNext(): Waiter | undefined {
    const interactive = this.queues.interactive.peek();
    const normal = this.queues.normal.peek();
    const batch = this.queues.batch.peek();
    const boostBefore = this.now() - this.maxWaitBeforeBoostMs;
    let best = interactive;
    for (const candidate of [normal, batch]) {
      if (candidate === undefined || candidate.enqueuedAt > boostBefore) continue;
      if (best === undefined || candidate.enqueuedAt < best.enqueuedAt) best = candidate;
    }
    const chosen = best ?? normal ?? batch;
    if (chosen !== undefined) this.queues[chosen.priority].shift();
    return chosen;
  }
}
