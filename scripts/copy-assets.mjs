// Copies the plain `.mjs` files under src/ (the tool sandbox's child-side runtime) into the build
// output, keeping their relative paths, since tsc only emits .ts sources.
// Usage: node scripts/copy-assets.mjs [srcDir=src] [outDir=dist]
import { copyFile, mkdir, readdir } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const srcDir = resolve(repo, process.argv[2] ?? 'src');
const outDir = resolve(repo, process.argv[3] ?? 'dist');

async function* walk(dir) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile() && entry.name.endsWith('.mjs')) yield path;
  }
}

let copied = 0;
for await (const file of walk(srcDir)) {
  const target = join(outDir, relative(srcDir, file));
  await mkdir(dirname(target), { recursive: true });
  await copyFile(file, target);
  copied += 1;
}
console.log(
  `copy-assets: ${copied} file(s) from ${relative(repo, srcDir) || '.'} to ${relative(repo, outDir) || '.'}`,
);
