import type { Config } from '../config/index.js';
import { ConflictError, NotFoundError, SkillplaneError } from '../errors/index.js';
import {
  newId,
  type Approval,
  type CreateRunOptions,
  type ListApprovalsQuery,
  type Run,
  type RunStore,
} from '../store/index.js';
import {
  RUN_APPROVAL_STEP_KEY,
  approvalKind,
  isoIn,
  isTerminal,
  type Clock,
  type UsageData,
} from '../vocabulary/index.js';
import type { RunLifecycle } from './lifecycle.js';
import { inputText, type RunRequest } from './request.js';

/** What the approval desk needs from the runtime. */
export interface ApprovalHost {
  store: RunStore;
  lifecycle: RunLifecycle;
  config: Config;
  clock: Clock;
  nodeId: string;
  leaseMs: number;
  notify(runId: string): void;
  /** Queues a run this node now owns again. */
  schedule(run: Run): void;
  audit(entry: RuntimeAuditEntry): Promise<void>;
}

/** An audit entry the runtime writes (through the store; never fails a run). */
export interface RuntimeAuditEntry {
  principal: string | null;
  action: string;
  target: string;
  runId: string | null;
  traceId: string | null;
  data?: Record<string, unknown>;
}

/** A request to approve one risk-tagged skill call of a run. */
export interface ApprovalRequest {
  stepKey: string;
  skill: { id: string };
  args: unknown;
  riskTags: string[];
}

/** How much of a run's input a run-level approval shows the person deciding it. */
const SUBJECT_INPUT_CHARS = 500;

/**
 * The one owner of approvals — of risk-tagged skill calls, and of whole runs whose request asks
 * for one: requesting one (a skill call's run keeps running until its execution suspends; a run
 * to approve is created waiting), looking them up, deciding, expiring, and moving the run on once
 * nothing is pending — re-queued after an approval, failed with `approval_denied` after a denial
 * or expiry. Run status changes go through the lifecycle.
 */
export class ApprovalDesk {
  constructor(private readonly host: ApprovalHost) {}

  /**
   * The run-level approval a new run is created waiting for (its request has `approval.required`),
   * with the events that follow `run.created`; the store writes them with the run in one
   * transaction. Its `args` are what the person deciding sees: the agents and the input.
   */
  runGate(runId: string, req: RunRequest): NonNullable<CreateRunOptions['approval']> {
    const id = newId('apr_', this.host.clock.now());
    const text = inputText(req.input);
    const args = {
      strategy: req.strategy,
      ...(req.agent === undefined ? {} : { agent: req.agent }),
      ...(req.agents === undefined ? {} : { agents: req.agents }),
      ...(req.items === undefined ? {} : { items: req.items.length }),
      input:
        text.length > SUBJECT_INPUT_CHARS
          ? `${text.slice(0, SUBJECT_INPUT_CHARS)}… (${text.length} chars)`
          : text,
    };
    return {
      approval: {
        id,
        run_id: runId,
        step_key: RUN_APPROVAL_STEP_KEY,
        skill_id: '',
        args,
        risk_tags: [],
        expires_at: isoIn(this.host.clock, this.host.config.agents.approval_timeout_sec * 1000),
      },
      events: [
        {
          type: 'approval.requested',
          data: {
            approval_id: id,
            step_key: RUN_APPROVAL_STEP_KEY,
            skill_id: '',
            risk_tags: [],
            kind: 'run',
          },
        },
        { type: 'run.waiting_approval', data: { approval_id: id } },
      ],
    };
  }

  /** Stores a pending approval for a step of a running run. */
  async request(run: Run, req: ApprovalRequest): Promise<Approval> {
    const id = newId('apr_', this.host.clock.now());
    const approval = await this.host.store.createApproval(
      {
        id,
        run_id: run.id,
        step_key: req.stepKey,
        skill_id: req.skill.id,
        args: req.args,
        risk_tags: req.riskTags,
        expires_at: isoIn(this.host.clock, this.host.config.agents.approval_timeout_sec * 1000),
      },
      {
        type: 'approval.requested',
        data: { approval_id: id, step_key: req.stepKey, skill_id: req.skill.id, risk_tags: req.riskTags },
      },
    );
    this.host.notify(run.id);
    return approval;
  }

  /** The newest approval asked for a step of a run, if any. */
  forStep(runId: string, stepKey: string): Promise<Approval | undefined> {
    return this.host.store.getApprovalForStep(runId, stepKey);
  }

  /** Approvals newest first. */
  list(query: ListApprovalsQuery): Promise<Approval[]> {
    return this.host.store.listApprovals(query);
  }

  /** One approval, or `not_found`. */
  async get(approvalId: string): Promise<Approval> {
    const approval = await this.host.store.getApproval(approvalId);
    if (approval === undefined) throw new NotFoundError('approval', approvalId);
    return approval;
  }

  /** Approves or denies; `not_found` for an unknown id, `already_decided` when decided before. */
  async decide(
    approvalId: string,
    decision: { approve: boolean; reason?: string; principal: string | null },
  ): Promise<Approval> {
    const { store } = this.host;
    await this.get(approvalId);
    const status = decision.approve ? 'approved' : 'denied';
    const approval = await store.decideApproval(
      approvalId,
      { status, decided_by: decision.principal, reason: decision.reason ?? null },
      {
        type: 'approval.decided',
        data: { approval_id: approvalId, status, decided_by: decision.principal },
      },
    );
    const run = await store.getRun(approval.run_id);
    await this.host.audit({
      principal: decision.principal,
      action: 'approval.decide',
      target: approval.id,
      runId: approval.run_id,
      traceId: run?.trace_id ?? null,
      data: {
        kind: approvalKind(approval),
        ...(approvalKind(approval) === 'run' ? {} : { skill_id: approval.skill_id }),
        decision: approval.status,
        reason: decision.reason ?? null,
      },
    });
    await this.moveOn(approval.run_id);
    return approval;
  }

  /** Expires pending approvals past their deadline; their runs fail with `approval_denied`. */
  async expire(): Promise<number> {
    const now = this.host.clock.now();
    const pending = await this.host.store.listApprovals({ status: 'pending', limit: 500 });
    let n = 0;
    for (const a of pending) {
      if (a.expires_at === null || Date.parse(a.expires_at) > now) continue;
      try {
        await this.close(a, null, 'approval timed out');
        await this.host.audit({
          principal: null,
          action: 'approval.expire',
          target: a.id,
          runId: a.run_id,
          traceId: (await this.host.store.getRun(a.run_id))?.trace_id ?? null,
          data: { kind: approvalKind(a), ...(approvalKind(a) === 'run' ? {} : { skill_id: a.skill_id }) },
        });
        await this.moveOn(a.run_id);
        n++;
      } catch (err) {
        if (!(err instanceof ConflictError)) throw err;
      }
    }
    return n;
  }

  /** Expires every pending approval of a run (it was cancelled); quiet about ones decided meanwhile. */
  async expireForRun(runId: string, principal: string | null, reason: string): Promise<void> {
    for (const a of await this.host.store.listApprovals({ run_id: runId, status: 'pending' })) {
      await this.close(a, principal, reason).catch((err: unknown) => {
        if (!(err instanceof ConflictError)) throw err;
      });
    }
  }

  private close(a: Approval, principal: string | null, reason: string): Promise<Approval> {
    return this.host.store.decideApproval(
      a.id,
      { status: 'expired', decided_by: principal, reason },
      { type: 'approval.decided', data: { approval_id: a.id, status: 'expired', decided_by: principal } },
    );
  }

  /**
   * The run's execution has stopped to wait for approval `approvalId`. With a decision still
   * pending, the run is suspended (keeping its usage, freeing its owner). When every approval was
   * already decided while other branches were finishing, it goes straight on: re-queued, or
   * failed on a refusal — it never shows a wait for a decision already made.
   */
  async suspend(runId: string, usage: UsageData, approvalId: string): Promise<void> {
    const approvals = await this.host.store.listApprovals({ run_id: runId });
    if (approvals.some((a) => a.status === 'pending')) {
      await this.host.lifecycle.tryMove(runId, 'suspend', { node: this.host.nodeId, usage, approvalId });
    }
    // Also covers a decision that landed between the read above and the move.
    await this.moveOn(runId, { usage });
  }

  /**
   * Moves a run on after a decision: any denied or expired approval of the run fails it; with
   * none pending and the run suspended, it is re-queued on this node and resumes from the step
   * that asked. A run still executing is left to suspend (and reconsider) first.
   */
  private async moveOn(runId: string, suspended?: { usage: UsageData }): Promise<void> {
    const { store, lifecycle } = this.host;
    const run = await store.getRun(runId);
    if (run === undefined || isTerminal(run.status)) return;
    const approvals = await store.listApprovals({ run_id: runId });
    const refused = approvals.find((a) => a.status === 'denied' || a.status === 'expired');
    if (refused !== undefined) {
      const error =
        approvalKind(refused) === 'run'
          ? new SkillplaneError('approval_denied', runRefusal(refused), {
              data: { approval_id: refused.id, kind: 'run', status: refused.status },
            })
          : new SkillplaneError(
              'approval_denied',
              `approval ${refused.id} for ${refused.skill_id} was ${refused.status}`,
              { data: { approval_id: refused.id, skill_id: refused.skill_id, status: refused.status } },
            );
      await lifecycle.tryMove(runId, 'fail', { error });
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
    const queued = await lifecycle.tryMove(runId, 'requeue', {
      node: this.host.nodeId,
      leaseMs: this.host.leaseMs,
      ...(suspended === undefined ? { from: ['waiting_approval'] } : { usage: suspended.usage }),
    });
    if (queued !== undefined) this.host.schedule(queued);
  }
}

/** Why a run failed whose run-level approval was denied or expired, said plainly. */
function runRefusal(a: Approval): string {
  if (a.status === 'expired') {
    return `the run's approval ${a.id} expired before anyone decided it; no agent ran`;
  }
  const by = a.decided_by === null ? '' : ` by ${a.decided_by}`;
  return `the run's approval ${a.id} was denied${by}${a.reason === null ? '' : `: ${a.reason}`}; no agent ran`;
}
