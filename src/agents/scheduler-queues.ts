import type { LinkedAbort } from './abort.js';
import type { Priority } from '../vocabulary/index.js';

/** Queue wait percentiles of one class over its last {@link WAIT_WINDOW} started tickets. */
export interface WaitStats {
  p50: number;
  p95: number;
  samples: number;
}

/** Number of recent queue waits kept per priority for {@link SchedulerStats.queueWaitMs}. */
export const WAIT_WINDOW = 1_000;

/** One ticket of the scheduler, linked into its class's FIFO. */
export interface Entry {
  readonly id: string;
  readonly priority: Priority;
  readonly rank: number;
  state: 'admitted' | 'queued' | 'running';
  /** Global enqueue order: FIFO tie-break between heads of different classes. */
  seq: number;
  enqueuedAt: number;
  startedAt: number;
  prev: Entry | undefined;
  next: Entry | undefined;
  link: LinkedAbort | undefined;
  /** The queued ticket's task and settle callback (unset once it starts or leaves the queue). */
  task: Task | undefined;
  done: Settle | undefined;
}

/** A ticket's work: given the signal that aborts it and the ticket's id. */
export type Task = (signal: AbortSignal, id: string) => unknown;

/**
 * How a ticket ends: `ok` with the task's value, or not `ok` with the error (the task's, or the
 * reason it was removed from the queue), and the ticket's id.
 */
export type Settle = (ok: boolean, value: unknown, id: string) => void;

/** An intrusive FIFO of entries: O(1) push, pop at the head and removal anywhere. */
export class Fifo {
  head: Entry | undefined;
  tail: Entry | undefined;
  size = 0;

  push(e: Entry): void {
    e.prev = this.tail;
    e.next = undefined;
    if (this.tail === undefined) this.head = e;
    else this.tail.next = e;
    this.tail = e;
    this.size++;
  }

  remove(e: Entry): void {
    if (e.prev === undefined) this.head = e.next;
    else e.prev.next = e.next;
    if (e.next === undefined) this.tail = e.prev;
    else e.next.prev = e.prev;
    e.prev = undefined;
    e.next = undefined;
    this.size--;
  }
}

/** A fixed-size window of the latest samples, with percentiles. */
export class Window {
  readonly #values = new Float64Array(WAIT_WINDOW);
  #count = 0;
  #index = 0;

  add(v: number): void {
    this.#values[this.#index] = v;
    this.#index = (this.#index + 1) % WAIT_WINDOW;
    if (this.#count < WAIT_WINDOW) this.#count++;
  }

  stats(): WaitStats {
    if (this.#count === 0) return { p50: 0, p95: 0, samples: 0 };
    const sorted = this.#values.slice(0, this.#count).sort();
    const at = (p: number): number => sorted[Math.max(0, Math.ceil(p * this.#count) - 1)] ?? 0;
    return { p50: at(0.5), p95: at(0.95), samples: this.#count };
  }
}
