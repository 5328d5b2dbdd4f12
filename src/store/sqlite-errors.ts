/**
 * How the SQLite driver reads failures: the driver's error codes mapped to skillplane's
 * (`store_corrupt`, `store_busy`, `store_full`, `store_unavailable`), and the corruption check
 * run at open.
 */
import type Database from 'better-sqlite3';
import { SkillplaneError } from '../errors/index.js';
import { errorCode } from './common.js';
import type { Row } from './rows.js';

/** Maps a low-level open failure to a clear `SkillplaneError`. */
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
      },
    );
  }
  return new SkillplaneError('store_unavailable', `cannot open SQLite store ${path}: ${msg}`, {
    data: { path, driver_code: code },
    cause: err,
  });
}

/** True for the driver codes of a damaged database file. */
export function isCorruptionCode(code: string | undefined): boolean {
  return code === 'SQLITE_NOTADB' || code?.startsWith('SQLITE_CORRUPT') === true;
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

/** Maps a driver error of a call to a `SkillplaneError` with a stable code (others pass through). */
export function mapError(e: unknown): unknown {
  if (e instanceof SkillplaneError) return e;
  const code = errorCode(e);
  if (code === 'SQLITE_BUSY') {
    return new SkillplaneError('store_busy', 'the SQLite store is locked by another writer', { cause: e });
  }
  if (isCorruptionCode(code)) {
    return new SkillplaneError('store_corrupt', 'the SQLite store is corrupt', { cause: e });
  }
  if (code === 'SQLITE_FULL') {
    return new SkillplaneError(
      'store_full',
      'the disk holding the SQLite store is full; nothing was written',
      {
        cause: e,
      },
    );
  }
  if (code?.startsWith('SQLITE_IOERR') || code === 'SQLITE_READONLY' || code === 'SQLITE_CANTOPEN') {
    return new SkillplaneError('store_unavailable', `the SQLite store cannot be written (${code})`, {
      cause: e,
    });
  }
  return e;
}
