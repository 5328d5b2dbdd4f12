/**
 * In-process {@link RunStore} for tests and benchmarks. Every method runs synchronously inside one
 * call, which makes each of them trivially atomic; records are deep-copied in and out so callers
 * never share mutable state with the store.
 */
import { NotFoundError, SkillplaneError, ValidationError } from '../errors/index.js';
import {
  applyRunPatch,
  applyStepRunPatch,
  approvalRequestedEvent,
  buildApproval,
  buildRun,
  buildStep,
  checkCanBeginStep,
  checkFingerprint,
  checkPending,
  checkSchemaVersion,
  checkStepRunning,
  checkTransition,
  clampLimit,
  createdEvent,
  decodeCursor,
  encodeCursor,
  isoIn,
  newId,
  nowIso,
  retryStep,
} from './common.js';
import type {
  ApprovalDecision,
  ApprovalRunChange,
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
  StoreHealth,
  TransitionOptions,
} from './run-store.js';
import {
  RUN_SCHEMA_VERSION,
  isTerminal,
  type Approval,
  type AuditEntry,
  type NewApproval,
  type NewAuditEntry,
  type NewRun,
  type NewStep,
  type Run,
  type RunEvent,
  type Step,
} from './types.js';

interface RunSlot {
  run: Run;
  steps: Step[];
  events: RunEvent[];
}

const clone = <T>(v: T): T => {
  try {
    return structuredClone(v);
  } catch (err) {
    throw new ValidationError(
      `a value cannot be stored: ${(err as Error).message}`,
      [{ path: '', message: 'not cloneable' }],
      'input_invalid',
    );
  }
};

/** A {@link RunStore} that keeps everything in memory. */
export class MemoryRunStore implements RunStore {
  readonly driver = 'memory';
  private readonly runs = new Map<string, RunSlot>();
  private readonly keys = new Map<string, { fingerprint: string; run_id: string; expires: number }>();
  private readonly approvals = new Map<string, Approval>();
  private readonly audit: AuditEntry[] = [];
  private closed = false;

  private slot(id: string): RunSlot {
    this.assertOpen();
    const s = this.runs.get(id);
    if (!s) throw new NotFoundError('run', id);
    checkSchemaVersion(id, s.run.schema_version);
    return s;
  }

  private assertOpen(): void {
    if (this.closed) throw new SkillplaneError('store_closed', 'the run store is closed');
  }

  private pushEvent(slot: RunSlot, ev: EventInput, at: string): RunEvent {
    const e: RunEvent = {
      run_id: slot.run.id,
      seq: slot.events.length + 1,
      type: ev.type,
      data: clone(ev.data ?? null),
      at,
    };
    slot.events.push(e);
    return e;
  }

  private transitionSync(
    id: string,
    patch: RunPatch,
    event: EventInput | undefined,
    opts?: TransitionOptions,
  ): Run {
    const slot = this.slot(id);
    checkTransition(slot.run, opts);
    const at = nowIso();
    const next = applyRunPatch(slot.run, clone(patch), at);
    if (event) this.pushEvent(slot, event, at);
    slot.run = next;
    return next;
  }

  async createRun(input: NewRun, opts?: CreateRunOptions): Promise<CreateRunResult> {
    this.assertOpen();
    const idem = opts?.idempotency;
    if (idem) {
      const k = this.keys.get(idem.key);
      if (k && k.expires > Date.now()) {
        checkFingerprint(idem.key, k.fingerprint, idem.fingerprint);
        const existing = this.runs.get(k.run_id);
        if (existing) return { run: clone(existing.run), created: false };
      }
    }
    const at = nowIso();
    const run = buildRun(clone(input), opts, at);
    if (this.runs.has(run.id)) throw new SkillplaneError('conflict', `run ${run.id} already exists`);
    const slot: RunSlot = { run, steps: [], events: [] };
    this.pushEvent(slot, createdEvent(run, opts), at);
    this.runs.set(run.id, slot);
    if (idem) {
      this.keys.set(idem.key, {
        fingerprint: idem.fingerprint,
        run_id: run.id,
        expires: Date.now() + idem.ttlSec * 1000,
      });
    }
    return { run: clone(run), created: true };
  }

  async getRun(id: string): Promise<Run | undefined> {
    this.assertOpen();
    const s = this.runs.get(id);
    if (!s) return undefined;
    checkSchemaVersion(id, s.run.schema_version);
    return clone(s.run);
  }

  async listRuns(q: ListRunsQuery = {}): Promise<RunPage> {
    this.assertOpen();
    const limit = clampLimit(q.limit, 50, 500);
    const statuses = q.status === undefined ? undefined : Array.isArray(q.status) ? q.status : [q.status];
    const cur = q.cursor ? decodeCursor(q.cursor) : undefined;
    const all = [...this.runs.values()]
      .map((s) => s.run)
      .filter(
        (r) =>
          (!statuses || statuses.includes(r.status)) &&
          (q.agent === undefined || r.agent === q.agent) &&
          (q.priority === undefined || r.priority === q.priority) &&
          (q.principal === undefined || r.principal === q.principal) &&
          (q.created_after === undefined || r.created_at > q.created_after) &&
          (!cur || r.created_at < cur.created_at || (r.created_at === cur.created_at && r.id < cur.id)),
      )
      .sort((a, b) => (a.created_at === b.created_at ? cmp(b.id, a.id) : cmp(b.created_at, a.created_at)));
    const page = all.slice(0, limit);
    for (const r of page) checkSchemaVersion(r.id, r.schema_version);
    const last = page[page.length - 1];
    return {
      runs: page.map(clone),
      next_cursor: all.length > limit && last ? encodeCursor(last.created_at, last.id) : null,
    };
  }

  async transitionRun(
    id: string,
    patch: RunPatch,
    event?: EventInput,
    opts?: TransitionOptions,
  ): Promise<Run> {
    return clone(this.transitionSync(id, patch, event, opts));
  }

  async beginStep(step: NewStep, event?: EventInput): Promise<Step> {
    const slot = this.slot(step.run_id);
    const idx = slot.steps.findIndex((s) => s.key === step.key);
    const prev = idx >= 0 ? slot.steps[idx] : undefined;
    if (prev?.status === 'completed') return clone(prev);
    checkCanBeginStep(slot.run);
    const at = nowIso();
    const s = prev ? retryStep(prev, clone(step), at) : buildStep(clone(step), slot.steps.length + 1, at);
    if (prev) slot.steps[idx] = s;
    else slot.steps.push(s);
    if (event) this.pushEvent(slot, event, at);
    return clone(s);
  }

  async finishStep(
    runId: string,
    seq: number,
    result: StepResult,
    runPatch?: StepRunPatch,
    event?: EventInput,
  ): Promise<Step> {
    const slot = this.slot(runId);
    const prev = slot.steps[seq - 1];
    if (!prev) throw new NotFoundError('step', `${runId}#${seq}`);
    checkStepRunning(prev);
    const at = nowIso();
    const s: Step = {
      ...prev,
      status: result.status,
      output: clone(result.output ?? null),
      error: clone(result.error ?? null),
      finished_at: at,
    };
    const run = applyStepRunPatch(slot.run, runPatch, at);
    slot.steps[seq - 1] = s;
    if (run) slot.run = run;
    if (event) this.pushEvent(slot, event, at);
    return clone(s);
  }

  async getSteps(runId: string): Promise<Step[]> {
    this.assertOpen();
    return clone(this.runs.get(runId)?.steps ?? []);
  }

  async getStepByKey(runId: string, key: string): Promise<Step | undefined> {
    this.assertOpen();
    const s = this.runs.get(runId)?.steps.find((x) => x.key === key);
    return s ? clone(s) : undefined;
  }

  async appendEvent(runId: string, type: string, data: unknown): Promise<RunEvent> {
    return clone(this.pushEvent(this.slot(runId), { type, data }, nowIso()));
  }

  async listEvents(runId: string, q: ListEventsQuery = {}): Promise<RunEvent[]> {
    this.assertOpen();
    const after = q.afterSeq ?? 0;
    const limit = clampLimit(q.limit, 1000, 10_000);
    return clone((this.runs.get(runId)?.events ?? []).slice(after, after + limit));
  }

  async createApproval(
    a: NewApproval,
    change?: ApprovalRunChange,
  ): Promise<{ approval: Approval; run: Run }> {
    const slot = this.slot(a.run_id);
    checkTransition(slot.run, { from: change?.from });
    const at = nowIso();
    const approval = buildApproval(clone(a), at);
    const run = this.transitionSync(
      a.run_id,
      { status: 'waiting_approval', ...(change?.patch ?? {}) },
      change?.event ?? approvalRequestedEvent(approval),
      { from: change?.from },
    );
    this.approvals.set(approval.id, approval);
    return { approval: clone(approval), run: clone(run) };
  }

  async getApproval(id: string): Promise<Approval | undefined> {
    this.assertOpen();
    const a = this.approvals.get(id);
    return a ? clone(a) : undefined;
  }

  async listApprovals(q: ListApprovalsQuery = {}): Promise<Approval[]> {
    this.assertOpen();
    const limit = clampLimit(q.limit, 100, 1000);
    return [...this.approvals.values()]
      .filter(
        (a) =>
          (q.status === undefined || a.status === q.status) &&
          (q.run_id === undefined || a.run_id === q.run_id) &&
          (q.principal === undefined || this.runs.get(a.run_id)?.run.principal === q.principal),
      )
      .sort((a, b) => cmp(b.id, a.id))
      .slice(0, limit)
      .map(clone);
  }

  async decideApproval(id: string, d: ApprovalDecision, change?: ApprovalRunChange): Promise<Approval> {
    this.assertOpen();
    const a = this.approvals.get(id);
    if (!a) throw new NotFoundError('approval', id);
    checkPending(a);
    if (change) {
      const slot = this.slot(a.run_id);
      checkTransition(slot.run, { from: change.from });
    }
    const next: Approval = {
      ...a,
      status: d.status,
      decided_by: d.decided_by,
      reason: d.reason ?? null,
      decided_at: nowIso(),
    };
    if (change) this.transitionSync(a.run_id, change.patch ?? {}, change.event, { from: change.from });
    this.approvals.set(id, next);
    return clone(next);
  }

  async getApprovalForStep(runId: string, stepKey: string): Promise<Approval | undefined> {
    const list = await this.listApprovals({ run_id: runId, limit: 1000 });
    return list.find((a) => a.step_key === stepKey);
  }

  async appendAudit(e: NewAuditEntry): Promise<AuditEntry> {
    this.assertOpen();
    const at = nowIso();
    const entry: AuditEntry = {
      id: newId('aud_', Date.parse(at)),
      at,
      principal: e.principal,
      action: e.action,
      target: e.target ?? null,
      trace_id: e.trace_id ?? null,
      data: clone(e.data ?? null),
    };
    this.audit.push(entry);
    return clone(entry);
  }

  async listAudit(q: ListAuditQuery = {}): Promise<AuditEntry[]> {
    this.assertOpen();
    const limit = clampLimit(q.limit, 100, 1000);
    const out: AuditEntry[] = [];
    for (let i = this.audit.length - 1; i >= 0 && out.length < limit; i--) {
      const e = this.audit[i] as AuditEntry;
      if (
        (q.target === undefined || e.target === q.target) &&
        (q.action === undefined || e.action === q.action)
      )
        out.push(e);
    }
    return clone(out);
  }

  async claimRuns(owner: string, opts: ClaimOptions): Promise<Run[]> {
    this.assertOpen();
    const now = nowIso();
    const lease = isoIn(opts.leaseMs);
    const claimed: Run[] = [];
    const candidates = [...this.runs.values()]
      .map((s) => s.run)
      .filter(
        (r) =>
          opts.statuses.includes(r.status) &&
          r.schema_version <= RUN_SCHEMA_VERSION &&
          (r.owner === null || r.lease_expires_at === null || r.lease_expires_at < now),
      )
      .sort((a, b) => (a.created_at === b.created_at ? cmp(a.id, b.id) : cmp(a.created_at, b.created_at)))
      .slice(0, Math.max(0, opts.limit));
    for (const r of candidates) {
      const slot = this.runs.get(r.id) as RunSlot;
      slot.run = { ...r, owner, lease_expires_at: lease, updated_at: now };
      claimed.push(clone(slot.run));
    }
    return claimed;
  }

  async renewLeases(owner: string, runIds: string[], leaseMs: number): Promise<string[]> {
    this.assertOpen();
    const lease = isoIn(leaseMs);
    const now = nowIso();
    const out: string[] = [];
    for (const id of runIds) {
      const slot = this.runs.get(id);
      if (slot && slot.run.owner === owner && !isTerminal(slot.run.status)) {
        slot.run = { ...slot.run, lease_expires_at: lease, updated_at: now };
        out.push(id);
      }
    }
    return out;
  }

  async releaseRun(id: string, owner: string): Promise<boolean> {
    this.assertOpen();
    const slot = this.runs.get(id);
    if (!slot || slot.run.owner !== owner) return false;
    slot.run = { ...slot.run, owner: null, lease_expires_at: null, updated_at: nowIso() };
    return true;
  }

  async pruneFinished(olderThan: Date): Promise<number> {
    this.assertOpen();
    const cut = olderThan.toISOString();
    let n = 0;
    for (const [id, slot] of this.runs) {
      const r = slot.run;
      if (isTerminal(r.status) && (r.finished_at ?? r.updated_at) < cut) {
        this.runs.delete(id);
        n++;
      }
    }
    for (const [k, v] of this.keys) if (!this.runs.has(v.run_id)) this.keys.delete(k);
    for (const [k, v] of this.approvals) if (!this.runs.has(v.run_id)) this.approvals.delete(k);
    return n;
  }

  async health(): Promise<StoreHealth> {
    return this.closed ? { ok: false, detail: 'closed' } : { ok: true };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** Test hook: overwrites the stored schema version of a run. */
  forceSchemaVersion(runId: string, version: number): void {
    const slot = this.runs.get(runId);
    if (slot) slot.run = { ...slot.run, schema_version: version };
  }
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
