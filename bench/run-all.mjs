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
 *   node bench/run-all.mjs --quick              # every benchmark at small sizes: under a minute
 *   node bench/run-all.mjs --tiny --out F.json  # what `npm test` runs: completes, sane numbers
 *   node bench/run-all.mjs runtime --plain-node # without the server's Node flags (see below)
 *
 * Each benchmark's process gets the Node flags `npm start` serves with (read from package.json's
 * `start` script: today a 64 MB young-generation semi-space), so it measures the server as it is
 * run; the floor runs in the same process with the same flags. `--plain-node` leaves them out.
 *
 * Each benchmark's last JSON line carries a `summary` (scenario, ours, floor, ratio, unit,
 * target); at the end this prints them as one table and writes every benchmark's result to
 * `bench/results/latest.json` (or `--out FILE`), with the machine it ran on.
 *
 * `npm run bench` builds first, then runs this with no arguments; `npm run bench -- runtime`
 * passes the names through.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
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
let passThrough = args.slice(i);
let out = join(benchDir, 'results', 'latest.json');
const outAt = passThrough.indexOf('--out');
if (outAt !== -1) {
  if (passThrough[outAt + 1] === undefined) {
    console.error('--out needs a file name');
    process.exit(2);
  }
  out = passThrough[outAt + 1];
  passThrough = passThrough.filter((_, k) => k !== outAt && k !== outAt + 1);
}
const plainNode = passThrough.includes('--plain-node');
passThrough = passThrough.filter((a) => a !== '--plain-node');
/** The Node flags of `npm start` (`node <flags> dist/cli/main.js serve`): the one place they are set. */
function serverNodeFlags() {
  const start = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).scripts?.start ?? '';
  const m = /\bnode((?: --[^\s]+)*) dist\/cli\/main\.js serve\b/.exec(start);
  if (m === null)
    throw new Error(
      `package.json's start script does not read "node [flags] dist/cli/main.js serve": ${start}`,
    );
  return m[1].trim() === '' ? [] : m[1].trim().split(' ');
}
const nodeFlags = plainNode ? [] : serverNodeFlags();
const mode = passThrough.includes('--tiny') ? 'tiny' : passThrough.includes('--quick') ? 'quick' : 'full';
const selected = names.length > 0 ? names : available;

/**
 * Runs one benchmark with its output streamed; resolves with its exit code (1 when it died by a
 * signal) and its result: the last stdout line that is a JSON object with a `bench` member.
 */
function runOne(name) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [...nodeFlags, '--import', 'tsx', join(benchDir, `${name}.ts`), ...passThrough],
      {
        cwd: root,
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let result = null;
    let partial = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      const lines = (partial + chunk).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) result = parseResult(line) ?? result;
    });
    child.on('error', (err) => {
      console.error(`could not start ${name}: ${err.message}`);
      resolve({ code: 1, result });
    });
    child.on('close', (code, signal) => {
      result = parseResult(partial) ?? result;
      resolve({ code: code ?? (signal === null ? 1 : 128), result });
    });
  });
}

function parseResult(line) {
  if (!line.startsWith('{"bench"')) return null;
  try {
    return JSON.parse(line);
  } catch {
    return null;
  }
}

const results = [];
for (const name of selected) {
  console.log(`\n=== bench/${name}.ts ${passThrough.join(' ')}`.trimEnd());
  const t0 = performance.now();
  const { code, result } = await runOne(name);
  results.push({ name, code, seconds: (performance.now() - t0) / 1000, result });
}

console.log('\n=== summary');
for (const r of results) {
  console.log(
    `${r.code === 0 && r.result !== null ? 'ok  ' : 'FAIL'}  ${r.name.padEnd(14)} ${r.seconds.toFixed(1).padStart(7)} s${r.code === 0 ? (r.result === null ? '  (no result line)' : '') : `  (exit ${r.code})`}`,
  );
}

// One table: every benchmark's summary rows.
const fmt = (v) => (v === null || v === undefined ? '—' : String(v));
const rows = [['benchmark', 'scenario', 'ours', 'floor', 'ratio', 'unit', 'target', 'met']];
for (const r of results)
  for (const x of r.result?.summary ?? [])
    rows.push([
      r.name,
      x.scenario,
      fmt(x.ours),
      fmt(x.floor),
      x.ratio === null ? '—' : `${x.ratio}×`,
      x.unit,
      fmt(x.target),
      x.met === undefined ? '' : x.met ? 'yes' : 'no',
    ]);
const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
const line = (r) =>
  r
    .map((v, c) => (c < 2 || c >= 5 ? v.padEnd(widths[c]) : v.padStart(widths[c])))
    .join('  ')
    .trimEnd();
console.log(
  `\n=== results (${mode}; ratio = ours/floor for rates, floor/ours for times; ` +
    `node ${process.version}${nodeFlags.length > 0 ? ` ${nodeFlags.join(' ')}` : ''})`,
);
console.log(
  [line(rows[0]), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.slice(1).map(line)].join('\n'),
);

const cpuList = cpus();
const report = {
  date: new Date().toISOString(),
  mode,
  args: passThrough,
  machine: {
    cpus: cpuList.length,
    cpu_model: cpuList[0]?.model ?? 'unknown',
    memory_gb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    node_flags: nodeFlags,
    platform: `${process.platform} ${process.arch}`,
  },
  benchmarks: results.map((r) => ({
    name: r.name,
    ok: r.code === 0,
    seconds: Math.round(r.seconds * 10) / 10,
    summary: r.result?.summary ?? [],
    result: r.result,
  })),
};
mkdirSync(dirname(out), { recursive: true });
writeFileSync(out, `${JSON.stringify(report, null, 2)}\n`);
console.log(`\nwrote ${out}`);

const failed = results.filter((r) => r.code !== 0 || r.result === null);
if (failed.length > 0) {
  console.error(`${failed.length} benchmark(s) failed: ${failed.map((r) => r.name).join(', ')}`);
  process.exitCode = 1;
}
