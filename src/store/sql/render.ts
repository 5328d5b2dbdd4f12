/**
 * The store's SQL, written once for every SQL driver: each engine {@link Read} becomes statements
 * and a decoder of their rows, each {@link Change} becomes statements. Statement texts are stable
 * (filters and sets of the same shape render the same text) so drivers can prepare them once.
 */
import { RUN_SCHEMA_VERSION, TERMINAL_STATUSES } from '../types.js';
import type { ApprovalFilter, AuditFilter, Change, Read, RunFilter } from '../engine/port.js';
import {
  COLUMNS,
  HEAD_COLUMNS,
  rowDecoders,
  type Row,
  type RowDecoders,
  type TableName,
} from '../engine/rows.js';
import { TextCache, type SqlDialect, type Statement } from './dialect.js';

/** The statements of a read and how to decode the rows of the last one. */
export interface ReadSql {
  statements: Statement[];
  decode(rows: Row[]): unknown;
}

const HEAD = HEAD_COLUMNS.join(', ');

/** Collects the conditions and parameters of a WHERE clause. */
class Where {
  private readonly conds: string[] = [];
  readonly values: unknown[] = [];
  constructor(private readonly d: SqlDialect) {}

  /** Adds a parameter; returns its placeholder. */
  p(v: unknown): string {
    this.values.push(v === undefined ? null : v);
    return this.d.param(this.values.length);
  }

  add(cond: string): this {
    this.conds.push(cond);
    return this;
  }

  toString(): string {
    return this.conds.length === 0 ? '' : `WHERE ${this.conds.join(' AND ')}`;
  }
}

const val = (v: unknown): unknown => (v === undefined ? null : v);

/** Renders reads and changes for one dialect. */
export class SqlRenderer {
  /** Decoders of the dialect's rows. */
  readonly rows: RowDecoders;
  private readonly texts = new TextCache();
  private readonly t: Record<TableName, string>;

  constructor(private readonly d: SqlDialect) {
    this.rows = rowDecoders(d.codec);
    this.t = {
      runs: d.table('runs'),
      steps: d.table('steps'),
      events: d.table('events'),
      approvals: d.table('approvals'),
      idempotency_keys: d.table('idempotency_keys'),
      audit: d.table('audit'),
    };
  }

  /** A statement text built once per shape. */

  private one<T>(text: string, values: unknown[], decode: (r: Row) => T): ReadSql {
    return { statements: [{ text, values }], decode: (rows) => (rows[0] ? decode(rows[0]) : undefined) };
  }

  private all<T>(text: string, values: unknown[], decode: (r: Row) => T): ReadSql {
    return { statements: [{ text, values }], decode: (rows) => rows.map(decode) };
  }

  /** The SQL of a read. */
  read(r: Read): ReadSql {
    const { d, t, rows } = this;
    const p = (i: number): string => d.param(i);
    const lock = (on: boolean): string => (on ? d.forUpdate : '');
    switch (r.kind) {
      case 'run':
        return this.one(
          this.texts.get(`run${r.lock}`, () => `SELECT * FROM ${t.runs} WHERE id = ${p(1)}${lock(r.lock)}`),
          [r.id],
          rows.storedRun,
        );
      case 'head':
        return this.one(
          this.texts.get(
            `head${r.lock}`,
            () => `SELECT ${HEAD} FROM ${t.runs} WHERE id = ${p(1)}${lock(r.lock)}`,
          ),
          [r.id],
          rows.head,
        );
      case 'heads':
        return this.all(
          this.texts.get(
            'heads',
            () => `SELECT ${HEAD} FROM ${t.runs} WHERE ${d.inList('id', p(1))} ORDER BY id${d.forUpdate}`,
          ),
          [d.listValue(r.ids)],
          rows.head,
        );
      case 'headOfApproval':
        return this.one(
          this.texts.get(
            'headOfApproval',
            () =>
              `SELECT ${HEAD} FROM ${t.runs} WHERE id = (SELECT run_id FROM ${t.approvals} WHERE id = ${p(1)})${d.forUpdate}`,
          ),
          [r.approvalId],
          rows.head,
        );
      case 'runs':
        return this.runs(r.filter);
      case 'countRuns':
        return this.countRuns(r.filter);
      case 'claimable':
        return this.all(
          this.texts.get(
            'claimable',
            () =>
              `SELECT * FROM ${t.runs} WHERE ${d.inList('status', p(1))} AND schema_version <= ${p(2)}
             AND (owner IS NULL OR lease_expires_at IS NULL OR lease_expires_at < ${d.time(p(3))})
             ORDER BY created_at, id LIMIT ${p(4)}${d.skipLocked}`,
          ),
          [d.listValue(r.statuses), RUN_SCHEMA_VERSION, r.now, r.limit],
          rows.run,
        );
      case 'prunable':
        return this.all(
          this.texts.get(
            'prunable',
            () =>
              `SELECT id FROM ${t.runs} WHERE ${d.inList('status', p(1))}
             AND COALESCE(finished_at, updated_at) < ${d.time(p(2))}${d.forUpdate}`,
          ),
          [d.listValue(TERMINAL_STATUSES), r.before],
          (row) => String(row.id),
        );
      case 'stepByKey':
        return this.one(
          this.texts.get(
            'stepByKey',
            () => `SELECT * FROM ${t.steps} WHERE run_id = ${p(1)} AND key = ${p(2)}`,
          ),
          [r.runId, r.key],
          rows.step,
        );
      case 'stepBySeq':
        return this.one(
          this.texts.get(
            'stepBySeq',
            () => `SELECT * FROM ${t.steps} WHERE run_id = ${p(1)} AND seq = ${p(2)}`,
          ),
          [r.runId, r.seq],
          rows.step,
        );
      case 'steps':
        return this.all(
          this.texts.get('steps', () => `SELECT * FROM ${t.steps} WHERE run_id = ${p(1)} ORDER BY seq`),
          [r.runId],
          rows.step,
        );
      case 'events':
        return this.all(
          this.texts.get(
            'events',
            () =>
              `SELECT * FROM ${t.events} WHERE run_id = ${p(1)} AND seq > ${p(2)} ORDER BY seq LIMIT ${p(3)}`,
          ),
          [r.runId, r.afterSeq, r.limit],
          rows.event,
        );
      case 'key':
        return this.key(r.key);
      case 'approval':
        return this.one(
          this.texts.get(
            `approval${r.lock}`,
            () => `SELECT * FROM ${t.approvals} WHERE id = ${p(1)}${lock(r.lock)}`,
          ),
          [r.id],
          rows.approval,
        );
      case 'approvals':
        return this.approvals(r.filter);
      case 'approvalForStep':
        return this.one(
          this.texts.get(
            'approvalForStep',
            () =>
              `SELECT * FROM ${t.approvals} WHERE run_id = ${p(1)} AND step_key = ${p(2)} ORDER BY id DESC LIMIT 1`,
          ),
          [r.runId, r.stepKey],
          rows.approval,
        );
      case 'audit':
        return this.audit(r.filter);
    }
  }

  private key(key: string): ReadSql {
    const { d, t } = this;
    const statements: Statement[] = [];
    const lock = d.lockName(d.param(1));
    if (lock !== undefined) statements.push({ text: lock, values: [d.lockValue(key)] });
    const text = this.texts.get(
      'key',
      () =>
        `SELECT k.fingerprint AS key_fingerprint, k.expires_at AS key_expires_at, r.* FROM ${t.idempotency_keys} k
         LEFT JOIN ${t.runs} r ON r.id = k.run_id WHERE k.key = ${d.param(1)}`,
    );
    statements.push({ text, values: [key] });
    return {
      statements,
      decode: (rows) => {
        const r = rows[0];
        if (!r) return undefined;
        return {
          fingerprint: String(r.key_fingerprint),
          expires_at: d.codec.time(r.key_expires_at) as string,
          run: r.id === null || r.id === undefined ? undefined : this.rows.run(r),
        };
      },
    };
  }

  /** The filters of a run list shared by the page and its count. */
  private runsWhere(f: RunFilter): Where {
    const w = new Where(this.d);
    if (f.statuses) w.add(this.d.inList('status', w.p(this.d.listValue(f.statuses))));
    if (f.agent !== undefined) w.add(`agent = ${w.p(f.agent)}`);
    if (f.priority !== undefined) w.add(`priority = ${w.p(f.priority)}`);
    if (f.principal !== undefined) w.add(`principal = ${w.p(f.principal)}`);
    if (f.createdAfter !== undefined) w.add(`created_at > ${this.d.time(w.p(f.createdAfter))}`);
    return w;
  }

  private runs(f: RunFilter): ReadSql {
    const w = this.runsWhere(f);
    if (f.before) w.add(`(created_at, id) < (${this.d.time(w.p(f.before.at))}, ${w.p(f.before.id)})`);
    // Parameters are numbered in the order `w.p` is called: LIMIT's before OFFSET's.
    const limit = w.p(f.limit);
    const offset = f.offset === undefined ? '' : ` OFFSET ${w.p(f.offset)}`;
    const text = `SELECT * FROM ${this.t.runs} ${w} ORDER BY created_at DESC, id DESC LIMIT ${limit}${offset}`;
    return this.all(text, w.values, this.rows.run);
  }

  private countRuns(f: RunFilter): ReadSql {
    const w = this.runsWhere(f);
    return this.one(`SELECT COUNT(*) AS n FROM ${this.t.runs} ${w}`, w.values, (row) => Number(row.n));
  }

  private approvals(f: ApprovalFilter): ReadSql {
    const w = new Where(this.d);
    if (f.status !== undefined) w.add(`status = ${w.p(f.status)}`);
    if (f.runId !== undefined) w.add(`run_id = ${w.p(f.runId)}`);
    if (f.principal !== undefined)
      w.add(`run_id IN (SELECT id FROM ${this.t.runs} WHERE principal = ${w.p(f.principal)})`);
    const text = `SELECT * FROM ${this.t.approvals} ${w} ORDER BY id DESC LIMIT ${w.p(f.limit)}`;
    return this.all(text, w.values, this.rows.approval);
  }

  private audit(f: AuditFilter): ReadSql {
    const w = new Where(this.d);
    if (f.runId !== undefined) w.add(`run_id = ${w.p(f.runId)}`);
    if (f.principal !== undefined) w.add(`principal = ${w.p(f.principal)}`);
    if (f.action !== undefined) w.add(`action = ${w.p(f.action)}`);
    if (f.target !== undefined) w.add(`target = ${w.p(f.target)}`);
    if (f.since !== undefined) w.add(`at >= ${this.d.time(w.p(f.since))}`);
    if (f.until !== undefined) w.add(`at < ${this.d.time(w.p(f.until))}`);
    if (f.before) w.add(`(at, id) < (${this.d.time(w.p(f.before.at))}, ${w.p(f.before.id)})`);
    const text = `SELECT * FROM ${this.t.audit} ${w} ORDER BY at DESC, id DESC LIMIT ${w.p(f.limit)}`;
    return this.all(text, w.values, this.rows.audit);
  }

  /** The SQL of a change. */
  change(c: Change): Statement[] {
    switch (c.kind) {
      case 'insertRun':
        return [this.insert('runs', c.row)];
      case 'insertStep':
        return [this.insert('steps', c.row)];
      case 'insertEvent':
        return [this.insert('events', c.row)];
      case 'insertApproval':
        return [this.insert('approvals', c.row)];
      case 'insertAudit':
        return [this.insert('audit', c.row)];
      case 'putKey': {
        const text = this.texts.get('putKey', () => {
          const sets = COLUMNS.idempotency_keys.slice(1).map((col) => `${col} = excluded.${col}`);
          return `${this.insertText('idempotency_keys')} ON CONFLICT (key) DO UPDATE SET ${sets.join(', ')}`;
        });
        return [{ text, values: COLUMNS.idempotency_keys.map((col) => val(c.row[col])) }];
      }
      case 'updateRun':
        return [this.update('runs', c.set, ['id'], [c.id])];
      case 'updateRuns':
        return [this.update('runs', c.set, [], [], [this.d.listValue(c.ids)])];
      case 'updateStep':
        return [this.update('steps', c.set, ['run_id', 'seq'], [c.runId, c.seq])];
      case 'updateApproval':
        return [this.update('approvals', c.set, ['id'], [c.id])];
      case 'deleteRuns': {
        const ids = [this.d.listValue(c.ids)];
        const del = (table: TableName, col: string): Statement => ({
          text: this.texts.get(
            `delete:${table}`,
            () => `DELETE FROM ${this.t[table]} WHERE ${this.d.inList(col, this.d.param(1))}`,
          ),
          values: ids,
        });
        return [
          del('steps', 'run_id'),
          del('events', 'run_id'),
          del('approvals', 'run_id'),
          del('idempotency_keys', 'run_id'),
          del('runs', 'id'),
        ];
      }
      case 'deleteExpiredKeys': {
        const text = this.texts.get(
          'deleteExpiredKeys',
          () => `DELETE FROM ${this.t.idempotency_keys} WHERE expires_at < ${this.d.time(this.d.param(1))}`,
        );
        return [{ text, values: [c.before] }];
      }
    }
  }

  private insertText(table: TableName): string {
    return this.texts.get(`insert:${table}`, () => {
      const cols = COLUMNS[table];
      const ph = cols.map((_, i) => this.d.param(i + 1)).join(', ');
      return `INSERT INTO ${this.t[table]} (${cols.join(', ')}) VALUES (${ph})`;
    });
  }

  private insert(table: TableName, row: object): Statement {
    const r = row as Record<string, unknown>;
    return { text: this.insertText(table), values: COLUMNS[table].map((col) => val(r[col])) };
  }

  /** `UPDATE table SET … WHERE keys…` (or, with `list`, `WHERE id IN list`). */
  private update(
    table: TableName,
    set: object,
    keys: string[],
    keyValues: unknown[],
    list?: unknown[],
  ): Statement {
    const cols = Object.keys(set);
    const text = this.texts.get(
      `update:${table}:${cols.join(',')}:${keys.join(',')}:${list ? 'list' : ''}`,
      () => {
        const sets = cols.map((col, i) => `${col} = ${this.d.param(i + 1)}`);
        const where = list
          ? this.d.inList('id', this.d.param(cols.length + 1))
          : keys.map((k, i) => `${k} = ${this.d.param(cols.length + i + 1)}`).join(' AND ');
        return `UPDATE ${this.t[table]} SET ${sets.join(', ')} WHERE ${where}`;
      },
    );
    const s = set as Record<string, unknown>;
    return { text, values: [...cols.map((col) => val(s[col])), ...(list ?? keyValues)] };
  }
}
