/**
 * The {@link RunStore} facade every driver extends: each method is one engine operation, handed
 * to the driver's {@link EngineRunStore.execute}. A driver adds only how operations run (its
 * transactions), health and close.
 */
import type { Clock } from '../../vocabulary/index.js';
import type {
  ApprovalDecision,
  AuditPage,
  ClaimOptions,
  CreateRunOptions,
  CreateRunResult,
  EventInput,
  ListApprovalsQuery,
  ListAuditQuery,
  ListEventsQuery,
  ListRunsQuery,
  RunPage,
  RunPatch,
  RunStore,
  StepResult,
  StepRunPatch,
  StepWriteOptions,
  StoreHealth,
  TransitionOptions,
} from '../run-store.js';
import type {
  Approval,
  AuditEntry,
  NewApproval,
  NewAuditEntry,
  NewRun,
  NewStep,
  Run,
  RunEvent,
  Step,
} from '../types.js';
import * as approvals from './approval-ops.js';
import type { StoreOp } from './port.js';
import * as runs from './run-ops.js';
import * as steps from './step-ops.js';

/** A run store whose algorithms are the engine's; subclasses supply the transactions. */
export abstract class EngineRunStore implements RunStore {
  abstract readonly driver: string;

  constructor(readonly clock: Clock) {}

  /**
   * Runs one operation atomically: plans it at `clock.now()`, answers its reads, decides and
   * applies its changes in one transaction, and resolves only once that transaction committed.
   */
  protected abstract execute<T>(op: StoreOp<T>): Promise<T>;

  abstract health(): Promise<StoreHealth>;
  abstract close(): Promise<void>;

  createRun(input: NewRun, opts: CreateRunOptions): Promise<CreateRunResult> {
    return this.execute(runs.createRun(input, opts));
  }

  getRun(id: string): Promise<Run | undefined> {
    return this.execute(runs.getRun(id));
  }

  listRuns(query: ListRunsQuery = {}): Promise<RunPage> {
    return this.execute(runs.listRuns(query));
  }

  transitionRun(id: string, patch: RunPatch, event: EventInput, opts?: TransitionOptions): Promise<Run> {
    return this.execute(runs.transitionRun(id, patch, event, opts));
  }

  beginStep(step: NewStep, event: EventInput, opts?: StepWriteOptions): Promise<Step> {
    return this.execute(steps.beginStep(step, event, opts));
  }

  finishStep(
    runId: string,
    seq: number,
    result: StepResult,
    runPatch: StepRunPatch | undefined,
    event: EventInput,
    opts?: StepWriteOptions,
  ): Promise<Step> {
    return this.execute(steps.finishStep(runId, seq, result, runPatch, event, opts));
  }

  getSteps(runId: string): Promise<Step[]> {
    return this.execute(steps.getSteps(runId));
  }

  getStepByKey(runId: string, key: string): Promise<Step | undefined> {
    return this.execute(steps.getStepByKey(runId, key));
  }

  appendEvent(runId: string, event: EventInput): Promise<RunEvent> {
    return this.execute(steps.appendEvent(runId, event));
  }

  listEvents(runId: string, query: ListEventsQuery = {}): Promise<RunEvent[]> {
    return this.execute(steps.listEvents(runId, query));
  }

  createApproval(a: NewApproval, event: EventInput): Promise<Approval> {
    return this.execute(approvals.createApproval(a, event));
  }

  getApproval(id: string): Promise<Approval | undefined> {
    return this.execute(approvals.getApproval(id));
  }

  listApprovals(query: ListApprovalsQuery = {}): Promise<Approval[]> {
    return this.execute(approvals.listApprovals(query));
  }

  decideApproval(id: string, decision: ApprovalDecision, event: EventInput): Promise<Approval> {
    return this.execute(approvals.decideApproval(id, decision, event));
  }

  getApprovalForStep(runId: string, stepKey: string): Promise<Approval | undefined> {
    return this.execute(approvals.getApprovalForStep(runId, stepKey));
  }

  appendAudit(entry: NewAuditEntry): Promise<AuditEntry> {
    return this.execute(approvals.appendAudit(entry));
  }

  listAudit(query: ListAuditQuery = {}): Promise<AuditPage> {
    return this.execute(approvals.listAudit(query));
  }

  claimRuns(owner: string, opts: ClaimOptions): Promise<Run[]> {
    return this.execute(runs.claimRuns(owner, opts));
  }

  renewLeases(owner: string, runIds: string[], leaseMs: number): Promise<string[]> {
    return this.execute(runs.renewLeases(owner, runIds, leaseMs));
  }

  releaseRun(id: string, owner: string): Promise<boolean> {
    return this.execute(runs.releaseRun(id, owner));
  }

  pruneFinished(olderThan: Date): Promise<number> {
    return this.execute(runs.pruneFinished(olderThan));
  }
}
