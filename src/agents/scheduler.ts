/**
 * The bounded run scheduler: admission control (a fixed number of queue places), at most
 * `maxConcurrent` running tasks, and weighted fair choice between priority classes with aging.
 *
 * Every operation is O(1): one intrusive doubly linked FIFO per priority class (O(1) removal on
 * cancel), smooth weighted round-robin over the three classes, and aging decided from the class
 * heads only (a head is the oldest ticket of its class): a class whose head has waited `agingMs`
 * gets one extra dispatch per `agingMs`, which bounds its wait without letting a backlog of old
 * batch runs outrank interactive runs that arrive later.
 */
import { linkedAbortController, toAbortError } from './abort.js';
import { CancelledError, ConflictError, RunQueueFullError } from '../errors/index.js';
import { Fifo, Window, type Entry, type Settle, type Task } from './scheduler-queues.js';

export { WAIT_WINDOW } from './scheduler-queues.js';
export type { Settle, Task, WaitStats } from './scheduler-queues.js';

/** Priority class of a run, highest first. */
export type { Priority } from '../vocabulary/index.js';

/** Priority classes in order, highest first; the index is the class rank. */
export { PRIORITIES } from '../vocabulary/index.js';
import { PRIORITIES } from '../vocabulary/index.js';

export type { SchedulerOptions, SchedulerStats, Ticket } from './scheduler-types.js';
import type { SchedulerOptions, SchedulerStats, Ticket } from './scheduler-types.js';

const RETRY_MIN_MS = 1_000;
/** Rank of priority `batch` in PRIORITIES. */
const BATCH = 2;
const RETRY_MAX_MS = 60_000;
/** Weight of the newest duration in the moving average. */
const EWMA_ALPHA = 0.2;

/**
 * Bounded run scheduler. Use: `admit(ticket)` synchronously (it throws `RunQueueFullError` before
 * anything is stored), then `run(id, task)`; or `cancel(id)` to give the place back.
 *
 * Choice of the next ticket: smooth weighted round-robin between the classes that have waiting
 * tickets, by `weights`, where a ticket's class is its priority promoted by one class per `agingMs`
 * of waiting — so a batch ticket is treated as interactive after `2 × agingMs` and can wait at most
 * about that long plus one task duration, however many interactive tickets arrive. FIFO within a
 * class.
 */
export class Scheduler {
  readonly maxConcurrent: number;
  readonly maxQueued: number;
  readonly agingMs: number;
  readonly #weights: readonly number[];
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #queues: readonly Fifo[] = [new Fifo(), new Fifo(), new Fifo()];
  /** Smooth weighted round-robin credit of each effective class. */
  readonly #credit = [0, 0, 0];
  /** When each class last got a dispatch through aging (see #pick). */
  readonly #lastGrant = [Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.NEGATIVE_INFINITY];
  readonly #waits: readonly Window[] = [new Window(), new Window(), new Window()];
  #reserved = 0;
  #admittedOnly = 0;
  #running = 0;
  /** Running tickets of priority batch, and how many may run (see `batchShare`). */
  #runningBatch = 0;
  readonly batchLimit: number;
  #seq = 0;
  #durationEwma: number | undefined;
  #pumping = false;
  #closed = false;
  readonly #drainWaiters = new Set<() => void>();

  constructor(options: SchedulerOptions) {
    const { maxConcurrent, maxQueued, weights } = options;
    if (!Number.isInteger(maxConcurrent) || maxConcurrent < 1)
      throw new RangeError('maxConcurrent must be >= 1');
    if (!Number.isInteger(maxQueued) || maxQueued < 1) throw new RangeError('maxQueued must be >= 1');
    const w = PRIORITIES.map((p) => weights[p]);
    if (w.some((x) => !Number.isFinite(x) || x <= 0)) throw new RangeError('priority weights must be > 0');
    const agingMs = options.agingMs ?? 2_000;
    if (!(agingMs > 0)) throw new RangeError('agingMs must be > 0');
    const share = options.batchShare ?? 0.75;
    if (!(share > 0 && share <= 1)) throw new RangeError('batchShare must be in (0, 1]');
    this.maxConcurrent = maxConcurrent;
    this.batchLimit = Math.max(1, Math.floor(maxConcurrent * share));
    this.maxQueued = maxQueued;
    this.agingMs = agingMs;
    this.#weights = w;
    this.#now = options.now ?? Date.now;
  }

  /**
   * Reserves a queue place for `ticket`, synchronously. Throws `RunQueueFullError(size, capacity,
   * retryAfterMs)` when every place is taken, `ConflictError` (`already_admitted`) when the id is
   * still live, `CancelledError` after `close()`.
   */
  admit(ticket: Ticket): void {
    if (this.#closed) throw new CancelledError('scheduler is closed');
    if (this.#entries.has(ticket.id)) {
      throw new ConflictError(`run ${ticket.id} is already admitted`, 'already_admitted', { id: ticket.id });
    }
    const rank = PRIORITIES.indexOf(ticket.priority);
    if (rank < 0) throw new RangeError(`unknown priority: ${String(ticket.priority)}`);
    if (this.#reserved >= this.maxQueued) {
      throw new RunQueueFullError(this.#reserved, this.maxQueued, this.retryAfterMs());
    }
    this.#entries.set(ticket.id, {
      id: ticket.id,
      priority: ticket.priority,
      rank,
      state: 'admitted',
      seq: 0,
      enqueuedAt: 0,
      startedAt: 0,
      prev: undefined,
      next: undefined,
      link: undefined,
      task: undefined,
      done: undefined,
    });
    this.#reserved++;
    this.#admittedOnly++;
  }

  /**
   * Estimated wait before a place frees up: moving average of task durations × queue depth /
   * `maxConcurrent`, clamped to 1 s..60 s (1 s before any task has finished).
   */
  retryAfterMs(): number {
    if (this.#durationEwma === undefined) return RETRY_MIN_MS;
    const estimate = (this.#durationEwma * Math.max(1, this.#reserved)) / this.maxConcurrent;
    return Math.round(Math.min(RETRY_MAX_MS, Math.max(RETRY_MIN_MS, estimate)));
  }

  /**
   * Runs `task` for the admitted ticket `id` once a slot is free, and settles like it. The slot is
   * released when the task settles. Cancelling (`opts.signal` aborts or `cancel(id)`) while queued
   * removes the ticket and rejects with `toAbortError(reason)` (a `CancelledError` unless the
   * reason is already a skillplane error); while running, it aborts the signal given to `task`.
   * Rejects with `ConflictError` (`not_admitted`) for an id that is not admitted.
   */
  run<T>(
    id: string,
    task: (signal: AbortSignal) => Promise<T>,
    opts: { signal?: AbortSignal } = {},
  ): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.enqueue(id, task, (ok, value) => (ok ? resolve(value as T) : reject(value)), opts);
    });
  }

  /**
   * `run` without a promise: queues `task(signal, id)` for the admitted ticket `id` and calls
   * `done(ok, value, id)` once when it settles — `ok` with the task's value, or not with its error,
   * `toAbortError(reason)` when cancelled while queued, or `ConflictError` (`not_admitted`) for an
   * id that is not admitted (then, and when `opts.signal` has already aborted, `done` is called
   * before `enqueue` returns). A caller that passes the same `task` and `done` for every ticket
   * (they get the id) keeps a queued ticket at one entry: no promise, no closure per ticket.
   */
  enqueue(id: string, task: Task, done: Settle, opts: { signal?: AbortSignal } = {}): void {
    const entry = this.#entries.get(id);
    if (entry === undefined || entry.state !== 'admitted') {
      done(false, new ConflictError(`run ${id} is not admitted`, 'not_admitted', { id }), id);
      return;
    }
    if (opts.signal?.aborted === true) {
      this.#forget(entry);
      done(false, toAbortError(opts.signal.reason), id);
      return;
    }
    // A queued ticket holds no controller of its own unless it has a signal to follow: most never
    // need one before they start (`cancel` removes them directly), and a deep queue of them would
    // cost an AbortController, its signal and a listener each.
    if (opts.signal !== undefined) {
      const link = linkedAbortController(opts.signal);
      link.signal.addEventListener(
        'abort',
        () => {
          if (entry.state === 'queued') this.#dropQueued(entry, link.signal.reason);
          // running: the task sees the aborted signal
        },
        { once: true },
      );
      entry.link = link;
    }
    entry.task = task;
    entry.done = done;
    entry.state = 'queued';
    entry.seq = this.#seq++;
    entry.enqueuedAt = this.#now();
    this.#admittedOnly--;
    this.#queues[entry.rank]!.push(entry);
    this.#pump();
  }

  /** Starts a ticket's task (its slot is taken) and releases the slot when the task settles. */
  #start(entry: Entry): void {
    const { task, done, id } = entry;
    entry.task = undefined;
    entry.done = undefined;
    // The task's signal: the queued link when there is one (its listener no longer acts), a fresh
    // controller otherwise.
    const link = entry.link ?? linkedAbortController();
    entry.link = link;
    let promise: Promise<unknown>;
    try {
      promise = Promise.resolve(task!(link.signal, id));
    } catch (err) {
      promise = Promise.reject(err);
    }
    promise.then(
      (value) => {
        this.#release(entry);
        done!(true, value, id);
      },
      (err: unknown) => {
        this.#release(entry);
        done!(false, err, id);
      },
    );
  }

  /**
   * Cancels ticket `id`: gives back the place of an admitted ticket whose `run` was not called,
   * removes a queued one (its `run` rejects with `toAbortError(reason)`: `reason` itself when it
   * is a skillplane error, else a `CancelledError`), or aborts a running task's
   * signal. Returns false when the id is unknown (already finished).
   */
  cancel(id: string, reason: unknown = new CancelledError('run cancelled')): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined) return false;
    if (entry.state === 'admitted') this.#forget(entry);
    else if (entry.state === 'queued' && entry.link === undefined) this.#dropQueued(entry, reason);
    else entry.link?.controller.abort(reason);
    return true;
  }

  /** Whether `id` is admitted, queued or running. */
  has(id: string): boolean {
    return this.#entries.has(id);
  }

  /** A snapshot of counters and queue-wait percentiles. */
  stats(): SchedulerStats {
    const [i, n, b] = this.#queues as [Fifo, Fifo, Fifo];
    const [wi, wn, wb] = this.#waits as [Window, Window, Window];
    return {
      running: this.#running,
      queued: { interactive: i.size, normal: n.size, batch: b.size },
      admitted: this.#admittedOnly,
      capacity: this.maxQueued,
      maxConcurrent: this.maxConcurrent,
      queueWaitMs: { interactive: wi.stats(), normal: wn.stats(), batch: wb.stats() },
    };
  }

  /**
   * Resolves once nothing is admitted, queued or running. Rejects with `toAbortError(reason)` if
   * `opts.signal` aborts first.
   */
  drain(opts: { signal?: AbortSignal } = {}): Promise<void> {
    const { signal } = opts;
    if (signal?.aborted === true) return Promise.reject(toAbortError(signal.reason));
    if (this.#idle()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        this.#drainWaiters.delete(done);
        reject(toAbortError(signal?.reason));
      };
      const done = (): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      this.#drainWaiters.add(done);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /**
   * Stops admitting, rejects every queued ticket with `CancelledError` and drops admitted ones.
   * Running tasks are left to finish (abort them through their own signals).
   */
  close(): void {
    this.#closed = true;
    for (const entry of [...this.#entries.values()]) {
      if (entry.state === 'admitted') this.#forget(entry);
      else if (entry.state === 'queued') {
        const done = entry.done;
        this.#queues[entry.rank]!.remove(entry);
        this.#forget(entry);
        // One callback that throws does not leave the tickets after it unsettled.
        try {
          done?.(false, new CancelledError('scheduler closed'), entry.id);
        } catch (err) {
          queueMicrotask(() => {
            throw err;
          });
        }
      }
    }
  }

  #idle(): boolean {
    return this.#running === 0 && this.#reserved === 0;
  }

  /** Removes a queued entry and rejects its `run` with `toAbortError(reason)`. */
  #dropQueued(entry: Entry, reason: unknown): void {
    const done = entry.done;
    this.#queues[entry.rank]!.remove(entry);
    this.#forget(entry);
    done?.(false, toAbortError(reason), entry.id);
  }

  /** Removes a not-running entry, giving its place back. */
  #forget(entry: Entry): void {
    if (entry.state === 'admitted') this.#admittedOnly--;
    this.#entries.delete(entry.id);
    this.#reserved--;
    entry.link?.dispose();
    entry.link = undefined;
    entry.task = undefined;
    entry.done = undefined;
    this.#checkIdle();
  }

  #release(entry: Entry): void {
    const duration = Math.max(0, this.#now() - entry.startedAt);
    this.#durationEwma =
      this.#durationEwma === undefined
        ? duration
        : EWMA_ALPHA * duration + (1 - EWMA_ALPHA) * this.#durationEwma;
    this.#running--;
    if (entry.rank === BATCH) this.#runningBatch--;
    this.#entries.delete(entry.id);
    entry.link?.dispose();
    entry.link = undefined;
    this.#pump();
    this.#checkIdle();
  }

  #checkIdle(): void {
    if (this.#drainWaiters.size === 0 || !this.#idle()) return;
    const waiters = [...this.#drainWaiters];
    this.#drainWaiters.clear();
    for (const w of waiters) w();
  }

  /** Starts queued tickets while slots are free. Re-entrant calls (from a task) fold into the loop. */
  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (this.#running < this.maxConcurrent) {
        const entry = this.#pick();
        if (entry === undefined) break;
        this.#queues[entry.rank]!.remove(entry);
        entry.state = 'running';
        entry.startedAt = this.#now();
        this.#reserved--;
        this.#running++;
        if (entry.rank === BATCH) this.#runningBatch++;
        this.#waits[entry.rank]!.add(entry.startedAt - entry.enqueuedAt);
        this.#start(entry);
      }
    } finally {
      this.#pumping = false;
    }
  }

  /**
   * Chooses the next ticket in O(1). Aging first: a lower class whose head has waited at least
   * `agingMs`, and that has had no aging grant in the last `agingMs`, gets this dispatch — at most
   * one extra dispatch per class per `agingMs`, so a starved class always moves while a large
   * backlog can never take over from newer interactive runs. Otherwise smooth weighted round-robin
   * over the non-empty classes, FIFO within a class.
   */
  #pick(): Entry | undefined {
    const now = this.#now();
    // Batch tickets at their share of the slots wait for one of their own to finish.
    const batchBlocked = this.#runningBatch >= this.batchLimit;
    for (let rank = 2; rank >= 1; rank--) {
      const head = this.#queues[rank]!.head;
      if (head === undefined || (rank === BATCH && batchBlocked)) continue;
      if (now - head.enqueuedAt >= this.agingMs && now - this.#lastGrant[rank]! >= this.agingMs) {
        this.#lastGrant[rank] = now;
        return head;
      }
    }
    const effective = [-1, -1, -1];
    const active = [false, false, false];
    let any = false;
    for (let rank = 0; rank < 3; rank++) {
      if (this.#queues[rank]!.head === undefined || (rank === BATCH && batchBlocked)) continue;
      effective[rank] = rank;
      active[rank] = true;
      any = true;
    }
    if (!any) return undefined;
    let total = 0;
    let best = -1;
    for (let cls = 0; cls < 3; cls++) {
      if (!active[cls]) {
        this.#credit[cls] = 0; // an idle class banks no credit
        continue;
      }
      const w = this.#weights[cls]!;
      this.#credit[cls]! += w;
      total += w;
      if (best < 0 || this.#credit[cls]! > this.#credit[best]!) best = cls;
    }
    this.#credit[best]! -= total;
    // Among the heads now in the chosen class, the one queued first.
    let chosen: Entry | undefined;
    for (let rank = 0; rank < 3; rank++) {
      if (effective[rank] !== best) continue;
      const head = this.#queues[rank]!.head!;
      if (chosen === undefined || head.seq < chosen.seq) chosen = head;
    }
    return chosen;
  }
}
