import { NotFoundError, SkillplaneError } from '../../src/errors/index.js';
import type { WorkersPort } from '../../src/ports/index.js';
import type { BrokerState, DeadLetter, WorkerPlaneStatus } from '../../src/workers/index.js';

/** A dead letter of queue `skills` (a run's step 2 when `runId` is given). */
export function deadLetter(id: string, runId: string | null, over: Partial<DeadLetter> = {}): DeadLetter {
  return {
    id,
    queue: 'skills',
    skill: 'test/record@1.0.0',
    run_id: runId,
    step_seq: runId === null ? null : 2,
    source_job_id: `j${id}`,
    attempts: 3,
    error: { code: 'skill_failed', message: 'boom' },
    failed_at: '2026-12-01T10:00:00.000Z',
    worker: 'w1',
    input_bytes: 17,
    redrives: [],
    ...over,
  };
}

/** A WorkersPort whose answers the test sets, recording what it was asked. */
export class FakePlane implements WorkersPort {
  state: BrokerState = { ok: true, since: '2026-12-01T09:00:00.000Z' };
  letters: DeadLetter[] = [];
  statusCalls = 0;
  /** Replaces `status()`'s answer (a rejection, a throw). */
  statusImpl: (() => Promise<WorkerPlaneStatus>) | undefined;
  listQueries: { queue?: string; limit: number }[] = [];
  redrives: { id: string; principal: string | null }[] = [];

  health(): BrokerState {
    return this.state;
  }

  status(): Promise<WorkerPlaneStatus> {
    this.statusCalls++;
    if (this.statusImpl !== undefined) return this.statusImpl();
    const now = Date.now();
    const worker = (id: string, alive: boolean, inFlight: number) => ({
      id,
      host: 'node-a',
      pid: 4242,
      queues: ['skills'],
      concurrency: 4,
      in_flight: inFlight,
      jobs_done: 10,
      jobs_failed: 1,
      skills: ['test/record@1.0.0'],
      started_at: new Date(now - 60_000).toISOString(),
      last_heartbeat: new Date(alive ? now : now - 600_000).toISOString(),
      state: 'running' as const,
      alive,
    });
    return Promise.resolve({
      broker: 'redis://:***@127.0.0.1:6379',
      health: this.state,
      workers: this.state.ok ? [worker('w1', true, 2), worker('w2', false, 1)] : [],
      queues: this.state.ok
        ? [{ name: 'skills', waiting: 3, active: 2, delayed: 1, failed: 4, completed: 9, dead: 5 }]
        : [],
    });
  }

  private assertUp(): void {
    if (!this.state.ok)
      throw new SkillplaneError('worker_unavailable', this.state.reason ?? 'down', {
        data: { retry_after_ms: 5000, retryable: true },
      });
  }

  listDeadLetters(query: { queue?: string; limit: number }): Promise<DeadLetter[]> {
    this.listQueries.push(query);
    this.assertUp();
    return Promise.resolve(
      this.letters.filter((d) => query.queue === undefined || d.queue === query.queue).slice(0, query.limit),
    );
  }

  redrive(id: string, principal: string | null): Promise<{ dead_letter: DeadLetter; job_id: string }> {
    this.redrives.push({ id, principal });
    this.assertUp();
    const found = this.letters.find((d) => d.id === id);
    if (found === undefined) throw new NotFoundError('dead letter', id);
    const jobId = `${found.source_job_id}-r${found.redrives.length + 1}`;
    found.redrives.push({ job_id: jobId, at: new Date().toISOString(), by: principal, state: 'waiting' });
    return Promise.resolve({ dead_letter: found, job_id: jobId });
  }
}
