/**
 * In-process {@link RunStore} for tests, benchmarks and single-process deployments that need no
 * durability. Each operation runs synchronously inside one call, so it is trivially atomic. Rows
 * keep JSON as text (see `memory/tables.ts`): records are decoded fresh for every caller, never
 * shared. At most `maxFinishedRuns` terminal runs are kept; older ones are evicted.
 */
import { SkillplaneError } from '../errors/index.js';
import { systemClock, type Clock } from '../vocabulary/index.js';
import { EngineRunStore } from './engine/engine-store.js';
import { executeSync, type StoreOp } from './engine/port.js';
import { MemoryTables } from './memory/tables.js';
import type { StoreHealth } from './run-store.js';

/** Options of {@link MemoryRunStore}. */
export interface MemoryStoreOptions {
  /** Time source of every timestamp, lease and expiry (default the system clock). */
  clock?: Clock;
  /**
   * Terminal runs kept (with their steps, events, approvals and keys), default 10,000; beyond
   * that the oldest finished are evicted.
   */
  maxFinishedRuns?: number;
}

/** A {@link RunStore} that keeps everything in memory. */
export class MemoryRunStore extends EngineRunStore {
  readonly driver = 'memory';
  private readonly tables: MemoryTables;
  private closed = false;

  constructor(opts: MemoryStoreOptions = {}) {
    super(opts.clock ?? systemClock);
    this.tables = new MemoryTables(Math.max(0, Math.floor(opts.maxFinishedRuns ?? 10_000)));
  }

  /** Number of runs held (live and finished). */
  get size(): number {
    return this.tables.size;
  }

  protected execute<T>(op: StoreOp<T>): Promise<T> {
    if (this.closed) return Promise.reject(new SkillplaneError('store_closed', 'the run store is closed'));
    try {
      const value = executeSync(op, this.clock.now(), this.tables);
      if (op.write) this.tables.evictFinished();
      return Promise.resolve(value);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  async health(): Promise<StoreHealth> {
    return this.closed ? { ok: false, detail: 'closed' } : { ok: true };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Test hook: overwrites the stored schema version of a run. */
  forceSchemaVersion(runId: string, version: number): void {
    this.tables.forceSchemaVersion(runId, version);
  }
}
