import { randomFillSync } from 'node:crypto';

/**
 * Random bytes for ids, drawn from a pool refilled 4 KiB at a time. A `randomBytes(8)` call per id
 * (a native round trip and a Buffer each) was the largest single cost of a journaled step in a
 * fan-out's CPU profile: span ids per step, audit ids per skill call. Each byte is used once.
 */
const POOL = Buffer.allocUnsafe(4096);
let poolOffset = POOL.length;

/** `bytes` random bytes (≤ 4096) as lowercase hex. */
export function randomHex(bytes: number): string {
  if (poolOffset + bytes > POOL.length) {
    randomFillSync(POOL);
    poolOffset = 0;
  }
  const hex = POOL.toString('hex', poolOffset, poolOffset + bytes);
  poolOffset += bytes;
  return hex;
}
