/**
 * Group commit on PostgreSQL. The write operations submitted in one turn of the event loop share
 * one transaction on one pipelined connection (`pg`'s pipeline mode: statements are written
 * without waiting for earlier answers). Every operation queues its reads, decides when they are
 * answered, then queues its writes; what the operations queue at the same moment leaves in one
 * socket write, coalesced by kind (`bulk.ts`), and COMMIT follows the last writes without a wait,
 * so a batch of any size costs about two round trips, a handful of statements and one WAL flush.
 * A caller's promise settles only after COMMIT answered: a resolved write is durable.
 *
 * Operations on the same scope (run) run in submission order inside a batch; an operation with no
 * known scope runs after all before it and before all after it. Batches in flight at the same time
 * never share a scope, so they never wait on each other's row locks. A batch that fails on the
 * database is rolled back and retried when the failure is transient (connection loss, deadlock),
 * else its operations are retried one by one so only the faulty one fails. When the connection is
 * lost after COMMIT was sent the outcome is unknown: the batch fails with `store_unavailable`.
 */
import type pg from 'pg';
import type { Clock } from '../../vocabulary/index.js';
import type { Change, Found, Read, Reads, StoreOp } from '../engine/port.js';
import type { Row } from '../engine/rows.js';
import type { Statement } from '../sql/dialect.js';
import type { PgBulkSql, PendingRead } from './bulk.js';
import { isConnectionError, isTransient } from './errors.js';

/** What the batcher needs from its store. */
export interface BatcherHost {
  pool: pg.Pool;
  /** The store's SQL in bulk form. */
  bulk: PgBulkSql;
  clock: Clock;
  /** Attempts of a batch failing transiently. */
  retries: number;
  /** Transactions in flight at the same time. */
  maxBatches: number;
  /** Operations in one transaction at most. */
  maxBatchSize: number;
  /** The prepared-statement name of a text. */
  nameOf(text: string): string;
  /** Maps an error for a caller. */
  fail(e: unknown): Error;
  closed(): boolean;
}

interface Pending {
  op: StoreOp<unknown>;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

/** A batch that did not commit. */
class BatchFailure extends Error {
  constructor(
    readonly error: unknown,
    /** False when COMMIT was sent and its answer lost: the outcome is unknown. */
    readonly rolledBack: boolean,
  ) {
    super('batch failed');
  }
}

const ignore = (): void => undefined;
const backoff = (attempt: number): Promise<void> =>
  new Promise((r) => setTimeout(r, Math.min(50 * 2 ** attempt, 2000)));

/** Runs write operations in pipelined, group-committed transactions. */
export class PgBatcher {
  private queue: Pending[] = [];
  private scheduled = false;
  private inFlight = 0;
  private exclusiveInFlight = false;
  private readonly busy = new Set<string>();
  private readonly idle: Array<() => void> = [];
  /** Transactions committed (for benchmarks). */
  batches = 0;

  constructor(private readonly host: BatcherHost) {}

  /** Queues an operation for the next batch. */
  submit<T>(op: StoreOp<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.queue.push({ op, resolve: resolve as (v: unknown) => void, reject });
      this.schedule();
    });
  }

  /** Resolves once nothing is queued or in flight. */
  drain(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return Promise.resolve();
    return new Promise((r) => this.idle.push(r));
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.dispatch();
    });
  }

  private dispatch(): void {
    while (this.inFlight < this.host.maxBatches && !this.exclusiveInFlight) {
      const batch = this.take();
      if (batch.length === 0) break;
      const scopes = batch.map((p) => p.op.scope).filter((s): s is string => s !== null);
      const exclusive = scopes.length < batch.length;
      for (const s of scopes) this.busy.add(s);
      this.inFlight++;
      this.exclusiveInFlight = exclusive;
      void this.runBatch(batch).finally(() => {
        for (const s of scopes) this.busy.delete(s);
        this.inFlight--;
        if (exclusive) this.exclusiveInFlight = false;
        if (this.queue.length > 0) this.schedule();
        else if (this.inFlight === 0) for (const r of this.idle.splice(0)) r();
      });
    }
  }

  /** Takes the next batch from the queue, leaving what must wait in order. */
  private take(): Pending[] {
    const batch: Pending[] = [];
    const rest: Pending[] = [];
    const skipped = new Set<string>();
    let stop = false;
    for (const p of this.queue) {
      const s = p.op.scope;
      if (stop || batch.length >= this.host.maxBatchSize) rest.push(p);
      else if (s === null) {
        // Runs alone among batches: only when nothing else is in flight, and nothing passes it.
        if (this.inFlight === 0) batch.push(p);
        else rest.push(p);
        stop = this.inFlight > 0;
      } else if (this.busy.has(s) || skipped.has(s)) {
        skipped.add(s);
        rest.push(p);
      } else batch.push(p);
    }
    this.queue = rest;
    return batch;
  }

  private async runBatch(batch: Pending[]): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.host.pool.connect();
      } catch (e) {
        if (isTransient(e) && attempt + 1 < this.host.retries && !this.host.closed()) {
          await backoff(attempt);
          continue;
        }
        for (const p of batch) p.reject(this.host.fail(e));
        return;
      }
      // A checked-out client emits 'error' when its connection drops; the failure surfaces
      // through its queries, so a listener only keeps it from crashing the process.
      client.on('error', ignore);
      try {
        const results = await this.attempt(client, batch);
        client.off('error', ignore);
        client.release();
        this.batches++;
        batch.forEach((p, i) => {
          const r = results[i] as PromiseSettledResult<unknown>;
          if (r.status === 'fulfilled') p.resolve(r.value);
          else p.reject(this.host.fail(r.reason));
        });
        return;
      } catch (e) {
        client.off('error', ignore);
        client.release(true);
        const f = e instanceof BatchFailure ? e : new BatchFailure(e, false);
        if (!f.rolledBack) {
          for (const p of batch) p.reject(this.host.fail(f.error));
          return;
        }
        if (isTransient(f.error) && attempt + 1 < this.host.retries && !this.host.closed()) {
          await backoff(attempt);
          continue;
        }
        if (batch.length > 1 && !isTransient(f.error)) {
          for (const p of batch) await this.runBatch([p]);
          return;
        }
        for (const p of batch) p.reject(this.host.fail(f.error));
        return;
      }
    }
  }

  /** One attempt: every operation of the batch in one pipelined transaction. */
  private async attempt(client: pg.PoolClient, batch: Pending[]): Promise<PromiseSettledResult<unknown>[]> {
    const pipe = new Pipeline(client, this.host);
    const released: Promise<void>[] = [];
    const lastOf = new Map<string, Promise<void>>();
    let barrier: Promise<void> = Promise.resolve();
    let sinceBarrier: Promise<void>[] = [];
    const done = batch.map((p) => {
      let release = ignore;
      const sent = new Promise<void>((r) => (release = r));
      const scope = p.op.scope;
      let gate: Promise<unknown>;
      if (scope === null) {
        gate = Promise.all([barrier, ...sinceBarrier]);
        barrier = sent;
        sinceBarrier = [];
        lastOf.clear();
      } else {
        gate = lastOf.get(scope) ?? barrier;
        lastOf.set(scope, sent);
        sinceBarrier.push(sent);
      }
      released.push(sent);
      // An operation may fail while others still wait on the server; its result is collected
      // below, so its rejection must not count as unhandled meanwhile.
      const result = this.runOp(p.op, gate, pipe, release);
      result.catch(ignore);
      return result;
    });
    await Promise.all(released);
    const { failures } = pipe;
    const commit = failures.length === 0 ? pipe.commit() : undefined;
    const results = await Promise.allSettled(done);
    if (commit === undefined) {
      await client.query('ROLLBACK').catch(ignore);
      throw new BatchFailure(failures[0], true);
    }
    let outcome: pg.QueryResult;
    try {
      outcome = await commit;
    } catch (e) {
      // COMMIT was sent. Nothing was committed when the server refused a statement (the
      // transaction was aborted) or COMMIT itself; when the connection was lost, nobody knows.
      const refused = [...failures, e].find((f) => !isConnectionError(f));
      throw new BatchFailure(refused ?? e, refused !== undefined);
    }
    // COMMIT of a transaction aborted by a failed statement answers ROLLBACK.
    if (outcome.command !== 'COMMIT') throw new BatchFailure(failures[0], true);
    return results;
  }

  /**
   * Runs one operation inside the batch: its reads join the next flush, then it decides and
   * queues its writes (which leave before any read queued after them).
   */
  private async runOp(
    op: StoreOp<unknown>,
    gate: Promise<unknown>,
    pipe: Pipeline,
    release: () => void,
  ): Promise<unknown> {
    try {
      await gate;
      const plan = op.plan(this.host.clock.now());
      const found = await pipe.read(plan.reads);
      const out = plan.decide(found as Found<Reads>);
      pipe.write(out.changes);
      return out.value;
    } finally {
      release();
    }
  }
}

/**
 * The statements of one transaction. Reads and writes queued while the operations progress (one
 * microtask after another) are flushed together once the turn's microtasks are done: writes
 * first, then reads, coalesced by kind ({@link PgBulkSql}), through a corked socket so they leave
 * in one write.
 */
class Pipeline {
  readonly failures: unknown[] = [];
  private reads: PendingRead[] = [];
  private writes: Change[] = [];
  private scheduled = false;
  /** BEGIN leaves with the first flush. */
  private begun = false;

  constructor(
    private readonly client: pg.PoolClient,
    private readonly host: BatcherHost,
  ) {}

  private send(st: Statement, named = true): Promise<pg.QueryResult> {
    const q = named ? { name: this.host.nameOf(st.text), text: st.text, values: st.values } : st.text;
    const p = this.client.query(q);
    p.catch((e: unknown) => this.failures.push(e));
    return p;
  }

  /** Answers named reads (in the next flush). */
  read(reads: Reads): Promise<Record<string, unknown>> {
    const names = Object.keys(reads);
    if (names.length === 0) return Promise.resolve({});
    const answers = names.map(
      (name) =>
        new Promise<unknown>((resolve, reject) =>
          this.reads.push({ read: reads[name] as Read, resolve, reject }),
        ),
    );
    this.schedule();
    return Promise.all(answers).then((values) => {
      const found: Record<string, unknown> = {};
      names.forEach((name, i) => (found[name] = values[i]));
      return found;
    });
  }

  /** Queues writes for the next flush. */
  write(changes: readonly Change[]): void {
    if (changes.length === 0) return;
    for (const c of changes) this.writes.push(c);
    this.schedule();
  }

  /** Flushes what is queued with COMMIT behind it. */
  commit(): Promise<pg.QueryResult> {
    return this.flush(true) as Promise<pg.QueryResult>;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush(false));
  }

  /** Sends BEGIN (the first time), the queued writes, then the queued reads, in one socket write. */
  private flush(commit: boolean): Promise<pg.QueryResult> | undefined {
    this.scheduled = false;
    const writes = this.writes;
    const reads = this.reads;
    this.writes = [];
    this.reads = [];
    if (writes.length === 0 && reads.length === 0 && !commit) return undefined;
    const socket = this.client.connection.stream;
    socket.cork();
    try {
      if (!this.begun) {
        this.begun = true;
        this.send({ text: 'BEGIN', values: [] }, false).catch(ignore);
      }
      for (const st of this.host.bulk.writes(writes)) this.send(st).catch(ignore);
      for (const r of this.host.bulk.reads(reads)) {
        this.send(r.statement).then(
          (res) => r.settle(res.rows as Row[]),
          (e: unknown) => r.fail(e),
        );
      }
      return commit ? this.send({ text: 'COMMIT', values: [] }, false) : undefined;
    } finally {
      socket.uncork();
    }
  }
}
