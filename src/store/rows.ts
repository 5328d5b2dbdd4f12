/**
 * Row ⇄ record mapping shared by the SQL drivers. A {@link RowCodec} tells how the driver returns
 * JSON columns (text on SQLite, parsed jsonb on PostgreSQL) and timestamps (text or `Date`).
 */
import { checkSchemaVersion, encodeJson } from './common.js';
import type { Approval, AuditEntry, Run, RunEvent, Step } from './types.js';

/** A database row as returned by the driver. */
export type Row = Record<string, unknown>;

/** How a driver encodes JSON and timestamp columns. */
export interface RowCodec {
  /** Decodes a JSON column (`null` for SQL NULL). */
  json(v: unknown): unknown;
  /** Decodes a timestamp column into an ISO string (`null` for SQL NULL). */
  time(v: unknown): string | null;
}

/** Record decoders for one driver. */
export interface RowMappers {
  toRun(r: Row): Run;
  toStep(r: Row): Step;
  toEvent(r: Row): RunEvent;
  toApproval(r: Row): Approval;
  toAudit(r: Row): AuditEntry;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);
const int = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

/** Builds the decoders for a codec. `toRun` enforces the schema-version guard. */
export function rowMappers(c: RowCodec): RowMappers {
  const json = (v: unknown): unknown => c.json(v) ?? null;
  const time = (v: unknown): string => c.time(v) as string;
  return {
    toRun(r) {
      const id = String(r.id);
      checkSchemaVersion(id, Number(r.schema_version));
      return {
        id,
        agent: String(r.agent),
        strategy: String(r.strategy),
        input: json(r.input),
        priority: r.priority as Run['priority'],
        status: r.status as Run['status'],
        idempotency_key: str(r.idempotency_key),
        principal: str(r.principal),
        trace_id: String(r.trace_id),
        traceparent: String(r.traceparent),
        tracestate: str(r.tracestate),
        limits: json(r.limits) as Run['limits'],
        usage: json(r.usage) as Run['usage'],
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
    },
    toStep: (r) => ({
      run_id: String(r.run_id),
      seq: Number(r.seq),
      key: String(r.key),
      parent_seq: int(r.parent_seq),
      branch: String(r.branch),
      kind: r.kind as Step['kind'],
      name: String(r.name),
      input: json(r.input),
      output: json(r.output),
      status: r.status as Step['status'],
      attempt: Number(r.attempt),
      error: json(r.error) as Step['error'],
      span_id: str(r.span_id),
      started_at: time(r.started_at),
      finished_at: c.time(r.finished_at),
    }),
    toEvent: (r) => ({
      run_id: String(r.run_id),
      seq: Number(r.seq),
      type: String(r.type),
      data: json(r.data),
      at: time(r.at),
    }),
    toApproval: (r) => ({
      id: String(r.id),
      run_id: String(r.run_id),
      step_seq: int(r.step_seq),
      step_key: String(r.step_key),
      skill_id: String(r.skill_id),
      args: json(r.args),
      risk_tags: (json(r.risk_tags) ?? []) as string[],
      status: r.status as Approval['status'],
      decided_by: str(r.decided_by),
      reason: str(r.reason),
      created_at: time(r.created_at),
      decided_at: c.time(r.decided_at),
      expires_at: c.time(r.expires_at),
    }),
    toAudit: (r) => ({
      id: String(r.id),
      at: time(r.at),
      principal: str(r.principal),
      action: String(r.action),
      target: str(r.target),
      trace_id: str(r.trace_id),
      data: json(r.data) as AuditEntry['data'],
    }),
  };
}

/** Columns of each table, in insert order (internal counters excluded). */
export const COLUMNS = {
  runs: ['id', 'agent', 'strategy', 'input', 'priority', 'status', 'idempotency_key', 'principal', 'trace_id', 'traceparent', 'tracestate', 'limits', 'usage', 'result', 'error', 'checkpoint', 'metadata', 'owner', 'lease_expires_at', 'schema_version', 'created_at', 'updated_at', 'started_at', 'finished_at'],
  steps: ['run_id', 'seq', 'key', 'parent_seq', 'branch', 'kind', 'name', 'input', 'output', 'status', 'attempt', 'error', 'span_id', 'started_at', 'finished_at'],
  approvals: ['id', 'run_id', 'step_seq', 'step_key', 'skill_id', 'args', 'risk_tags', 'status', 'decided_by', 'reason', 'created_at', 'decided_at', 'expires_at'],
  audit: ['id', 'at', 'principal', 'action', 'target', 'trace_id', 'data'],
  /** Run columns a patch may change, plus `id` last (for `WHERE id = …`). */
  runUpdate: ['status', 'result', 'error', 'usage', 'checkpoint', 'started_at', 'finished_at', 'owner', 'lease_expires_at', 'metadata', 'updated_at', 'id'],
} as const; // prettier-ignore

const JSON_COLUMNS = new Set(['input', 'limits', 'usage', 'result', 'error', 'metadata', 'output', 'args', 'risk_tags', 'data']); // prettier-ignore

/** The values of `rec` for `cols`, JSON columns serialised as text. */
export function columnValues(rec: object, cols: readonly string[]): unknown[] {
  const r = rec as Record<string, unknown>;
  return cols.map((c) => (JSON_COLUMNS.has(c) ? encodeJson(r[c]) : (r[c] ?? null)));
}

/** `INSERT INTO table (cols) VALUES (placeholders)`; `ph(i)` renders the i-th (1-based) placeholder. */
export function insertSql(table: string, cols: readonly string[], ph: (i: number) => string): string {
  return `INSERT INTO ${table} (${cols.join(', ')}) VALUES (${cols.map((_, i) => ph(i + 1)).join(', ')})`;
}

/** `UPDATE table SET col = ph, … WHERE id = ph` for {@link COLUMNS.runUpdate}. */
export function updateRunSql(table: string, ph: (i: number) => string): string {
  const cols = COLUMNS.runUpdate;
  const sets = cols.slice(0, -1).map((c, i) => `${c} = ${ph(i + 1)}`);
  return `UPDATE ${table} SET ${sets.join(', ')} WHERE id = ${ph(cols.length)}`;
}
