import { describe, expect, it } from 'vitest';
import { isTransient, mapPgError } from '../../../src/store/postgres/errors.js';

const pgError = (code: string, message = `boom ${code}`): Error & { code: string } =>
  Object.assign(new Error(message), { code });

describe('PostgreSQL error mapping', () => {
  it.each([
    ['53100', 'store_full'],
    ['53300', 'store_unavailable'],
    ['57P01', 'store_unavailable'],
    ['57P02', 'store_unavailable'],
    ['57P03', 'store_unavailable'],
    ['08006', 'store_unavailable'],
    ['08001', 'store_unavailable'],
    ['ECONNREFUSED', 'store_unavailable'],
    ['ECONNRESET', 'store_unavailable'],
    ['XX001', 'store_corrupt'],
    ['XX002', 'store_corrupt'],
    ['40001', 'store_busy'],
    ['40P01', 'store_busy'],
    ['23505', 'conflict'],
    ['22P05', 'input_invalid'],
    ['22021', 'input_invalid'],
    ['42P01', 'store_failed'],
  ])('maps %s to %s and keeps the driver error as cause', (code, mapped) => {
    const raw = pgError(code);
    const err = mapPgError(raw);
    expect(err.code).toBe(mapped);
    if (mapped !== 'input_invalid') expect(err.cause).toBe(raw);
  });

  it('reads a lost connection from its message when it has no code', () => {
    expect(mapPgError(new Error('Connection terminated unexpectedly')).code).toBe('store_unavailable');
    expect(isTransient(new Error('Connection terminated unexpectedly'))).toBe(true);
  });

  it('retries connection loss, deadlocks and serialization failures only', () => {
    expect(['57P01', '08006', '53300', '40001', '40P01'].map((c) => isTransient(pgError(c)))).toEqual([
      true,
      true,
      true,
      true,
      true,
    ]);
    expect(['23505', '53100', 'XX001', '42P01'].map((c) => isTransient(pgError(c)))).toEqual([
      false,
      false,
      false,
      false,
    ]);
  });

  it('passes skillplane errors through', async () => {
    const { SkillplaneError } = await import('../../../src/errors/index.js');
    const e = new SkillplaneError('not_found', 'x');
    expect(mapPgError(e)).toBe(e);
  });
});
