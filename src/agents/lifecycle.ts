import { ConflictError, type SkillplaneError } from '../errors/index.js';
import type { Run, RunPatch, RunStore, StoredError } from '../store/index.js';
import {
  RUN_MOVES,
  isoIn,
  isoNow,
  type Clock,
  type RunEventInput,
  type RunMoveName,
  type RunStatus,
  type UsageData,
} from '../vocabulary/index.js';

/** A move just applied: the run as stored after it and the event it wrote (for lifecycle logs). */
export interface RunChange {
  move: RunMoveName;
  run: Run;
  event: RunEventInput;
}

/** Called whenever a run has new events (its status and the move when it changed). */
export type RunNotify = (runId: string, status?: RunStatus, change?: RunChange) => void;

/** What each move needs besides the run id. */
export interface MoveArgs {
  start: { node: string; leaseMs: number; startedAt: string | null };
  resume: { node: string; leaseMs: number; startedAt: string | null };
  suspend: { node: string; usage: UsageData; approvalId: string };
  requeue: { node: string; leaseMs: number; usage?: UsageData; from?: readonly RunStatus[] };
  complete: { node: string; result: unknown; usage: UsageData };
  fail: { error: SkillplaneError; usage?: UsageData; node?: string; from?: readonly RunStatus[] };
  cancel: { error: SkillplaneError; usage?: UsageData; node?: string; from?: readonly RunStatus[] };
}

function stored(err: SkillplaneError): StoredError {
  return { code: err.code, message: err.message, ...(err.data === undefined ? {} : { data: err.data }) };
}

/**
 * The one owner of a run's life: applies the named moves of the state machine (the vocabulary's
 * `RUN_MOVES`) and is the only caller of the store's `transitionRun`. Each move writes its status,
 * the fields that go with it (start time and lease on start, finish time and no lease on a
 * terminal move) and its event in one transaction, then notifies the run's listeners.
 */
export class RunLifecycle {
  constructor(
    private readonly store: RunStore,
    private readonly clock: Clock,
    private readonly notify: RunNotify,
  ) {}

  /**
   * Applies `move` to a run. Throws `already_terminal`, `invalid_transition` (the run is in a status
   * the move does not leave; `from` may narrow the table's), or `not_owner` (a node-bound move on a
   * run another node owns).
   */
  async move<M extends RunMoveName>(runId: string, move: M, args: MoveArgs[M]): Promise<Run> {
    const spec = RUN_MOVES[move];
    const narrowed = (args as { from?: readonly RunStatus[] }).from;
    const from = narrowed === undefined ? spec.from : spec.from.filter((s) => narrowed.includes(s));
    const { patch, event, owner } = this.plan(move, args);
    const run = await this.store.transitionRun(runId, { ...patch, status: spec.to }, event, {
      from,
      ...(owner === undefined ? {} : { owner }),
    });
    this.notify(runId, spec.to, { move, run, event });
    return run;
  }

  /**
   * Like {@link move}, but a run that cannot take the move any more (finished meanwhile, moved on,
   * owned elsewhere) is left as it is: `undefined` instead of a conflict.
   */
  async tryMove<M extends RunMoveName>(runId: string, move: M, args: MoveArgs[M]): Promise<Run | undefined> {
    try {
      return await this.move(runId, move, args);
    } catch (err) {
      if (err instanceof ConflictError) return undefined;
      throw err;
    }
  }

  private plan(
    move: RunMoveName,
    args: MoveArgs[RunMoveName],
  ): { patch: RunPatch; event: Parameters<RunStore['transitionRun']>[2]; owner?: string } {
    const now = isoNow(this.clock);
    switch (move) {
      case 'start':
      case 'resume': {
        const a = args as MoveArgs['start'];
        return {
          patch: {
            started_at: a.startedAt ?? now,
            owner: a.node,
            lease_expires_at: isoIn(this.clock, a.leaseMs),
          },
          event: { type: move === 'start' ? 'run.started' : 'run.resumed', data: { node: a.node } },
          // A run another node claimed meanwhile is not started here.
          owner: a.node,
        };
      }
      case 'suspend': {
        const a = args as MoveArgs['suspend'];
        return {
          patch: { usage: a.usage, owner: null, lease_expires_at: null },
          event: { type: 'run.waiting_approval', data: { approval_id: a.approvalId } },
          owner: a.node,
        };
      }
      case 'requeue': {
        const a = args as MoveArgs['requeue'];
        return {
          // The node that resumes it owns it (and renews its lease) while it waits in the queue.
          patch: {
            owner: a.node,
            lease_expires_at: isoIn(this.clock, a.leaseMs),
            ...(a.usage === undefined ? {} : { usage: a.usage }),
          },
          event: { type: 'run.queued', data: { after: 'approval' } },
        };
      }
      case 'complete': {
        const a = args as MoveArgs['complete'];
        return {
          patch: { finished_at: now, owner: null, lease_expires_at: null, result: a.result, usage: a.usage },
          event: { type: 'run.completed', data: { usage: a.usage } },
          owner: a.node,
        };
      }
      case 'fail':
      case 'cancel': {
        const a = args as MoveArgs['fail'];
        const error = stored(a.error);
        return {
          patch: {
            finished_at: now,
            owner: null,
            lease_expires_at: null,
            error,
            ...(a.usage === undefined ? {} : { usage: a.usage }),
          },
          event: {
            type: move === 'fail' ? 'run.failed' : 'run.cancelled',
            data: {
              error: { code: error.code, message: error.message },
              ...(a.usage === undefined ? {} : { usage: a.usage }),
            },
          },
          ...(a.node === undefined ? {} : { owner: a.node }),
        };
      }
    }
  }
}
