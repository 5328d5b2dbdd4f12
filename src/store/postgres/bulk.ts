/**
 * PostgreSQL's bulk forms of the store's SQL. The reads and writes that the operations of a batch
 * make at the same moment are coalesced by kind: all the run heads in one `id = ANY($1)` SELECT,
 * all the inserted events in one `INSERT … SELECT FROM jsonb_populate_recordset($1)`, all the
 * same-shaped updates of a table in one `UPDATE … FROM jsonb_populate_recordset($1)`. A batch of
 * any size then costs a handful of statements. What has no bulk form is rendered one by one by
 * the shared {@link SqlRenderer}.
 */
import type { Change, Read } from '../engine/port.js';
import { COLUMNS, HEAD_COLUMNS, type Row, type TableName } from '../engine/rows.js';
import { TextCache, type SqlDialect, type Statement } from '../sql/dialect.js';
import type { SqlRenderer } from '../sql/render.js';

/** A read waiting for its answer. */
export interface PendingRead {
  read: Read;
  resolve(v: unknown): void;
  reject(e: unknown): void;
}

/** One statement answering reads, and how to hand its rows (or its failure) to them. */
export interface ReadStatement {
  statement: Statement;
  settle(rows: Row[]): void;
  fail(e: unknown): void;
}

/** Row columns holding JSON text (embedded as JSON, not as strings, in a bulk record). */
const JSON_COLUMNS = new Set(['input', 'limits', 'usage', 'result', 'error', 'metadata', 'output', 'args', 'risk_tags', 'data']); // prettier-ignore

const INSERTS: Partial<Record<Change['kind'], TableName>> = {
  insertRun: 'runs',
  insertStep: 'steps',
  insertEvent: 'events',
  insertApproval: 'approvals',
  insertAudit: 'audit',
};

/** Rows of one table written by one bulk statement. */
interface WriteGroup {
  shape: string;
  table: TableName;
  cols: readonly string[];
  /** Key columns matching rows to update; none for an insert. */
  keys: readonly string[];
  /** `keys` then `cols`, the fields of each row's record. */
  fields: readonly string[];
  rows: string[];
  seen: Set<string>;
}

/** A kind of read with a bulk form: its statement and how rows answer its reads. */
interface BulkRead {
  text: string;
  /** Two key parts (run id, step key or seq) instead of an id. */
  pair: boolean;
  decode(row: Row): unknown;
}

const sep = '\u0000';

/** The key of a read within its bulk group. */
function readKey(r: Read): string {
  if (r.kind === 'stepByKey') return `${r.runId}${sep}${r.key}`;
  if (r.kind === 'stepBySeq') return `${r.runId}${sep}${r.seq}`;
  return (r as { id: string }).id;
}

/** The key of the row answering a read. */
function rowKey(row: Row, pair: string | undefined): string {
  return pair === undefined ? String(row.id) : `${String(row.run_id)}${sep}${String(row[pair])}`;
}

/** Bulk SQL of one schema. */
export class PgBulkSql {
  private readonly texts = new TextCache();
  private readonly bulk: Record<string, BulkRead>;

  constructor(
    private readonly d: SqlDialect,
    private readonly sql: SqlRenderer,
  ) {
    const runs = d.table('runs');
    const byId = (cols: string, table: string, lock: boolean): string =>
      `SELECT ${cols} FROM ${table} WHERE id = ANY($1::text[]) ORDER BY id${lock ? ' FOR UPDATE' : ''}`;
    const steps = (col: string, type: string): string =>
      `SELECT s.* FROM ${d.table('steps')} s JOIN unnest($1::text[], $2::${type}[]) AS k(run_id, ${col}) ON s.run_id = k.run_id AND s.${col} = k.${col}`;
    const r = sql.rows;
    const head = HEAD_COLUMNS.join(', ');
    this.bulk = {
      headtrue: { text: byId(head, runs, true), pair: false, decode: r.head },
      headfalse: { text: byId(head, runs, false), pair: false, decode: r.head },
      runtrue: { text: byId('*', runs, true), pair: false, decode: r.storedRun },
      runfalse: { text: byId('*', runs, false), pair: false, decode: r.storedRun },
      approvaltrue: { text: byId('*', d.table('approvals'), true), pair: false, decode: r.approval },
      approvalfalse: { text: byId('*', d.table('approvals'), false), pair: false, decode: r.approval },
      stepByKey: { text: steps('key', 'text'), pair: true, decode: r.step },
      stepBySeq: { text: steps('seq', 'int'), pair: true, decode: r.step },
    };
  }

  /** The bulk form of a read, or `undefined` when it has none. */
  private bulkOf(r: Read): BulkRead | undefined {
    if (r.kind === 'head' || r.kind === 'run' || r.kind === 'approval')
      return this.bulk[`${r.kind}${r.lock}`];
    if (r.kind === 'stepByKey' || r.kind === 'stepBySeq') return this.bulk[r.kind];
    return undefined;
  }

  /** The statements answering `reads`: one per bulk group, one per read without a bulk form. */
  reads(reads: readonly PendingRead[]): ReadStatement[] {
    const out: ReadStatement[] = [];
    const groups = new Map<BulkRead, PendingRead[]>();
    for (const p of reads) {
      const g = this.bulkOf(p.read);
      if (g === undefined) {
        const q = this.sql.read(p.read);
        q.statements.forEach((statement, i) => {
          const last = i === q.statements.length - 1;
          out.push({
            statement,
            settle: last ? (rows) => settle(p, () => q.decode(rows)) : ignore,
            fail: p.reject,
          });
        });
      } else {
        const members = groups.get(g);
        if (members) members.push(p);
        else groups.set(g, [p]);
      }
    }
    for (const [g, members] of groups) out.push(this.groupRead(g, members));
    return out;
  }

  private groupRead(g: BulkRead, members: PendingRead[]): ReadStatement {
    const keys = members.map((p) => readKey(p.read));
    const pair = g.pair ? (members[0]!.read.kind === 'stepByKey' ? 'key' : 'seq') : undefined;
    const values = g.pair
      ? [
          members.map((p) => (p.read as { runId: string }).runId),
          keys.map((k) => k.slice(k.indexOf(sep) + 1)),
        ]
      : [[...new Set(keys)]];
    return {
      statement: { text: g.text, values },
      settle: (rows) => {
        const byKey = new Map<string, Row>();
        for (const row of rows) byKey.set(rowKey(row, pair), row);
        for (let i = 0; i < members.length; i++) {
          const row = byKey.get(keys[i] as string);
          settle(members[i] as PendingRead, () => (row === undefined ? undefined : g.decode(row)));
        }
      },
      fail: (e) => {
        for (const p of members) p.reject(e);
      },
    };
  }

  /** The statements applying `changes`, in order, same-kind changes coalesced. */
  writes(changes: readonly Change[]): Statement[] {
    const out: Array<Statement | WriteGroup> = [];
    const open = new Map<string, WriteGroup>();
    let n = 0;
    const add = (
      shape: string,
      g: Pick<WriteGroup, 'table' | 'cols' | 'keys'>,
      row: Record<string, unknown>,
      id: string,
    ): void => {
      let group = open.get(shape);
      // The same row twice in one UPDATE … FROM would apply only one: start another group.
      if (!group || group.seen.has(id)) {
        group = { ...g, shape, fields: [...g.keys, ...g.cols], rows: [], seen: new Set() };
        open.set(shape, group);
        out.push(group);
      }
      group.seen.add(id);
      group.rows.push(record(row, group.fields));
    };
    for (const c of changes) {
      const table = INSERTS[c.kind];
      if (table !== undefined) {
        const row = (c as unknown as { row: Record<string, unknown> }).row;
        add(`insert:${table}`, { table, cols: COLUMNS[table], keys: [] }, row, String(n++));
      } else if (c.kind === 'updateRun' || c.kind === 'updateApproval') {
        const t = c.kind === 'updateRun' ? 'runs' : 'approvals';
        const cols = Object.keys(c.set);
        add(`update:${t}:${cols.join(',')}`, { table: t, cols, keys: ['id'] }, { ...c.set, id: c.id }, c.id);
      } else if (c.kind === 'updateStep') {
        const cols = Object.keys(c.set);
        const row = { ...c.set, run_id: c.runId, seq: c.seq };
        add(
          `update:steps:${cols.join(',')}`,
          { table: 'steps', cols, keys: ['run_id', 'seq'] },
          row,
          `${c.runId}${sep}${c.seq}`,
        );
      } else out.push(...this.sql.change(c));
    }
    return out.map((g) =>
      'text' in g
        ? g
        : { text: this.texts.get(g.shape, () => this.bulkText(g)), values: [`[${g.rows.join(',')}]`] },
    );
  }

  /** The bulk statement of a group, its rows in parameter `$1`. */
  private bulkText(g: WriteGroup): string {
    const t = this.d.table(g.table);
    const from = `jsonb_populate_recordset(NULL::${t}, $1::jsonb)`;
    if (g.keys.length === 0)
      return `INSERT INTO ${t} (${g.cols.join(', ')}) SELECT ${g.cols.join(', ')} FROM ${from}`;
    const sets = g.cols.map((c) => `${c} = x.${c}`).join(', ');
    return `UPDATE ${t} AS t SET ${sets} FROM ${from} AS x WHERE ${g.keys.map((k) => `t.${k} = x.${k}`).join(' AND ')}`;
  }
}

const ignore = (): void => undefined;

/** Resolves a read with its decoded answer, or rejects it when decoding throws. */
function settle(p: PendingRead, decode: () => unknown): void {
  try {
    p.resolve(decode());
  } catch (e) {
    p.reject(e);
  }
}

/** One row as a JSON object for `jsonb_populate_recordset` (JSON columns embedded as they are). */
function record(row: Record<string, unknown>, cols: readonly string[]): string {
  let s = '{';
  for (let i = 0; i < cols.length; i++) {
    const c = cols[i] as string;
    const v = row[c];
    s += `${i === 0 ? '' : ','}"${c}":${JSON_COLUMNS.has(c) ? ((v as string | null | undefined) ?? 'null') : JSON.stringify(v ?? null)}`;
  }
  return `${s}}`;
}
