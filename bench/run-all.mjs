#!/usr/bin/env node
/**
 * Runs the `bench/*.ts` benchmarks one after another (each in its own `node --import tsx`
 * process, output streamed), then prints a summary; exits 1 if any of them failed.
 *
 *   node bench/run-all.mjs                      # every benchmark
 *   node bench/run-all.mjs runtime store        # a subset, by file name without `.ts`
 *   node bench/run-all.mjs runtime --runs 1000  # arguments after the names go to each one
 *   node bench/run-all.mjs store -- 5000 32     # `--` ends the names (for positional arguments)
 *
 * `npm run bench` builds first, then runs this with no arguments; `npm run bench -- runtime`
 * passes the names through.
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = dirname(benchDir);
const available = readdirSync(benchDir)
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
  .map((f) => f.slice(0, -3))
  .sort();

const args = process.argv.slice(2);
const names = [];
let i = 0;
for (; i < args.length; i++) {
  const a = args[i];
  if (a === '--') {
    i++;
    break;
  }
  if (a.startsWith('-')) break;
  if (!available.includes(a)) {
    console.error(`unknown benchmark "${a}"; available: ${available.join(', ')}`);
    process.exit(2);
  }
  names.push(a);
}
const passThrough = args.slice(i);
const selected = names.length > 0 ? names : available;

/** Runs one benchmark; resolves with its exit code (or 1 when it died by a signal). */
function runOne(name) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(benchDir, `${name}.ts`), ...passThrough], {
      cwd: root,
      stdio: 'inherit',
    });
    child.on('error', (err) => {
      console.error(`could not start ${name}: ${err.message}`);
      resolve(1);
    });
    child.on('exit', (code, signal) => resolve(code ?? (signal === null ? 1 : 128)));
  });
}

const results = [];
for (const name of selected) {
  console.log(`\n=== bench/${name}.ts ${passThrough.join(' ')}`.trimEnd());
  const t0 = performance.now();
  const code = await runOne(name);
  results.push({ name, code, seconds: (performance.now() - t0) / 1000 });
}

console.log('\n=== summary');
for (const r of results) {
  console.log(
    `${r.code === 0 ? 'ok  ' : 'FAIL'}  ${r.name.padEnd(14)} ${r.seconds.toFixed(1).padStart(7)} s${r.code === 0 ? '' : `  (exit ${r.code})`}`,
  );
}
const failed = results.filter((r) => r.code !== 0);
if (failed.length > 0) {
  console.error(`${failed.length} benchmark(s) failed: ${failed.map((r) => r.name).join(', ')}`);
  process.exitCode = 1;
}
