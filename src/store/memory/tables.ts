/**
 * The tables of the memory store: the engine's rows kept in Maps, answering its reads and applying
 * its changes synchronously. Rows hold JSON as text, exactly as SQLite does, so every read decodes
 * a fresh record: a caller can never alias (and mutate) what is stored, and a value is stored with
 * the same JSON semantics as on disk. Terminal runs beyond a bound are evicted, oldest first.
 */
import type { ApprovalFilter, AuditFilter, Change, Read, RunFilter, SyncPort } from '../engine/port.js';
import {
  TEXT_CODEC,
  rowDecoders,
  type ApprovalRow,
  type AuditRow,
  type EventRow,
  type KeyRow,
  type Row,
  type RunRow,
  type StepRow,
} from '../engine/rows.js';
import { RUN_SCHEMA_VERSION, isTerminal } from '../types.js';

const decode = rowDecoders(TEXT_CODEC);
const asRow = (r: object): Row => r as Row;

/** Newest first by (`at`, `id`). */
const newestFirst = (a: readonly [string, string], b: readonly [string, string]): number =>
  a[0] === b[0] ? cmp(b[1], a[1]) : cmp(b[0], a[0]);

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** True when (`at`, `id`) is strictly before the cursor position in a newest-first list. */
function beforeCursor(at: string, id: string, before: { at: string; id: string } | undefined): boolean {
  return !before || at < before.at || (at === before.at && id < before.id);
}

/** One run with everything that belongs to it. */
interface RunSlot {
  row: RunRow;
  /** By seq - 1. */
  steps: StepRow[];
  stepsByKey: Map<string, StepRow>;
  /** By seq - 1 (seqs are gap-free). */
  events: EventRow[];
  approvals: ApprovalRow[];
}

/** Maps holding the store's rows. */
export class MemoryTables implements SyncPort {
  private readonly runs = new Map<string, RunSlot>();
  private readonly approvals = new Map<string, ApprovalRow>();
  private readonly keys = new Map<string, KeyRow>();
  /** Sorted oldest first by (`at`, `id`). */
  private readonly audit: AuditRow[] = [];
  /** Terminal runs, in the order they became terminal. */
  private readonly finished = new Set<string>();

  constructor(private readonly maxFinishedRuns: number) {}

  /** How many runs are stored. */
  get size(): number {
    return this.runs.size;
  }

  read(r: Read): unknown {
    switch (r.kind) {
      case 'run': {
        const s = this.runs.get(r.id);
        return s ? decode.storedRun(asRow(s.row)) : undefined;
      }
      case 'head':
        return this.head(r.id);
      case 'heads':
        return r.ids.flatMap((id) => this.head(id) ?? []);
      case 'headOfApproval': {
        const a = this.approvals.get(r.approvalId);
        return a ? this.head(a.run_id) : undefined;
      }
      case 'runs':
        return this.listRuns(r.filter);
      case 'countRuns':
        return this.matchingRuns({ ...r.filter, before: undefined }).length;
      case 'claimable': {
        const rows = [...this.runs.values()]
          .map((s) => s.row)
          .filter(
            (x) =>
              r.statuses.includes(x.status) &&
              x.schema_version <= RUN_SCHEMA_VERSION &&
              (x.owner === null || x.lease_expires_at === null || x.lease_expires_at < r.now),
          )
          .sort((a, b) => newestFirst([b.created_at, b.id], [a.created_at, a.id]));
        return rows.slice(0, r.limit).map((x) => decode.run(asRow(x)));
      }
      case 'prunable':
        return [...this.runs.values()]
          .map((s) => s.row)
          .filter((x) => isTerminal(x.status) && (x.finished_at ?? x.updated_at) < r.before)
          .map((x) => x.id);
      case 'stepByKey': {
        const s = this.runs.get(r.runId)?.stepsByKey.get(r.key);
        return s ? decode.step(asRow(s)) : undefined;
      }
      case 'stepBySeq': {
        const s = this.runs.get(r.runId)?.steps[r.seq - 1];
        return s ? decode.step(asRow(s)) : undefined;
      }
      case 'steps':
        return (this.runs.get(r.runId)?.steps ?? []).map((s) => decode.step(asRow(s)));
      case 'events':
        return (this.runs.get(r.runId)?.events ?? [])
          .slice(r.afterSeq, r.afterSeq + r.limit)
          .map((e) => decode.event(asRow(e)));
      case 'key': {
        const k = this.keys.get(r.key);
        if (!k) return undefined;
        const run = this.runs.get(k.run_id);
        return {
          fingerprint: k.fingerprint,
          expires_at: k.expires_at,
          run: run ? decode.run(asRow(run.row)) : undefined,
        };
      }
      case 'approval': {
        const a = this.approvals.get(r.id);
        return a ? decode.approval(asRow(a)) : undefined;
      }
      case 'approvals':
        return this.listApprovals(r.filter);
      case 'approvalForStep': {
        const list = this.runs.get(r.runId)?.approvals.filter((a) => a.step_key === r.stepKey) ?? [];
        const newest = list.sort((a, b) => cmp(b.id, a.id))[0];
        return newest ? decode.approval(asRow(newest)) : undefined;
      }
      case 'audit':
        return this.listAudit(r.filter);
    }
  }

  private head(id: string): unknown {
    const s = this.runs.get(id);
    return s ? decode.head(asRow(s.row)) : undefined;
  }

  private listRuns(f: RunFilter): unknown {
    const rows = this.matchingRuns(f);
    rows.sort((a, b) => newestFirst([a.created_at, a.id], [b.created_at, b.id]));
    const from = f.offset ?? 0;
    return rows.slice(from, from + f.limit).map((x) => decode.run(asRow(x)));
  }

  /** The rows a run filter matches (its `offset` and `limit` aside), unordered. */
  private matchingRuns(f: RunFilter): RunRow[] {
    const rows: RunRow[] = [];
    for (const { row } of this.runs.values()) {
      if (
        (!f.statuses || f.statuses.includes(row.status)) &&
        (f.agent === undefined || row.agent === f.agent) &&
        (f.priority === undefined || row.priority === f.priority) &&
        (f.principal === undefined || row.principal === f.principal) &&
        (f.createdAfter === undefined || row.created_at > f.createdAfter) &&
        beforeCursor(row.created_at, row.id, f.before)
      )
        rows.push(row);
    }
    return rows;
  }

  private listApprovals(f: ApprovalFilter): unknown {
    const pool =
      f.runId === undefined ? [...this.approvals.values()] : (this.runs.get(f.runId)?.approvals ?? []);
    return pool
      .filter(
        (a) =>
          (f.status === undefined || a.status === f.status) &&
          (f.principal === undefined || this.runs.get(a.run_id)?.row.principal === f.principal),
      )
      .sort((a, b) => cmp(b.id, a.id))
      .slice(0, f.limit)
      .map((a) => decode.approval(asRow(a)));
  }

  private listAudit(f: AuditFilter): unknown {
    const out: AuditRow[] = [];
    for (let i = this.audit.length - 1; i >= 0 && out.length < f.limit; i--) {
      const e = this.audit[i] as AuditRow;
      if (
        (f.runId === undefined || e.run_id === f.runId) &&
        (f.principal === undefined || e.principal === f.principal) &&
        (f.action === undefined || e.action === f.action) &&
        (f.target === undefined || e.target === f.target) &&
        (f.since === undefined || e.at >= f.since) &&
        (f.until === undefined || e.at < f.until) &&
        beforeCursor(e.at, e.id, f.before)
      )
        out.push(e);
    }
    return out.map((e) => decode.audit(asRow(e)));
  }

  apply(c: Change): void {
    switch (c.kind) {
      case 'insertRun':
        this.runs.set(c.row.id, { row: c.row, steps: [], stepsByKey: new Map(), events: [], approvals: [] });
        this.noteStatus(c.row);
        return;
      case 'updateRun':
        this.updateRun(c.id, c.set);
        return;
      case 'updateRuns':
        for (const id of c.ids) this.updateRun(id, c.set);
        return;
      case 'insertStep': {
        const s = this.slot(c.row.run_id);
        s.steps[c.row.seq - 1] = c.row;
        s.stepsByKey.set(c.row.key, c.row);
        return;
      }
      case 'updateStep': {
        const step = this.slot(c.runId).steps[c.seq - 1];
        if (step) Object.assign(step, c.set);
        return;
      }
      case 'insertEvent':
        this.slot(c.row.run_id).events[c.row.seq - 1] = c.row;
        return;
      case 'putKey':
        this.keys.set(c.row.key, c.row);
        return;
      case 'insertApproval':
        this.approvals.set(c.row.id, c.row);
        this.slot(c.row.run_id).approvals.push(c.row);
        return;
      case 'updateApproval': {
        const a = this.approvals.get(c.id);
        if (a) Object.assign(a, c.set);
        return;
      }
      case 'insertAudit':
        this.insertAudit(c.row);
        return;
      case 'deleteRuns':
        for (const id of c.ids) this.deleteRun(id);
        return;
      case 'deleteExpiredKeys':
        for (const [k, v] of this.keys) if (v.expires_at < c.before) this.keys.delete(k);
        return;
    }
  }

  /** Evicts the oldest terminal runs beyond the bound (after an operation, never during one). */
  evictFinished(): void {
    for (const id of this.finished) {
      if (this.finished.size <= this.maxFinishedRuns) return;
      this.deleteRun(id);
    }
  }

  /** Test hook: overwrites the stored schema version of a run. */
  forceSchemaVersion(runId: string, version: number): void {
    const s = this.runs.get(runId);
    if (s) s.row.schema_version = version;
  }

  private slot(runId: string): RunSlot {
    const s = this.runs.get(runId);
    // The engine reads (and locks) a run before writing under it.
    if (!s) throw new Error(`memory store: no run ${runId} to write under`);
    return s;
  }

  private updateRun(id: string, set: Partial<RunRow>): void {
    const s = this.runs.get(id);
    if (!s) return;
    Object.assign(s.row, set);
    if (set.status !== undefined) this.noteStatus(s.row);
  }

  private noteStatus(row: RunRow): void {
    if (isTerminal(row.status)) this.finished.add(row.id);
  }

  private insertAudit(row: AuditRow): void {
    // Usually the newest: walk back from the end to keep the list sorted by (at, id).
    let i = this.audit.length;
    while (i > 0 && newestFirst([row.at, row.id], [this.audit[i - 1]!.at, this.audit[i - 1]!.id]) > 0) i--;
    this.audit.splice(i, 0, row);
  }

  private deleteRun(id: string): void {
    const s = this.runs.get(id);
    this.finished.delete(id);
    if (!s) return;
    this.runs.delete(id);
    for (const a of s.approvals) this.approvals.delete(a.id);
    const key = s.row.idempotency_key;
    if (key !== null && this.keys.get(key)?.run_id === id) this.keys.delete(key);
  }
}
