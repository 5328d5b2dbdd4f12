/**
 * Random bytes for ids, drawn from a pool refilled 4 KiB at a time. A `randomBytes(8)` call per id
 * (a native round trip and a Buffer each) was the largest single cost of a journaled step in a
 * fan-out's CPU profile: span ids per step, audit ids per skill call. Each byte is used once.
 * Web Crypto, so the module loads in a browser too (the dashboard bundles the client, which
 * imports the vocabulary); the pool is made on first use.
 */
const POOL_BYTES = 4096;
const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
let pool: Uint8Array | undefined;
let poolOffset = POOL_BYTES;

/** `bytes` random bytes (≤ 4096) as lowercase hex. */
export function randomHex(bytes: number): string {
  if (pool === undefined || poolOffset + bytes > POOL_BYTES) {
    pool ??= new Uint8Array(POOL_BYTES);
    globalThis.crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  let hex = '';
  for (let i = poolOffset; i < poolOffset + bytes; i++) hex += HEX[pool[i]!]!;
  poolOffset += bytes;
  return hex;
}
