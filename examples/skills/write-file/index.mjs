// Writes a file under the out/ root. Tagged destructive: it only runs after an approval.
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';

export default async function writeFileSkill(input, ctx) {
  const root = ctx.roots[0];
  const path = resolve(root, input.path);
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, input.text, { signal: ctx.signal });
  return { path: input.path, bytes: Buffer.byteLength(input.text) };
}
