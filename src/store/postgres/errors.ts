/**
 * How the PostgreSQL driver reads failures: `pg` and server codes mapped to skillplane's (the raw
 * error kept as `cause`), and which failures are worth retrying. Nothing above the driver sees a
 * SQLSTATE.
 */
import { ConflictError, SkillplaneError, ValidationError } from '../../errors/index.js';
import { errorCode } from '../common.js';

/** Socket-level codes of a lost or refused connection. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']); // prettier-ignore

/**
 * Server codes meaning "the server cannot serve us now": too_many_connections (53300),
 * admin/crash shutdown and cannot_connect_now (57P01–57P03), connection exceptions (08xxx).
 */
function isServerUnavailable(code: string): boolean {
  return (
    code === '53300' || code === '57P01' || code === '57P02' || code === '57P03' || code.startsWith('08')
  );
}

/** True when the connection was lost or refused (the server may answer again). */
export function isConnectionError(e: unknown): boolean {
  const code = errorCode(e) ?? '';
  if (SOCKET_CODES.has(code) || isServerUnavailable(code)) return true;
  const msg = e instanceof Error ? e.message : '';
  return /Connection terminated|connection timeout|Client has encountered a connection error|Client was closed|not queryable/i.test(
    msg,
  );
}

/** True for a failure a new attempt may not meet: connection loss, deadlock, serialization. */
export function isTransient(e: unknown): boolean {
  const code = errorCode(e);
  return isConnectionError(e) || code === '40001' || code === '40P01';
}

/**
 * Maps an error to a `SkillplaneError` with a stable code: `store_full` (53100 disk_full),
 * `store_unavailable` (connection loss, 53300, 57P01–57P03, 08xxx), `store_busy` (40001, 40P01),
 * `store_corrupt` (XX001, XX002), `conflict` (23505), `input_invalid` (a value PostgreSQL cannot
 * hold: NUL characters, 22P05, 22021, 54000), else `store_failed`. Skillplane errors pass through.
 */
export function mapPgError(e: unknown): SkillplaneError {
  if (e instanceof SkillplaneError) return e;
  const code = errorCode(e) ?? '';
  const msg = e instanceof Error ? e.message : String(e);
  const opts = { data: { driver_code: code === '' ? null : code }, cause: e };
  if (code === '53100') return new SkillplaneError('store_full', `the PostgreSQL disk is full: ${msg}`, opts);
  if (isConnectionError(e))
    return new SkillplaneError('store_unavailable', `PostgreSQL is unreachable: ${msg}`, opts);
  if (code === '40001' || code === '40P01') {
    return new SkillplaneError('store_busy', `PostgreSQL could not serialise the write: ${msg}`, opts);
  }
  if (code === 'XX001' || code === 'XX002') {
    return new SkillplaneError('store_corrupt', `PostgreSQL reports damaged data: ${msg}`, opts);
  }
  if (code === '23505') {
    return Object.assign(
      new ConflictError(`a record with this id already exists (${msg})`, 'conflict', { driver_code: code }),
      { cause: e },
    );
  }
  if (code === '22P05' || code === '22021' || code === '54000') {
    return new ValidationError(
      `PostgreSQL cannot store a value: ${msg}`,
      [{ path: '', message: msg }],
      'input_invalid',
    );
  }
  return new SkillplaneError('store_failed', `PostgreSQL failed: ${msg}`, opts);
}
