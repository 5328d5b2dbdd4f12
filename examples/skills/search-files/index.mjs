// Walks the workspace root and returns lines containing the query (case-insensitive).
import { readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';

async function* walk(dir, signal) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    signal.throwIfAborted();
    if (entry.name.startsWith('.')) continue;
    const full = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(full, signal);
    else if (entry.isFile()) yield full;
  }
}

export default async function searchFiles(input, ctx) {
  const root = ctx.roots[0];
  const needle = input.query.toLowerCase();
  const max = input.max_results ?? 50;
  const matches = [];
  for await (const file of walk(root, ctx.signal)) {
    const text = await readFile(file, 'utf8');
    const lines = text.split('\n');
    for (let i = 0; i < lines.length && matches.length < max; i++) {
      if (lines[i].toLowerCase().includes(needle)) {
        matches.push({ path: relative(root, file), line: i + 1, text: lines[i].trim() });
      }
    }
    if (matches.length >= max) break;
  }
  ctx.logger.info(`found ${matches.length} matches for "${input.query}"`);
  return { matches };
}
