/**
 * Approval and audit operations. An approval's writes never touch its run beyond the event they
 * append: suspending and resuming the run is the lifecycle module's business.
 */
import { NotFoundError } from '../../errors/index.js';
import { clampLimit, decodeCursor, encodeCursor } from '../common.js';
import type {
  ApprovalDecision,
  AuditPage,
  EventInput,
  ListApprovalsQuery,
  ListAuditQuery,
} from '../run-store.js';
import type { Approval, AuditEntry, NewApproval, NewAuditEntry } from '../types.js';
import { nothing, plan, readOp, writeOp, type Change, type StoreOp } from './port.js';
import {
  buildApproval,
  buildAuditEntry,
  checkFreeId,
  checkNotTerminal,
  checkPending,
  eventChange,
  iso,
  mustExist,
  pageOf,
} from './records.js';
import { approvalRow, auditRow } from './rows.js';

/** Creates a pending approval and appends its event; the run's status is left as it is. */
export function createApproval(a: NewApproval, event: EventInput): StoreOp<Approval> {
  return writeOp(a.run_id, (now) =>
    plan(
      { cur: { kind: 'head', id: a.run_id, lock: true }, taken: { kind: 'approval', id: a.id, lock: false } },
      ({ cur, taken }) => {
        const run = mustExist(cur, a.run_id);
        checkNotTerminal(run);
        checkFreeId(taken, 'approval', a.id);
        const at = iso(now);
        const approval = buildApproval(a, at);
        const seq = run.last_event_seq + 1;
        const changes: Change[] = [
          { kind: 'insertApproval', row: approvalRow(approval) },
          { kind: 'updateRun', id: a.run_id, set: { last_event_seq: seq } },
          eventChange(a.run_id, seq, event, at).change,
        ];
        return { value: approval, changes };
      },
    ),
  );
}

/** One approval, or `undefined`. */
export function getApproval(id: string): StoreOp<Approval | undefined> {
  return readOp(() => plan({ a: { kind: 'approval', id, lock: false } }, ({ a }) => nothing(a)));
}

/** Approvals newest first. */
export function listApprovals(q: ListApprovalsQuery): StoreOp<Approval[]> {
  const filter = {
    ...(q.status === undefined ? {} : { status: q.status }),
    ...(q.run_id === undefined ? {} : { runId: q.run_id }),
    ...(q.principal === undefined ? {} : { principal: q.principal }),
    limit: clampLimit(q.limit, 100, 1000),
  };
  return readOp(() => plan({ list: { kind: 'approvals', filter } }, ({ list }) => nothing(list)));
}

/** Decides a pending approval and appends its event to the run, together. */
export function decideApproval(id: string, d: ApprovalDecision, event: EventInput): StoreOp<Approval> {
  // The run is not known before the approval is read: the operation runs alone.
  return writeOp(null, (now) =>
    plan(
      { cur: { kind: 'headOfApproval', approvalId: id }, prev: { kind: 'approval', id, lock: true } },
      ({ cur, prev }) => {
        if (!prev) throw new NotFoundError('approval', id);
        checkPending(prev);
        const run = mustExist(cur, prev.run_id);
        const at = iso(now);
        const set = { status: d.status, decided_by: d.decided_by, reason: d.reason ?? null, decided_at: at };
        const seq = run.last_event_seq + 1;
        const changes: Change[] = [
          { kind: 'updateApproval', id, set },
          { kind: 'updateRun', id: run.id, set: { last_event_seq: seq } },
          eventChange(run.id, seq, event, at).change,
        ];
        return { value: { ...prev, ...set }, changes };
      },
    ),
  );
}

/** The newest approval requested for a step of a run. */
export function getApprovalForStep(runId: string, stepKey: string): StoreOp<Approval | undefined> {
  return readOp(() => plan({ a: { kind: 'approvalForStep', runId, stepKey } }, ({ a }) => nothing(a)));
}

/** Appends to the audit trail. */
export function appendAudit(e: NewAuditEntry): StoreOp<AuditEntry> {
  return writeOp(`audit:${e.action}`, (now) =>
    plan({}, () => {
      const entry = buildAuditEntry(e, now);
      return { value: entry, changes: [{ kind: 'insertAudit', row: auditRow(entry) }] };
    }),
  );
}

/** A page of audit entries, newest first. */
export function listAudit(q: ListAuditQuery): StoreOp<AuditPage> {
  return readOp(() => {
    const limit = clampLimit(q.limit, 100, 1000);
    const filter = {
      ...(q.run_id === undefined ? {} : { runId: q.run_id }),
      ...(q.principal === undefined ? {} : { principal: q.principal }),
      ...(q.action === undefined ? {} : { action: q.action }),
      ...(q.target === undefined ? {} : { target: q.target }),
      ...(q.since === undefined ? {} : { since: q.since }),
      ...(q.until === undefined ? {} : { until: q.until }),
      ...(q.cursor ? { before: decodeCursor(q.cursor, 'audit') } : {}),
      limit: limit + 1,
    };
    return plan({ entries: { kind: 'audit', filter } }, ({ entries }) => {
      const { page, next } = pageOf(entries, limit, (last) => encodeCursor(last.at, last.id, 'audit'));
      return nothing({ entries: page, next_cursor: next });
    });
  });
}
