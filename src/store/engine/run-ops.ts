/**
 * Run operations: create (with idempotency), read, list, transition, claim/renew/release, prune.
 */
import { ConflictError, ValidationError } from '../../errors/index.js';
import { clampLimit, decodeCursor, encodeCursor, encodeJson } from '../common.js';
import type {
  ClaimOptions,
  CreateRunOptions,
  CreateRunResult,
  EventInput,
  ListRunsQuery,
  RunPage,
  RunPatch,
  TransitionOptions,
} from '../run-store.js';
import { isTerminal, type NewRun, type Run } from '../types.js';
import { nothing, plan, readOp, writeOp, type Change, type StoreOp } from './port.js';
import {
  applyRunPatch,
  buildApproval,
  buildAuditEntry,
  buildRun,
  checkFreeId,
  checkTransition,
  eventChange,
  iso,
  mustExist,
  pageOf,
} from './records.js';
import { approvalRow, auditRow, runRow, type RunRow } from './rows.js';

/** Creates a run and its first event; idempotent replays write nothing. */
export function createRun(input: NewRun, opts: CreateRunOptions): StoreOp<CreateRunResult> {
  // Checked in `decide` (a missing event is `input_invalid`), never thrown from here.
  const idem = opts?.idempotency;
  const create = (now: number): { value: CreateRunResult; changes: Change[] } => {
    const at = iso(now);
    const run = buildRun(input, idem?.key ?? null, at);
    const first = eventChange(run.id, 1, opts?.event, at);
    const gate = opts?.approval;
    const later = (gate?.events ?? []).map((e, i) => eventChange(run.id, i + 2, e, at).change);
    const changes: Change[] = [{ kind: 'insertRun', row: runRow(run, 1 + later.length, 0) }, first.change];
    if (gate) {
      if (gate.approval.run_id !== run.id) {
        throw new ValidationError(
          `the approval of run ${run.id} names run ${gate.approval.run_id}`,
          [{ path: 'approval.run_id', message: 'must be the new run' }],
          'input_invalid',
        );
      }
      changes.push({ kind: 'insertApproval', row: approvalRow(buildApproval(gate.approval, at)) });
    }
    changes.push(...later);
    if (idem) {
      const expires = iso(Date.parse(at) + idem.ttlSec * 1000);
      const row = {
        key: idem.key,
        fingerprint: idem.fingerprint,
        run_id: run.id,
        created_at: at,
        expires_at: expires,
      };
      changes.push({ kind: 'putKey', row });
    }
    if (opts?.audit !== undefined)
      changes.push({
        kind: 'insertAudit',
        row: auditRow(buildAuditEntry({ ...opts.audit, run_id: run.id, trace_id: run.trace_id }, now)),
      });
    return { value: { run, created: true }, changes };
  };
  if (!idem) {
    return writeOp(`run:${input.id}`, (now) =>
      plan({ taken: { kind: 'head', id: input.id, lock: false } }, ({ taken }) => {
        checkFreeId(taken, 'run', input.id);
        return create(now);
      }),
    );
  }
  return writeOp(`key:${idem.key}`, (now) =>
    plan(
      { key: { kind: 'key', key: idem.key }, taken: { kind: 'head', id: input.id, lock: false } },
      ({ key, taken }) => {
        const at = iso(now);
        // An expired key is forgotten: the new run replaces it.
        if (key && key.expires_at > at) {
          if (key.fingerprint !== idem.fingerprint) {
            throw new ConflictError(
              `idempotency key ${idem.key} was already used with a different request`,
              'idempotency_conflict',
              { idempotency_key: idem.key },
            );
          }
          if (key.run) return nothing({ run: key.run, created: false });
        }
        checkFreeId(taken, 'run', input.id);
        return create(now);
      },
    ),
  );
}

/** One run, or `undefined`. */
export function getRun(id: string): StoreOp<Run | undefined> {
  return readOp(() => plan({ cur: { kind: 'run', id, lock: false } }, ({ cur }) => nothing(cur?.run)));
}

/** A page of runs, newest first. */
export function listRuns(q: ListRunsQuery): StoreOp<RunPage> {
  return readOp(() => {
    const limit = clampLimit(q.limit, 50, 500);
    const filter = {
      ...(q.status === undefined ? {} : { statuses: Array.isArray(q.status) ? q.status : [q.status] }),
      ...(q.agent === undefined ? {} : { agent: q.agent }),
      ...(q.priority === undefined ? {} : { priority: q.priority }),
      ...(q.principal === undefined ? {} : { principal: q.principal }),
      ...(q.created_after === undefined ? {} : { createdAfter: q.created_after }),
      ...(q.cursor ? { before: decodeCursor(q.cursor) } : {}),
      ...(q.offset === undefined || q.offset <= 0 ? {} : { offset: Math.floor(q.offset) }),
      limit: limit + 1,
    };
    const reads = {
      runs: { kind: 'runs', filter } as const,
      ...(q.with_total === true ? { total: { kind: 'countRuns', filter } as const } : {}),
    };
    return plan(reads, (found) => {
      const { page, next } = pageOf(found.runs, limit, (last) => encodeCursor(last.created_at, last.id));
      const total = (found as { total?: number }).total;
      return nothing({ runs: page, next_cursor: next, ...(total === undefined ? {} : { total }) });
    });
  });
}

/** The columns a transition writes: every patchable field of `next`, and the event counter. */
function patchedColumns(next: Run, lastEventSeq: number): Partial<RunRow> {
  return {
    status: next.status,
    result: encodeJson(next.result),
    error: encodeJson(next.error),
    usage: encodeJson(next.usage),
    checkpoint: next.checkpoint,
    started_at: next.started_at,
    finished_at: next.finished_at,
    owner: next.owner,
    lease_expires_at: next.lease_expires_at,
    metadata: encodeJson(next.metadata),
    updated_at: next.updated_at,
    last_event_seq: lastEventSeq,
  };
}

/** Applies a patch verbatim and appends an event, guarded by `from` and `owner`. */
export function transitionRun(
  id: string,
  patch: RunPatch,
  event: EventInput,
  opts: TransitionOptions | undefined,
): StoreOp<Run> {
  return writeOp(id, (now) =>
    plan({ cur: { kind: 'run', id, lock: true } }, ({ cur }) => {
      const stored = mustExist(cur, id);
      checkTransition(stored.run, opts);
      const at = iso(now);
      const next = applyRunPatch(stored.run, patch, at);
      const seq = stored.last_event_seq + 1;
      const changes: Change[] = [
        { kind: 'updateRun', id, set: patchedColumns(next, seq) },
        eventChange(id, seq, event, at).change,
      ];
      return { value: next, changes };
    }),
  );
}

/** Takes claimable runs for `owner`, oldest first. */
export function claimRuns(owner: string, opts: ClaimOptions): StoreOp<Run[]> {
  return writeOp(null, (now) => {
    const statuses = opts.statuses.filter((s) => !isTerminal(s));
    const limit = Math.floor(opts.limit);
    if (statuses.length === 0 || !(limit > 0)) return plan({}, () => nothing([]));
    const at = iso(now);
    const set = { owner, lease_expires_at: iso(now + opts.leaseMs), updated_at: at };
    return plan({ free: { kind: 'claimable', statuses, now: at, limit } }, ({ free }) => ({
      value: free.map((r) => ({ ...r, ...set })),
      changes: free.length === 0 ? [] : [{ kind: 'updateRuns', ids: free.map((r) => r.id), set }],
    }));
  });
}

/** Extends the leases `owner` still holds; the ids renewed, in the order asked. */
export function renewLeases(owner: string, runIds: string[], leaseMs: number): StoreOp<string[]> {
  return writeOp(null, (now) =>
    plan({ heads: { kind: 'heads', ids: [...new Set(runIds)] } }, ({ heads }) => {
      const held = new Set(heads.filter((h) => h.owner === owner && !isTerminal(h.status)).map((h) => h.id));
      const set = { lease_expires_at: iso(now + leaseMs), updated_at: iso(now) };
      return {
        value: runIds.filter((id) => held.has(id)),
        changes: held.size === 0 ? [] : [{ kind: 'updateRuns', ids: [...held], set }],
      };
    }),
  );
}

/** Clears owner and lease when `owner` holds the (non-terminal) run. */
export function releaseRun(id: string, owner: string): StoreOp<boolean> {
  return writeOp(id, (now) =>
    plan({ head: { kind: 'head', id, lock: true } }, ({ head }) => {
      if (!head || head.owner !== owner || isTerminal(head.status)) return nothing(false);
      const set = { owner: null, lease_expires_at: null, updated_at: iso(now) };
      return { value: true, changes: [{ kind: 'updateRun', id, set }] };
    }),
  );
}

/** Deletes terminal runs finished before `olderThan` (with their records) and expired keys. */
export function pruneFinished(olderThan: Date): StoreOp<number> {
  return writeOp(null, (now) =>
    plan({ ids: { kind: 'prunable', before: olderThan.toISOString() } }, ({ ids }) => {
      const changes: Change[] = [{ kind: 'deleteExpiredKeys', before: iso(now) }];
      if (ids.length > 0) changes.unshift({ kind: 'deleteRuns', ids });
      return { value: ids.length, changes };
    }),
  );
}
