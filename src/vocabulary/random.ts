/**
 * Random bytes for ids, drawn from a pool refilled 4 KiB at a time. A `randomBytes(8)` call per id
 * (a native round trip and a Buffer each) was the largest single cost of a journaled step in a
 * fan-out's CPU profile: span ids per step, audit ids per skill call. Each byte is used once.
 * Web Crypto, so the module loads in a browser too (the dashboard bundles the client, which
 * imports the vocabulary); the pool is made on first use.
 */
const POOL_BYTES = 4096;
/** Char codes of the lowercase hex digit of each nibble. */
const DIGIT = Array.from('0123456789abcdef', (c) => c.charCodeAt(0));
let pool: Uint8Array | undefined;
let poolOffset = POOL_BYTES;

/**
 * `bytes` random bytes (≤ 4096) as lowercase hex. Made in one piece from char codes: appending
 * two digits at a time made a tree of concatenations (up to 16 deep for a trace id) that V8 keeps
 * as such, and ids live as long as their run (in the memory store, in every queued ticket).
 */
export function randomHex(bytes: number): string {
  if (pool === undefined || poolOffset + bytes > POOL_BYTES) {
    pool ??= new Uint8Array(POOL_BYTES);
    globalThis.crypto.getRandomValues(pool);
    poolOffset = 0;
  }
  const codes = new Array<number>(bytes * 2);
  for (let i = 0; i < bytes; i++) {
    const b = pool[poolOffset + i]!;
    codes[2 * i] = DIGIT[b >> 4]!;
    codes[2 * i + 1] = DIGIT[b & 15]!;
  }
  poolOffset += bytes;
  return String.fromCharCode(...codes);
}
