/**
 * Records ⇄ rows. A row is what a table holds: JSON fields as text (encoded once, by the engine,
 * so a value that cannot be stored is refused before anything is written) and the run's internal
 * counters. Every driver stores rows and decodes what it reads with {@link rowDecoders} and its
 * {@link RowCodec} (text on SQLite and in memory, parsed `jsonb` and `Date`s on PostgreSQL).
 */
import { checkSchemaVersion, encodeJson } from '../common.js';
import type {
  Approval,
  ApprovalStatus,
  AuditEntry,
  Priority,
  Run,
  RunEvent,
  RunStatus,
  RunUsage,
  Step,
  StepKind,
  StepStatus,
} from '../types.js';

/** A row as a driver returns it. */
export type Row = Record<string, unknown>;

/** A record with its JSON fields `J` held as encoded JSON text. */
type Encoded<T, J extends keyof T> = Omit<T, J> & { [K in J]: string };

/** A `runs` row: the record with its JSON fields encoded, plus the seq counters of the run. */
export type RunRow = Encoded<Run, 'input' | 'limits' | 'usage' | 'result' | 'error' | 'metadata'> & {
  /** Seq of the run's last event (the next one gets `+ 1`). */
  last_event_seq: number;
  /** Seq of the run's last step. */
  last_step_seq: number;
};

/** A `steps` row. */
export type StepRow = Encoded<Step, 'input' | 'output' | 'error'>;

/** An `events` row. */
export type EventRow = Encoded<RunEvent, 'data'>;

/** An `approvals` row. */
export type ApprovalRow = Encoded<Approval, 'args' | 'risk_tags'>;

/** An `audit` row. */
export type AuditRow = Encoded<AuditEntry, 'data'>;

/** An `idempotency_keys` row. */
export interface KeyRow {
  key: string;
  fingerprint: string;
  run_id: string;
  created_at: string;
  expires_at: string;
}

/** Columns of each table, in insert order. */
export const COLUMNS = {
  runs: ['id', 'agent', 'strategy', 'input', 'priority', 'status', 'idempotency_key', 'principal', 'trace_id', 'traceparent', 'tracestate', 'limits', 'usage', 'result', 'error', 'checkpoint', 'metadata', 'owner', 'lease_expires_at', 'schema_version', 'created_at', 'updated_at', 'started_at', 'finished_at', 'last_event_seq', 'last_step_seq'],
  steps: ['run_id', 'seq', 'key', 'parent_seq', 'agent', 'branch', 'kind', 'name', 'input', 'output', 'status', 'attempt', 'error', 'span_id', 'started_at', 'finished_at'],
  events: ['run_id', 'seq', 'type', 'data', 'at'],
  approvals: ['id', 'run_id', 'step_seq', 'step_key', 'skill_id', 'args', 'risk_tags', 'status', 'decided_by', 'reason', 'created_at', 'decided_at', 'expires_at'],
  idempotency_keys: ['key', 'fingerprint', 'run_id', 'created_at', 'expires_at'],
  audit: ['id', 'at', 'principal', 'action', 'target', 'run_id', 'trace_id', 'data'],
} as const; // prettier-ignore

/** A table of the store. */
export type TableName = keyof typeof COLUMNS;

/*
 * Rows are built as one literal per table (in column order), not as `{ ...record, field: encoded }`:
 * V8 gave every row built by such a spread its own hidden class (a new map and descriptor array
 * per row, ~360 bytes each, kept for as long as the memory store keeps the run), which a literal
 * shares across all rows.
 */

/** The row of a run record. */
export function runRow(run: Run, lastEventSeq: number, lastStepSeq: number): RunRow {
  return {
    id: run.id,
    agent: run.agent,
    strategy: run.strategy,
    input: encodeJson(run.input),
    priority: run.priority,
    status: run.status,
    idempotency_key: run.idempotency_key,
    principal: run.principal,
    trace_id: run.trace_id,
    traceparent: run.traceparent,
    tracestate: run.tracestate,
    limits: encodeJson(run.limits),
    usage: encodeJson(run.usage),
    result: encodeJson(run.result),
    error: encodeJson(run.error),
    checkpoint: run.checkpoint,
    metadata: encodeJson(run.metadata),
    owner: run.owner,
    lease_expires_at: run.lease_expires_at,
    schema_version: run.schema_version,
    created_at: run.created_at,
    updated_at: run.updated_at,
    started_at: run.started_at,
    finished_at: run.finished_at,
    last_event_seq: lastEventSeq,
    last_step_seq: lastStepSeq,
  };
}

/** The row of a step record. */
export function stepRow(s: Step): StepRow {
  return {
    run_id: s.run_id,
    seq: s.seq,
    key: s.key,
    parent_seq: s.parent_seq,
    agent: s.agent,
    branch: s.branch,
    kind: s.kind,
    name: s.name,
    input: encodeJson(s.input),
    output: encodeJson(s.output),
    status: s.status,
    attempt: s.attempt,
    error: encodeJson(s.error),
    span_id: s.span_id,
    started_at: s.started_at,
    finished_at: s.finished_at,
  };
}

/** The row of an event. */
export function eventRow(e: RunEvent): EventRow {
  return { ...e, data: encodeJson(e.data) };
}

/** The row of an approval. */
export function approvalRow(a: Approval): ApprovalRow {
  return { ...a, args: encodeJson(a.args), risk_tags: encodeJson(a.risk_tags) };
}

/** The row of an audit entry. */
export function auditRow(e: AuditEntry): AuditRow {
  return { ...e, data: encodeJson(e.data) };
}

/** How a driver returns JSON and timestamp columns. */
export interface RowCodec {
  /** Decodes a JSON column (`null` for SQL NULL). */
  json(v: unknown): unknown;
  /** Decodes a timestamp column into an ISO string (`null` for SQL NULL). */
  time(v: unknown): string | null;
}

/** JSON as text and timestamps as ISO text (SQLite and the memory store). */
export const TEXT_CODEC: RowCodec = {
  json: (v) => (typeof v === 'string' ? JSON.parse(v) : null),
  time: (v) => (typeof v === 'string' ? v : null),
};

/** The fields of a run that a step, event or lease write needs, without decoding the whole run. */
export interface RunHead {
  id: string;
  status: RunStatus;
  schema_version: number;
  owner: string | null;
  checkpoint: number;
  usage: RunUsage;
  last_event_seq: number;
  last_step_seq: number;
}

/** A run record with its counters. */
export interface StoredRun {
  run: Run;
  last_event_seq: number;
  last_step_seq: number;
}

/** An idempotency key with the run it points at (when that run still exists). */
export interface StoredKey {
  fingerprint: string;
  expires_at: string;
  run: Run | undefined;
}

/** Columns of {@link RunHead}. */
export const HEAD_COLUMNS = ['id', 'status', 'schema_version', 'owner', 'checkpoint', 'usage', 'last_event_seq', 'last_step_seq'] as const; // prettier-ignore

/** Record decoders for one codec. */
export interface RowDecoders {
  run(r: Row): Run;
  storedRun(r: Row): StoredRun;
  head(r: Row): RunHead;
  step(r: Row): Step;
  event(r: Row): RunEvent;
  approval(r: Row): Approval;
  audit(r: Row): AuditEntry;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const int = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** Builds the decoders for a codec. Decoding a run enforces the schema-version guard. */
export function rowDecoders(c: RowCodec): RowDecoders {
  const json = (v: unknown): unknown => c.json(v) ?? null;
  const time = (v: unknown): string => c.time(v) as string;
  const run = (r: Row): Run => {
    const id = String(r.id);
    checkSchemaVersion(id, Number(r.schema_version));
    return {
      id,
      agent: String(r.agent),
      strategy: String(r.strategy),
      input: json(r.input),
      priority: r.priority as Priority,
      status: r.status as RunStatus,
      idempotency_key: str(r.idempotency_key),
      principal: str(r.principal),
      trace_id: String(r.trace_id),
      traceparent: String(r.traceparent),
      tracestate: str(r.tracestate),
      limits: json(r.limits) as Run['limits'],
      usage: json(r.usage) as RunUsage,
      result: json(r.result),
      error: json(r.error) as Run['error'],
      checkpoint: Number(r.checkpoint),
      metadata: (json(r.metadata) ?? {}) as Run['metadata'],
      owner: str(r.owner),
      lease_expires_at: c.time(r.lease_expires_at),
      schema_version: Number(r.schema_version),
      created_at: time(r.created_at),
      updated_at: time(r.updated_at),
      started_at: c.time(r.started_at),
      finished_at: c.time(r.finished_at),
    };
  };
  return {
    run,
    storedRun: (r) => ({
      run: run(r),
      last_event_seq: Number(r.last_event_seq),
      last_step_seq: Number(r.last_step_seq),
    }),
    head: (r) => ({
      id: String(r.id),
      status: r.status as RunStatus,
      schema_version: Number(r.schema_version),
      owner: str(r.owner),
      checkpoint: Number(r.checkpoint),
      usage: json(r.usage) as RunUsage,
      last_event_seq: Number(r.last_event_seq),
      last_step_seq: Number(r.last_step_seq),
    }),
    step: (r) => ({
      run_id: String(r.run_id),
      seq: Number(r.seq),
      key: String(r.key),
      parent_seq: int(r.parent_seq),
      agent: str(r.agent),
      branch: String(r.branch),
      kind: r.kind as StepKind,
      name: String(r.name),
      input: json(r.input),
      output: json(r.output),
      status: r.status as StepStatus,
      attempt: Number(r.attempt),
      error: json(r.error) as Step['error'],
      span_id: str(r.span_id),
      started_at: time(r.started_at),
      finished_at: c.time(r.finished_at),
    }),
    event: (r) => ({
      run_id: String(r.run_id),
      seq: Number(r.seq),
      type: String(r.type),
      data: json(r.data),
      at: time(r.at),
    }),
    approval: (r) => ({
      id: String(r.id),
      run_id: String(r.run_id),
      step_seq: int(r.step_seq),
      step_key: String(r.step_key),
      skill_id: String(r.skill_id),
      args: json(r.args),
      risk_tags: (json(r.risk_tags) ?? []) as string[],
      status: r.status as ApprovalStatus,
      decided_by: str(r.decided_by),
      reason: str(r.reason),
      created_at: time(r.created_at),
      decided_at: c.time(r.decided_at),
      expires_at: c.time(r.expires_at),
    }),
    audit: (r) => ({
      id: String(r.id),
      at: time(r.at),
      principal: str(r.principal),
      action: String(r.action),
      target: str(r.target),
      run_id: str(r.run_id),
      trace_id: str(r.trace_id),
      data: json(r.data) as AuditEntry['data'],
    }),
  };
}
