// One BullMQ event reader per queue, fanning job events out to the calls that wait for those jobs.
import { QueueEvents } from 'bullmq';
import type { Redis } from 'ioredis';
import type { z } from 'zod';
import { progressSchema, safeJson, type JobProgress } from './broker-protocol.js';

/** A call waiting for one job. */
export interface JobWatcher {
  /** The job moved on (failed, removed): read it again. */
  wake(): void;
  /** The job completed with this result. */
  completed(value: unknown): void;
  progress?(p: JobProgress): void;
}

/** Fans a queue's events out to the calls waiting for one job each. */
export class JobEvents {
  readonly events: QueueEvents;
  private readonly watchers = new Map<string, Set<JobWatcher>>();

  constructor(queue: string, prefix: string, connection: Redis, onError: (e: Error) => void) {
    this.events = new QueueEvents(queue, { connection, prefix });
    this.events.on('error', onError);
    const wake = ({ jobId }: { jobId: string }) => {
      for (const w of this.watchers.get(jobId) ?? []) w.wake();
    };
    // A completed job's event carries its result: the waiting call needs no further read.
    this.events.on('completed', ({ jobId, returnvalue }: { jobId: string; returnvalue: unknown }) => {
      const value = typeof returnvalue === 'string' ? safeJson(returnvalue) : returnvalue;
      for (const w of this.watchers.get(jobId) ?? []) w.completed(value);
    });
    this.events.on('failed', wake);
    this.events.on('removed', wake);
    this.events.on('progress', ({ jobId, data }: { jobId: string; data: unknown }) => {
      const p = progressSchema.safeParse(data);
      if (!p.success) return;
      for (const w of this.watchers.get(jobId) ?? []) w.progress?.(stripUndefined(p.data));
    });
  }

  watch(jobId: string, w: JobWatcher): () => void {
    let set = this.watchers.get(jobId);
    if (set === undefined) {
      set = new Set();
      this.watchers.set(jobId, set);
    }
    set.add(w);
    return () => {
      set.delete(w);
      if (set.size === 0) this.watchers.delete(jobId);
    };
  }
}

function stripUndefined(p: z.infer<typeof progressSchema>): JobProgress {
  return Object.fromEntries(Object.entries(p).filter(([, v]) => v !== undefined)) as unknown as JobProgress;
}
