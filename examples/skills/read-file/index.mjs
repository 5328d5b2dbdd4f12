// Reads a text file under the skill's first root. The sandbox refuses anything outside the roots.
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';

export default async function readFileSkill(input, ctx) {
  const root = ctx.roots[0];
  const path = resolve(root, input.path);
  const maxBytes = input.max_bytes ?? 65536;
  const buf = await readFile(path, { signal: ctx.signal });
  const truncated = buf.length > maxBytes;
  return { path: input.path, text: buf.subarray(0, maxBytes).toString('utf8'), bytes: buf.length, truncated };
}
