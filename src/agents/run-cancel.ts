// Cancelling a run wherever it executes: aborted here when this node executes it, asked of the
// owner over the bus when another live node does, and settled here (approvals included) if it
// still is not.
import type { RunBus } from '../bus/index.js';
import { CancelledError, ConflictError } from '../errors/index.js';
import type { Run } from '../store/index.js';
import { isTerminal, type Clock } from '../vocabulary/index.js';
import type { ApprovalDesk, RuntimeAuditEntry } from './approvals.js';
import type { RunLifecycle } from './lifecycle.js';
import type { RunExecutor } from './run-executor.js';
import type { Scheduler } from './scheduler.js';

/** What cancelling needs of the runtime. */
export interface RunCancelPort {
  executor: RunExecutor;
  scheduler: Scheduler;
  lifecycle: RunLifecycle;
  approvals: ApprovalDesk;
  bus: RunBus | undefined;
  clock: Clock;
  nodeId: string;
  /** How long a cancel waits for the owner node to settle the run (default 5 s). */
  cancelWaitMs: number | undefined;
  getRun(runId: string): Promise<Run>;
  wait(runId: string, opts: { timeoutMs: number }): Promise<Run>;
  audit(entry: RuntimeAuditEntry): Promise<void>;
}

/** Cancels the runs of one runtime. */
export class RunCanceller {
  constructor(private readonly port: RunCancelPort) {}

  /**
   * Cancels a run, reaching every branch, model request and skill process. Cancelling a
   * cancelled run returns it; a completed or failed run is `already_terminal`. A run another live
   * node executes (it owns it, its lease runs) is cancelled by that node, asked over the bus; this
   * waits for it to settle the run (at most `cancelWaitMs`), then settles it here if it still has
   * not (a silent owner then loses the run at its next lease renewal), as it does when the owner
   * is dead or there is no bus.
   */
  async cancel(runId: string, principal: string | null = null): Promise<Run> {
    const run = await this.port.getRun(runId);
    if (run.status === 'cancelled') return run;
    if (isTerminal(run.status)) {
      throw new ConflictError(`run ${runId} is already ${run.status}`, 'already_terminal', {
        status: run.status,
      });
    }
    void this.port.audit({ principal, action: 'run.cancel', target: runId, runId, traceId: run.trace_id });
    const bus = this.port.bus;
    const owner = run.owner;
    const leaseLive =
      run.lease_expires_at !== null && Date.parse(run.lease_expires_at) > this.port.clock.now();
    if (
      bus !== undefined &&
      owner !== null &&
      owner !== this.port.nodeId &&
      leaseLive &&
      bus.health().listening
    ) {
      bus.publish({ type: 'cancel', runId, principal });
      await this.port.wait(runId, { timeoutMs: this.port.cancelWaitMs ?? 5_000 });
    }
    await this.cancelHere(runId, principal);
    return this.port.getRun(runId);
  }

  /** Aborts the run's execution here, if any, and settles it as cancelled unless it settled. */
  async cancelHere(runId: string, principal: string | null): Promise<void> {
    const { executor } = this.port;
    if (executor.holds(runId)) {
      const reason = new CancelledError(`run cancelled${principal === null ? '' : ` by ${principal}`}`);
      const released = executor.released(runId);
      executor.abort(runId, reason);
      this.port.scheduler.cancel(runId, reason);
      await released;
    }
    // A run with no local execution, or one whose execution ended meanwhile without settling it
    // (it had just suspended for an approval), is cancelled here; a settled run stays as it is.
    await this.port.lifecycle.tryMove(runId, 'cancel', { error: new CancelledError('run cancelled') });
    await this.port.approvals.expireForRun(runId, principal, 'run cancelled');
  }
}
