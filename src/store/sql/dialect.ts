/**
 * What differs between the SQL databases the store runs on. The SQL itself is written once
 * ({@link SqlRenderer}); a dialect supplies placeholders, table names, locking clauses, list
 * parameters, timestamp casts and how rows come back.
 */
import type { RowCodec, TableName } from '../engine/rows.js';

/** One SQL statement with its parameters. */
export interface Statement {
  text: string;
  values: unknown[];
}

/** The differences between SQL databases that the store's SQL depends on. */
export interface SqlDialect {
  /** How JSON and timestamp columns come back. */
  readonly codec: RowCodec;
  /** The (schema-qualified) name of a table. */
  table(name: TableName): string;
  /** The i-th (1-based) placeholder. */
  param(i: number): string;
  /**
   * Suffix of a SELECT that locks its rows until the transaction ends; `''` where the
   * transaction already excludes every other writer (SQLite).
   */
  readonly forUpdate: string;
  /** Suffix of a SELECT that locks its rows and skips rows other transactions hold. */
  readonly skipLocked: string;
  /** A condition: `column` is one of the strings of a list parameter. */
  inList(column: string, param: string): string;
  /** The parameter value of a list of strings for {@link inList}. */
  listValue(values: readonly string[]): unknown;
  /** A timestamp parameter in a comparison. */
  time(param: string): string;
  /**
   * A statement taking a lock on a name until the transaction ends, given its parameter, or
   * `undefined` where writers are already serialised.
   */
  lockName(param: string): string | undefined;
  /** The parameter value naming the lock of an idempotency key. */
  lockValue(key: string): string;
}

/** Statement texts built once per shape (a read kind, a filter's fields, an update's columns). */
export class TextCache {
  private readonly texts = new Map<string, string>();

  /** The text of `shape`, built by `build` the first time. */
  get(shape: string, build: () => string): string {
    let text = this.texts.get(shape);
    if (text === undefined) {
      text = build();
      this.texts.set(shape, text);
    }
    return text;
  }
}
