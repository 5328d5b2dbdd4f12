import { describe, expect, it } from 'vitest';
import { SkillplaneError } from '../../../src/errors/index.js';
import { mapSqliteError } from '../../../src/store/sqlite/errors.js';

const sqliteError = (code: string): Error & { code: string } =>
  Object.assign(new Error(`sqlite ${code}`), { code });

describe('SQLite error mapping', () => {
  it.each([
    ['SQLITE_FULL', 'store_full'],
    ['SQLITE_BUSY', 'store_busy'],
    ['SQLITE_BUSY_SNAPSHOT', 'store_busy'],
    ['SQLITE_LOCKED', 'store_busy'],
    ['SQLITE_IOERR', 'store_unavailable'],
    ['SQLITE_IOERR_WRITE', 'store_unavailable'],
    ['SQLITE_READONLY', 'store_unavailable'],
    ['SQLITE_CANTOPEN', 'store_unavailable'],
    ['SQLITE_CORRUPT', 'store_corrupt'],
    ['SQLITE_CORRUPT_INDEX', 'store_corrupt'],
    ['SQLITE_NOTADB', 'store_corrupt'],
    ['SQLITE_CONSTRAINT_PRIMARYKEY', 'conflict'],
    ['SQLITE_TOOBIG', 'input_invalid'],
    ['SQLITE_ERROR', 'store_failed'],
  ])('maps %s to %s and keeps the driver error as cause', (code, mapped) => {
    const raw = sqliteError(code);
    const err = mapSqliteError(raw);
    expect(err).toBeInstanceOf(SkillplaneError);
    expect(err.code).toBe(mapped);
    if (mapped !== 'input_invalid') expect(err.cause).toBe(raw);
  });

  it('passes skillplane errors through', () => {
    const e = new SkillplaneError('not_found', 'x');
    expect(mapSqliteError(e)).toBe(e);
  });
});
