import type { Config } from '../config/index.js';
import { ConflictError, NotFoundError, SkillplaneError } from '../errors/index.js';
import type { Approval, Run, RunStore } from '../store/index.js';
import { isTerminal } from '../vocabulary/index.js';
import type { RunExecution } from './execution.js';

/** What the approval desk needs from the runtime. */
export interface ApprovalHost {
  store: RunStore;
  config: Config;
  nodeId: string;
  leaseMs: number;
  notify(runId: string, status?: Run['status']): void;
  /** Fails a run (terminal; a run already terminal is left alone). */
  fail(runId: string, error: SkillplaneError, from: Run['status'][]): Promise<void>;
  /** Queues a run this node now owns again. */
  schedule(run: Run): void;
  audit(
    principal: string | null,
    action: string,
    target: string,
    traceId: string | null,
    data?: Record<string, unknown>,
  ): Promise<void>;
}

/**
 * Human approvals of risk-tagged skill calls: requesting one (the run keeps running until its
 * execution suspends), deciding, expiring, and moving the run on once nothing is pending —
 * re-queued after an approval, failed with `approval_denied` after a denial or expiry.
 */
export class ApprovalDesk {
  constructor(private readonly host: ApprovalHost) {}

  /** Stores a pending approval for a step of a running run. */
  async request(
    exec: RunExecution,
    req: { stepKey: string; skill: { id: string }; args: unknown; riskTags: string[] },
  ): Promise<Approval> {
    const { approval } = await this.host.store.createApproval(
      {
        run_id: exec.run.id,
        step_key: req.stepKey,
        skill_id: req.skill.id,
        args: req.args,
        risk_tags: req.riskTags,
        expires_at: new Date(Date.now() + this.host.config.agents.approval_timeout_sec * 1000).toISOString(),
      },
      // The run stays `running` while its other branches finish; it moves to
      // `waiting_approval` (and frees its slot) when the execution actually suspends.
      { patch: { status: 'running' }, from: ['running'] },
    );
    this.host.notify(exec.run.id);
    return approval;
  }

  /** Approves or denies; `not_found` for an unknown id, `already_decided` when decided before. */
  async decide(
    approvalId: string,
    decision: { approve: boolean; reason?: string; principal: string | null },
  ): Promise<Approval> {
    const { store } = this.host;
    if ((await store.getApproval(approvalId)) === undefined) throw new NotFoundError('approval', approvalId);
    const approval = await store.decideApproval(approvalId, {
      status: decision.approve ? 'approved' : 'denied',
      decided_by: decision.principal,
      reason: decision.reason ?? null,
    });
    const run = await store.getRun(approval.run_id);
    await this.host.audit(decision.principal, 'approval.decide', approval.id, run?.trace_id ?? null, {
      run_id: approval.run_id,
      skill_id: approval.skill_id,
      decision: approval.status,
      reason: decision.reason ?? null,
    });
    await store.appendEvent(approval.run_id, 'approval.decided', {
      approval_id: approval.id,
      status: approval.status,
      decided_by: decision.principal,
    });
    await this.moveOn(approval.run_id);
    return approval;
  }

  /** Expires pending approvals past their deadline; their runs fail with `approval_denied`. */
  async expire(now = new Date()): Promise<number> {
    const pending = await this.host.store.listApprovals({ status: 'pending', limit: 500 });
    let n = 0;
    for (const a of pending) {
      if (a.expires_at === null || Date.parse(a.expires_at) > now.getTime()) continue;
      try {
        await this.host.store.decideApproval(a.id, {
          status: 'expired',
          decided_by: null,
          reason: 'approval timed out',
        });
        await this.host.audit(null, 'approval.expire', a.id, null, { run_id: a.run_id });
        await this.moveOn(a.run_id);
        n++;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    return n;
  }

  /**
   * The run's execution has stopped to wait for approval `approvalId`. With a decision still
   * pending, the run moves to `waiting_approval` (keeping its usage, freeing its owner). When every
   * approval was already decided while other branches were finishing, it goes straight on:
   * re-queued, or failed on a refusal — it never shows a wait for a decision already made.
   */
  async suspend(runId: string, usage: Run['usage'], approvalId: string): Promise<void> {
    const { store } = this.host;
    const approvals = await store.listApprovals({ run_id: runId });
    if (approvals.some((a) => a.status === 'pending')) {
      await store
        .transitionRun(
          runId,
          { status: 'waiting_approval', usage, owner: null, lease_expires_at: null },
          { type: 'run.waiting_approval', data: { approval_id: approvalId } },
          { from: ['running', 'waiting_approval'], owner: this.host.nodeId },
        )
        .catch((err: unknown) => {
          if (!(err instanceof ConflictError)) throw err;
        });
      this.host.notify(runId, 'waiting_approval');
    }
    // Also covers a decision that landed between the read above and the transition.
    await this.moveOn(runId, { usage });
  }

  /**
   * Moves a run on after a decision: any denied or expired approval of the run fails it; with
   * none pending and the run suspended, it is re-queued on this node and resumes from the step
   * that asked. A run still executing is left to suspend (and reconsider) first.
   */
  private async moveOn(runId: string, suspended?: { usage: Run['usage'] }): Promise<void> {
    const { store } = this.host;
    const run = await store.getRun(runId);
    if (run === undefined || isTerminal(run.status)) return;
    const approvals = await store.listApprovals({ run_id: runId });
    const refused = approvals.find((a) => a.status === 'denied' || a.status === 'expired');
    if (refused !== undefined) {
      const err = new SkillplaneError(
        'approval_denied',
        `approval ${refused.id} for ${refused.skill_id} was ${refused.status}`,
        {
          data: { approval_id: refused.id, skill_id: refused.skill_id, status: refused.status },
        },
      );
      await this.host.fail(runId, err, ['waiting_approval', 'running', 'queued']);
      return;
    }
    // A run still `running` is either still executing (it will suspend and come back here) or
    // has just stopped (`suspended`): only then may it be re-queued from `running`.
    const waiting =
      run.status === 'waiting_approval' || (suspended !== undefined && run.status === 'running');
    if (approvals.some((a) => a.status === 'pending') || !waiting) {
      this.host.notify(runId);
      return;
    }
    try {
      const queued = await store.transitionRun(
        runId,
        // This node resumes it, so it owns it (and renews its lease) while it waits in the queue.
        {
          status: 'queued',
          owner: this.host.nodeId,
          lease_expires_at: new Date(Date.now() + this.host.leaseMs).toISOString(),
          ...(suspended === undefined ? {} : { usage: suspended.usage }),
        },
        { type: 'run.queued', data: { after: 'approval' } },
        { from: suspended === undefined ? ['waiting_approval'] : ['waiting_approval', 'running'] },
      );
      this.host.schedule(queued);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
    this.host.notify(runId);
  }
}
