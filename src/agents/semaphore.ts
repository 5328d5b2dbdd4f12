/**
 * A FIFO counting semaphore and a bounded, cancellable parallel map built for sibling fan-out.
 */
import { linkedAbortController, toAbortError } from './abort.js';
import { CancelledError } from '../errors/index.js';

/** Gives a permit back; calling it more than once has no further effect. */
export type Release = () => void;

interface Waiter {
  grant: (release: Release) => void;
  prev: Waiter | undefined;
  next: Waiter | undefined;
  queued: boolean;
}

/**
 * A counting semaphore with `limit` permits. Waiters are served first-in first-out; a waiter whose
 * signal aborts leaves the queue at once (O(1)) and its `acquire` rejects.
 */
export class Semaphore {
  /** Total number of permits. */
  readonly limit: number;
  #available: number;
  #head: Waiter | undefined;
  #tail: Waiter | undefined;
  #waiting = 0;

  constructor(limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`semaphore limit must be an integer >= 1`);
    this.limit = limit;
    this.#available = limit;
  }

  /** Permits currently free. */
  get available(): number {
    return this.#available;
  }

  /** Callers waiting for a permit. */
  get waiting(): number {
    return this.#waiting;
  }

  /**
   * Waits for a permit and resolves with its release function. Rejects with `toAbortError(reason)`
   * when `signal` aborts first (the waiter is removed and no permit is consumed).
   */
  acquire(signal?: AbortSignal): Promise<Release> {
    if (signal?.aborted === true) return Promise.reject(toAbortError(signal.reason));
    if (this.#available > 0 && this.#waiting === 0) {
      this.#available--;
      return Promise.resolve(this.#makeRelease());
    }
    return new Promise<Release>((resolve, reject) => {
      const onAbort = (): void => {
        if (!waiter.queued) return;
        this.#unlink(waiter);
        reject(toAbortError(signal?.reason));
      };
      const waiter: Waiter = {
        grant: (release) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(release);
        },
        prev: this.#tail,
        next: undefined,
        queued: true,
      };
      if (this.#tail === undefined) this.#head = waiter;
      else this.#tail.next = waiter;
      this.#tail = waiter;
      this.#waiting++;
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Runs `fn` holding a permit, releasing it when `fn` settles. */
  async use<T>(fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const release = await this.acquire(signal);
    try {
      return await fn();
    } finally {
      release();
    }
  }

  #makeRelease(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#head;
      if (next === undefined) {
        this.#available++;
        return;
      }
      // Hand the permit straight to the oldest waiter so nobody can barge in between.
      this.#unlink(next);
      next.grant(this.#makeRelease());
    };
  }

  #unlink(w: Waiter): void {
    if (w.prev === undefined) this.#head = w.next;
    else w.prev.next = w.next;
    if (w.next === undefined) this.#tail = w.prev;
    else w.next.prev = w.prev;
    w.prev = undefined;
    w.next = undefined;
    w.queued = false;
    this.#waiting--;
  }
}

/** The outcome of one item of {@link mapWithConcurrency}. */
export type Settled<R> = { ok: true; value: R } | { ok: false; error: unknown };

/** Options of {@link mapWithConcurrency}. */
export interface MapWithConcurrencyOptions {
  /** Cancels the whole map: running items see it through their signal, unstarted ones never start. */
  signal?: AbortSignal;
  /**
   * Stop at the first failure: every sibling's signal aborts, unstarted items never start, and the
   * call rejects with that first error once every started item has settled.
   */
  failFast?: boolean;
}

/**
 * Maps `items` through `fn` with at most `limit` calls in flight, in item order of start. Each call
 * gets a signal linked to `opts.signal` (and, with `failFast`, aborted when a sibling fails).
 * Resolves with one {@link Settled} per item, in input order. Rejects (after every started call
 * has settled, so no promise is left floating) with the first error under `failFast`, or with
 * `toAbortError(reason)` when `opts.signal` aborts.
 */
export async function mapWithConcurrency<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number, signal: AbortSignal) => Promise<R>,
  opts: MapWithConcurrencyOptions = {},
): Promise<Settled<R>[]> {
  if (!(limit >= 1)) throw new RangeError('mapWithConcurrency limit must be >= 1');
  const link = linkedAbortController(opts.signal);
  const signal = link.signal;
  const results = new Array<Settled<R>>(items.length);
  let next = 0;
  let firstError: { error: unknown } | undefined;

  const worker = async (): Promise<void> => {
    while (next < items.length && !signal.aborted) {
      const index = next++;
      try {
        const value = await fn(items[index] as T, index, signal);
        results[index] = { ok: true, value };
      } catch (error) {
        results[index] = { ok: false, error };
        if (opts.failFast === true && firstError === undefined) {
          firstError = { error };
          link.controller.abort(new CancelledError('a sibling task failed', error));
        }
      }
    }
  };

  try {
    const workers: Promise<void>[] = [];
    const width = Math.min(Math.floor(Math.min(limit, Number.MAX_SAFE_INTEGER)), items.length);
    for (let i = 0; i < width; i++) workers.push(worker());
    await Promise.all(workers);
  } finally {
    link.dispose();
  }
  if (firstError !== undefined) throw firstError.error;
  if (opts.signal?.aborted === true) throw toAbortError(opts.signal.reason);
  return results;
}
