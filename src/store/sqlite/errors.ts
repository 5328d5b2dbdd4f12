/**
 * How the SQLite driver reads failures: better-sqlite3's codes mapped to skillplane's (the raw error
 * kept as `cause`), and the corruption check run at open. Nothing above the driver sees a
 * `SQLITE_*` code.
 */
import type Database from 'better-sqlite3';
import { ConflictError, SkillplaneError, ValidationError } from '../../errors/index.js';
import { errorCode } from '../common.js';
import type { Row } from '../engine/rows.js';

/** True for the driver codes of a damaged database file. */
export function isCorruptionCode(code: string | undefined): boolean {
  return code === 'SQLITE_NOTADB' || code?.startsWith('SQLITE_CORRUPT') === true;
}

/** Maps a low-level open failure to a `SkillplaneError`. */
export function openError(err: unknown, path: string): SkillplaneError {
  if (err instanceof SkillplaneError) return err;
  const code = errorCode(err) ?? '';
  const msg = err instanceof Error ? err.message : String(err);
  if (isCorruptionCode(code)) {
    return new SkillplaneError(
      'store_corrupt',
      `${path} is not a valid skillplane SQLite database (${msg})`,
      {
        data: { path },
        cause: err,
      },
    );
  }
  return new SkillplaneError('store_unavailable', `cannot open SQLite store ${path}: ${msg}`, {
    data: { path, driver_code: code },
    cause: err,
  });
}

/**
 * `PRAGMA quick_check` (the b-tree structure of every page, without the slower index cross-check
 * of `integrity_check`): the problems found, or `undefined` when the database is sound.
 */
export function quickCheck(db: Database.Database): string | undefined {
  try {
    const rows = db.pragma('quick_check(10)') as Row[];
    const problems = rows
      .flatMap((r) => String(Object.values(r)[0]).split('\n'))
      .filter((line) => line !== '' && line !== 'ok' && !line.startsWith('***'));
    return problems.length === 0 ? undefined : problems.slice(0, 3).join('; ');
  } catch (err) {
    if (isCorruptionCode(errorCode(err))) return err instanceof Error ? err.message : String(err);
    throw err;
  }
}

/**
 * Maps an error of a call to a `SkillplaneError` with a stable code: `store_full` (SQLITE_FULL),
 * `store_busy` (SQLITE_BUSY*, SQLITE_LOCKED*), `store_unavailable` (SQLITE_IOERR*, read-only,
 * cannot open), `store_corrupt` (SQLITE_CORRUPT*, SQLITE_NOTADB), `conflict` (a unique key taken),
 * `input_invalid` (a value too big), else `store_failed`. Skillplane errors pass through.
 */
export function mapSqliteError(e: unknown): SkillplaneError {
  if (e instanceof SkillplaneError) return e;
  const code = errorCode(e) ?? '';
  const msg = e instanceof Error ? e.message : String(e);
  const opts = { data: { driver_code: code }, cause: e };
  if (code === 'SQLITE_FULL') {
    return new SkillplaneError(
      'store_full',
      'the SQLite store is full (disk or size limit); nothing was written',
      opts,
    );
  }
  if (code.startsWith('SQLITE_BUSY') || code.startsWith('SQLITE_LOCKED')) {
    return new SkillplaneError('store_busy', 'the SQLite store is locked by another writer', opts);
  }
  if (isCorruptionCode(code))
    return new SkillplaneError('store_corrupt', 'the SQLite store is corrupt', opts);
  if (
    code.startsWith('SQLITE_IOERR') ||
    code.startsWith('SQLITE_READONLY') ||
    code.startsWith('SQLITE_CANTOPEN')
  ) {
    return new SkillplaneError('store_unavailable', `the SQLite store cannot be written (${code})`, opts);
  }
  if (code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === 'SQLITE_CONSTRAINT_UNIQUE') {
    const err = new ConflictError(`a record with this id already exists (${msg})`, 'conflict', {
      driver_code: code,
    });
    return Object.assign(err, { cause: e });
  }
  if (code === 'SQLITE_TOOBIG') {
    return new ValidationError(
      'a value is too big for the SQLite store',
      [{ path: '', message: msg }],
      'input_invalid',
    );
  }
  return new SkillplaneError('store_failed', `the SQLite store failed: ${msg}`, opts);
}
