/**
 * Worker plane benchmark: skill calls sent through the BullMQ worker plane to `skillplane worker`
 * processes, beside a floor that uses nothing of ours: plain BullMQ on the same Redis, in the same
 * invocation.
 *
 *   npx tsx bench/workers.ts [--jobs 2000] [--window 64] [--concurrency 16] [--io-ms 20]
 *                            [--latency-calls 300] [--warmup 512]
 *
 * Throughput rows (`--jobs` each, `--window` in flight, after a `--warmup`):
 * - `raw`: a BullMQ `Queue` producer in this process, waiting for each job with
 *   `job.waitUntilFinished(queueEvents)`, and plain BullMQ `Worker`s in 1 or 2 child processes
 *   (a small .mjs file importing bullmq by absolute path), `--concurrency` slots each. The processor
 *   returns `{ok: true}` (trivial) or sleeps `--io-ms` first (I/O).
 * - `ours`: `SkillInvoker.invoke` of a tool skill with `execution: worker` (the same two bodies)
 *   through the `QueuedDispatcher` and `WorkerPlane.call` (QueueEvents and polling) to 1 or 2
 *   `skillplane worker --concurrency N` processes started from the sources with tsx, whose
 *   sandbox processes are kept warm (`skills.warm_processes` = `max_processes_per_skill` = N).
 * Latency rows (window 1, `--latency-calls`): the trivial skill queued to 1 worker, the same skill
 *   (an `execution: local` copy) through a skill service with only the local dispatcher, and raw.
 *
 * Every row has its own `workers.prefix` on `SKILLPLANE_BENCH_REDIS_URL` (default
 * redis://127.0.0.1:6379); its keys are deleted at the end. Targets (ours/raw ≥ 0.70 for the
 * trivial skill, 2 workers/1 worker ≥ 1.8× for the I/O skill) print PASS or MISS; only errors
 * (a failed call, a process that would not start) exit non-zero.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { Queue, QueueEvents, type ConnectionOptions } from 'bullmq';
import { Redis } from 'ioredis';
import { loadConfig, type LoadedConfig } from '../src/config/index.js';
import { createSkillService, type SkillService } from '../src/skills/index.js';
import { QueuedDispatcher, WorkerPlane } from '../src/workers/index.js';
import { closedLoop, emitResult, gc, numArg, pct, sized, summaryRow, table } from './lib/measure.js';

const JOBS = numArg('jobs', sized(2000, 200, 20));
const WINDOW = numArg('window', 64);
const CONCURRENCY = numArg('concurrency', 16);
const IO_MS = numArg('io-ms', 20);
const LATENCY_CALLS = numArg('latency-calls', sized(300, 30, 5));
const WARMUP = numArg('warmup', sized(512, 64, 8));
const REDIS_URL = process.env.SKILLPLANE_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const QUEUE = 'skills';
/** The job options of both producers that touch Redis alike (retention of finished jobs). */
const RETENTION = {
  removeOnComplete: { age: 3600, count: 10_000 },
  removeOnFail: { age: 24 * 3600, count: 10_000 },
};
/** Lock and stalled-job settings of both kinds of worker (the `workers.*` defaults). */
const LOCK_MS = 30_000;
const STALLED_MS = 15_000;

const exec = promisify(execFile);
const runId = randomBytes(3).toString('hex');
const prefixes: string[] = [];
const children = new Set<Child>();
/** Per row, the calls answered `worker_result_invalid` and made again with the same key. */
const malformed = new Map<string, number>();

/** A fresh Redis key prefix for one row, deleted at the end. */
function rowPrefix(row: string): string {
  const p = `spbench-${runId}-${row}`;
  prefixes.push(p);
  return p;
}

/** BullMQ connection options from the Redis URL (host, port, user, password, db). */
function connectionOf(url: string): ConnectionOptions & Record<string, unknown> {
  const u = new URL(url);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return {
    host: u.hostname || '127.0.0.1',
    port: u.port === '' ? 6379 : Number(u.port),
    maxRetriesPerRequest: null,
    ...(u.username === '' ? {} : { username: decodeURIComponent(u.username) }),
    ...(u.password === '' ? {} : { password: decodeURIComponent(u.password) }),
    ...(db > 0 ? { db } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

interface Child {
  proc: ChildProcess;
  exited: Promise<void>;
}

/** Starts a process and resolves once a line of its stdout satisfies `ready` (60 s at most). */
function startChild(args: string[], ready: (line: string) => boolean, what: string): Promise<Child> {
  const proc = spawn(process.execPath, args, {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const child: Child = { proc, exited: new Promise((r) => proc.once('exit', () => r())) };
  children.add(child);
  let out = '';
  let partial = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start in 60 s:\n${out}`)), 60_000);
    let started = false;
    proc.stdout!.on('data', (d: Buffer) => {
      const text = d.toString();
      if (out.length < 64_000) out += text;
      if (started) return;
      const lines = (partial + text).split('\n');
      partial = lines.pop()!;
      if (lines.some(ready)) {
        started = true;
        clearTimeout(timer);
        resolve(child);
      }
    });
    proc.stderr!.on('data', (d: Buffer) => {
      if (out.length < 64_000) out += d.toString();
    });
    proc.once('exit', (code) => {
      clearTimeout(timer);
      if (!started) reject(new Error(`${what} exited (${code}) before it was ready:\n${out}`));
    });
  });
}

/** SIGTERM, then SIGKILL after 10 s. */
async function stopChild(c: Child): Promise<void> {
  if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill('SIGTERM');
  const timer = setTimeout(() => c.proc.kill('SIGKILL'), 10_000);
  await c.exited;
  clearTimeout(timer);
  children.delete(c);
}

const CLK_TCK = await exec('getconf', ['CLK_TCK']).then(
  (r) => Number(r.stdout.trim()) || 100,
  () => 100,
);

/** The parent of every process (from `/proc`; empty elsewhere). */
function parents(): Map<number, number> {
  const out = new Map<number, number>();
  let pids: string[] = [];
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return out;
  }
  for (const p of pids) {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      out.set(Number(p), Number(f[1]));
    } catch {
      // gone
    }
  }
  return out;
}

/** `pid` and its descendants. */
function tree(pid: number, ppid: Map<number, number>): number[] {
  const kids = [...ppid].filter(([, parent]) => parent === pid).map(([child]) => child);
  return [pid, ...kids.flatMap((k) => tree(k, ppid))];
}

/** CPU ms (user + system) used so far by the processes `pids` and their descendants (Linux). */
function cpuMs(pids: number[]): { ms: number; procs: number } {
  const ppid = parents();
  const all = pids.flatMap((p) => tree(p, ppid));
  let ticks = 0;
  for (const p of all) {
    try {
      const f = readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1]!.split(' ');
      ticks += Number(f[11]) + Number(f[12]);
    } catch {
      // gone, or not Linux
    }
  }
  return { ms: (ticks * 1000) / CLK_TCK, procs: all.length - pids.length };
}

interface Row {
  name: string;
  jobs: number;
  ok: number;
  jobsPerSec: number;
  p50: number;
  p95: number;
  /** CPU ms per job of this process (the producer) and of the worker processes with theirs. */
  producerCpu: number;
  workerCpu: number;
  /** Sandbox (and other child) processes of the workers at the start and the end of the row. */
  children: string;
}

/** `p`, or an error when it has not settled in 30 s (a lost call fails the bench instead of hanging it). */
function withDeadline<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish in 30 s`)), 30_000);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Warms up, then drives `n` calls with `window` in flight, with CPU accounting. */
async function measure(
  name: string,
  n: number,
  window: number,
  one: (i: number) => Promise<boolean>,
  workerPids: number[],
): Promise<Row> {
  const call = (i: number) => withDeadline(one(i), `${name}: call ${i}`);
  const warm = await closedLoop(window === 1 ? 50 : WARMUP, window, (i) => call(-1 - i));
  if (warm.ok < warm.latencies.length)
    throw new Error(`${name}: ${warm.latencies.length - warm.ok} warm-up calls failed`);
  gc();
  const before = cpuMs(workerPids);
  const self0 = process.cpuUsage();
  const r = await closedLoop(n, window, call);
  const self = process.cpuUsage(self0);
  const after = cpuMs(workerPids);
  const sorted = Float64Array.from(r.latencies).sort();
  return {
    name,
    jobs: n,
    ok: r.ok,
    jobsPerSec: (n / r.ms) * 1000,
    p50: pct(sorted, 0.5),
    p95: pct(sorted, 0.95),
    producerCpu: (self.user + self.system) / 1000 / n,
    workerCpu: workerPids.length === 0 ? Number.NaN : (after.ms - before.ms) / n,
    children: workerPids.length === 0 ? '-' : `${before.procs}→${after.procs}`,
  };
}

/** The plain BullMQ worker: `node raw-worker.mjs <connection json> <prefix> <queue> <concurrency> <io ms>`. */
function writeRawWorker(dir: string): string {
  const bullmq = pathToFileURL(createRequire(import.meta.url).resolve('bullmq')).href;
  const file = join(dir, 'raw-worker.mjs');
  writeFileSync(
    file,
    `import { Worker } from ${JSON.stringify(bullmq)};
const [connection, prefix, queue, concurrency, ioMs] = process.argv.slice(2);
const io = Number(ioMs);
const processor = io > 0
  ? async () => { await new Promise((r) => setTimeout(r, io)); return { ok: true }; }
  : async () => ({ ok: true });
const worker = new Worker(queue, processor, {
  connection: JSON.parse(connection), prefix, concurrency: Number(concurrency),
  lockDuration: ${LOCK_MS}, stalledInterval: ${STALLED_MS}, maxStalledCount: 1,
});
worker.on('error', (err) => console.error(err.message));
await worker.waitUntilReady();
console.log('ready');
process.once('SIGTERM', () => void worker.close().then(() => process.exit(0)));
`,
  );
  return file;
}

/** The tool skills: `bench/trivial` and `bench/io` on workers, `bench/trivial-local` here. */
function writeSkills(dir: string): void {
  const skill = (name: string, execution: string, body: string) => {
    const d = join(dir, 'skills', name);
    mkdirSync(d, { recursive: true });
    writeFileSync(
      join(d, 'skill.yaml'),
      `skill_id: bench/${name}\nversion: 1.0.0\nkind: tool\ndescription: ${name}\nentry: ./index.mjs\n` +
        `execution: ${execution}\ninput_schema: {type: object, properties: {n: {type: integer}, ms: {type: integer}}}\n`,
    );
    writeFileSync(join(d, 'index.mjs'), body);
  };
  const trivial = 'export default async () => ({ ok: true });\n';
  skill('trivial', 'worker', trivial);
  skill('trivial-local', 'local', trivial);
  skill(
    'io',
    'worker',
    'export default async (input) => {\n  await new Promise((r) => setTimeout(r, input.ms));\n  return { ok: true };\n};\n',
  );
}

/** The configuration of one of our rows (API side and its workers alike). */
function configOf(dir: string, prefix: string): Record<string, unknown> {
  return {
    skills: {
      directories: [join(dir, 'skills')],
      watch: false,
      // Every job slot has a warm sandbox process: no spawn while a row is measured.
      warm_processes: CONCURRENCY,
      max_processes_per_skill: CONCURRENCY,
    },
    store: { driver: 'memory' },
    workers: { enabled: true, broker_url: REDIS_URL, prefix, queue: QUEUE, concurrency: CONCURRENCY },
  };
}

/** Starts `count` plain BullMQ worker processes on `prefix`. */
function startRawWorkers(script: string, prefix: string, count: number, ioMs: number): Promise<Child[]> {
  const conn = JSON.stringify(connectionOf(REDIS_URL));
  return Promise.all(
    Array.from({ length: count }, () =>
      startChild(
        [script, conn, prefix, QUEUE, String(CONCURRENCY), String(ioMs)],
        (l) => l === 'ready',
        'raw worker',
      ),
    ),
  );
}

/** Starts `count` `skillplane worker` processes from the sources on `prefix`'s config file. */
function startOurWorkers(dir: string, prefix: string, count: number): Promise<Child[]> {
  const file = join(dir, `${prefix}.json`);
  writeFileSync(file, JSON.stringify(configOf(dir, prefix)));
  const args = [
    '--import',
    'tsx',
    'src/cli/main.ts',
    '--config',
    file,
    'worker',
    '--concurrency',
    String(CONCURRENCY),
  ];
  const started = (l: string) => {
    try {
      return (JSON.parse(l) as { msg?: unknown }).msg === 'worker started';
    } catch {
      return false;
    }
  };
  return Promise.all(Array.from({ length: count }, () => startChild(args, started, 'skillplane worker')));
}

/** A raw row: BullMQ producer here, `procs` plain workers. */
async function rawRow(
  script: string,
  name: string,
  procs: number,
  ioMs: number,
  window: number,
  n: number,
): Promise<Row> {
  const prefix = rowPrefix(name.replace(/[^a-z0-9]+/g, '-'));
  const workers = await startRawWorkers(script, prefix, procs, ioMs);
  const connection = connectionOf(REDIS_URL);
  const queue = new Queue(QUEUE, { connection, prefix });
  // Each job waited on (`waitUntilFinished`) listens for the queue's `closing` while it waits: as
  // many listeners as jobs in flight, which is the window, not a leak.
  queue.setMaxListeners(window + 1);
  // From the start of the (fresh) stream: read from `$`, the events written before the reader's
  // first XREAD would be lost, and waitUntilFinished would wait for ever on a job done by then.
  const events = new QueueEvents(QUEUE, { connection, prefix, lastEventId: '0-0' });
  try {
    await Promise.all([queue.waitUntilReady(), events.waitUntilReady()]);
    const one = async (i: number) => {
      const job = await queue.add('bench', { n: i }, RETENTION);
      const out = (await job.waitUntilFinished(events)) as { ok?: unknown } | undefined;
      return out?.ok === true;
    };
    return await measure(
      name,
      n,
      window,
      one,
      workers.map((w) => w.proc.pid!),
    );
  } finally {
    await Promise.allSettled([queue.close(), events.close()]);
    await Promise.all(workers.map(stopChild));
  }
}

/** The API side of our rows: a skill service whose worker skills go through the queued dispatcher. */
async function apiSide(
  dir: string,
  prefix: string,
): Promise<{ api: SkillService; plane: WorkerPlane; loaded: LoadedConfig }> {
  const loaded = loadConfig({ cwd: dir, env: {}, overrides: configOf(dir, prefix) });
  const plane = new WorkerPlane({ config: loaded.config.workers });
  const api = await createSkillService(loaded, {
    watch: false,
    wrapDispatcher: (local) =>
      new QueuedDispatcher({ local, plane, routing: loaded.config.workers, repeatable: () => true }),
  });
  return { api, plane, loaded };
}

/** One of our rows: `SkillInvoker.invoke` of `skill` here, `procs` `skillplane worker` processes. */
async function oursRow(
  dir: string,
  name: string,
  procs: number,
  skill: string,
  window: number,
  n: number,
): Promise<Row> {
  const prefix = rowPrefix(name.replace(/[^a-z0-9]+/g, '-'));
  const workers = await startOurWorkers(dir, prefix, procs);
  const { api, plane } = await apiSide(dir, prefix);
  try {
    const input = skill === 'bench/io' ? { ms: IO_MS } : {};
    const one = async (i: number) => {
      const call = () =>
        api.invoker.invoke({
          skill,
          input: { ...input, n: i },
          door: 'http',
          idempotencyKey: `${prefix}-${i}`,
        });
      const r = await call().catch((err: { code?: unknown }) => {
        // WorkerPlane.call reads a job's state after its data: a job that completes in between is
        // reported as a malformed result (see bench/README.md). The same key finds the finished job.
        if (err.code !== 'worker_result_invalid') throw err;
        malformed.set(name, (malformed.get(name) ?? 0) + 1);
        return call();
      });
      return (r.output as { ok?: unknown }).ok === true;
    };
    return await measure(
      name,
      n,
      window,
      one,
      workers.map((w) => w.proc.pid!),
    );
  } finally {
    await api.close();
    await plane.close();
    await Promise.all(workers.map(stopChild));
  }
}

/** The local latency row: `bench/trivial-local` through a skill service with only the local dispatcher. */
async function localRow(dir: string, name: string): Promise<Row> {
  const loaded = loadConfig({ cwd: dir, env: {}, overrides: configOf(dir, rowPrefix('local')) });
  const api = await createSkillService(loaded, { watch: false });
  try {
    const one = async (i: number) => {
      const r = await api.invoker.invoke({ skill: 'bench/trivial-local', input: { n: i }, door: 'http' });
      return (r.output as { ok?: unknown }).ok === true;
    };
    return await measure(name, LATENCY_CALLS, 1, one, []);
  } finally {
    await api.close();
  }
}

/** Deletes every key of the rows' prefixes. */
async function dropPrefixes(): Promise<number> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  let dropped = 0;
  try {
    for (const p of prefixes) {
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${p}:*`, 'COUNT', 1000);
        cursor = next;
        if (keys.length > 0) dropped += await redis.del(...keys);
      } while (cursor !== '0');
    }
  } finally {
    redis.disconnect();
  }
  return dropped;
}

const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '-');
const verdict = (v: number, target: number) =>
  `${v.toFixed(2)}× (target ≥ ${target.toFixed(2)}×) ${v >= target ? 'PASS' : 'MISS'}`;

const dir = realpathSync(mkdtempSync(join(tmpdir(), 'sp-bench-workers-')));
let failed = false;
try {
  writeSkills(dir);
  const script = writeRawWorker(dir);
  const rows: Row[] = [];
  const t0 = Date.now();
  // Each raw row right before its counterpart, so drift of the machine hits both alike.
  for (const [kind, ioMs, skill] of [
    ['trivial', 0, 'bench/trivial'],
    ['io', IO_MS, 'bench/io'],
  ] as const) {
    for (const procs of [1, 2]) {
      const label = `${kind} ×${procs}`;
      rows.push(await rawRow(script, `raw ${label}`, procs, ioMs, WINDOW, JOBS));
      rows.push(await oursRow(dir, `ours ${label}`, procs, skill, WINDOW, JOBS));
    }
  }
  rows.push(await rawRow(script, 'raw latency ×1 (window 1)', 1, 0, 1, LATENCY_CALLS));
  rows.push(await oursRow(dir, 'ours queued ×1 (window 1)', 1, 'bench/trivial', 1, LATENCY_CALLS));
  rows.push(await localRow(dir, 'ours local (window 1)'));
  const seconds = (Date.now() - t0) / 1000;

  console.log(
    `\nWorker plane benchmark — ${JOBS} jobs per throughput row, window ${WINDOW}, --concurrency ${CONCURRENCY} per ` +
      `worker process, I/O skill sleeps ${IO_MS} ms, latency rows ${LATENCY_CALLS} calls one at a time; ` +
      `Redis ${REDIS_URL}, Node ${process.version}, ${seconds.toFixed(0)} s\n`,
  );
  const header = [
    'row',
    'jobs',
    'ok',
    'jobs/s',
    'p50 ms',
    'p95 ms',
    'cpu ms/job here',
    'cpu ms/job workers',
    'children',
  ];
  const cells = rows.map((r) => [
    r.name,
    String(r.jobs),
    String(r.ok),
    r.jobsPerSec.toFixed(0),
    f2(r.p50),
    f2(r.p95),
    f2(r.producerCpu),
    f2(r.workerCpu),
    r.children,
  ]);
  console.log(table([header, ...cells], { rule: true }));
  const by = (name: string) => rows.find((r) => r.name === name)!;
  const ratio = (a: string, b: string) => by(a).jobsPerSec / by(b).jobsPerSec;
  const trivial1 = ratio('ours trivial ×1', 'raw trivial ×1');
  const trivial2 = ratio('ours trivial ×2', 'raw trivial ×2');
  const ioScale = ratio('ours io ×2', 'ours io ×1');
  const queued = by('ours queued ×1 (window 1)');
  const local = by('ours local (window 1)');
  console.log(`\nours/raw, trivial skill, 1 worker:   ${verdict(trivial1, 0.7)}`);
  console.log(`ours/raw, trivial skill, 2 workers:  ${verdict(trivial2, 0.7)}`);
  console.log(`ours, I/O skill, 2 workers/1 worker: ${verdict(ioScale, 1.8)}`);
  console.log(
    `raw,  I/O skill, 2 workers/1 worker: ${ratio('raw io ×2', 'raw io ×1').toFixed(2)}× (for reference)`,
  );
  console.log(
    `added latency of the queue (queued − local): p50 ${f2(queued.p50 - local.p50)} ms, p95 ${f2(queued.p95 - local.p95)} ms` +
      ` (raw BullMQ round trip: p50 ${f2(by('raw latency ×1 (window 1)').p50)} ms)`,
  );
  for (const [row, count] of malformed)
    console.log(
      `${row}: ${count} call(s) answered worker_result_invalid (job finished between reads) and were made again`,
    );
  const incomplete = rows.filter((r) => r.ok < r.jobs);
  for (const r of incomplete)
    console.error(`${r.name}: ${r.jobs - r.ok} of ${r.jobs} calls did not return {ok: true}`);
  failed = incomplete.length > 0;
  const summary = [
    summaryRow(
      'worker plane, trivial skill, 1 worker',
      by('ours trivial ×1').jobsPerSec,
      by('raw trivial ×1').jobsPerSec,
      'jobs/s',
      { target: { ratio: 0.7 } },
    ),
    summaryRow(
      'worker plane, trivial skill, 2 workers',
      by('ours trivial ×2').jobsPerSec,
      by('raw trivial ×2').jobsPerSec,
      'jobs/s',
      { target: { ratio: 0.7 } },
    ),
    summaryRow(
      `worker plane, ${IO_MS} ms I/O skill, 2 workers`,
      by('ours io ×2').jobsPerSec,
      by('raw io ×2').jobsPerSec,
      'jobs/s',
    ),
    summaryRow(
      'worker plane, latency of one call, p50',
      queued.p50,
      by('raw latency ×1 (window 1)').p50,
      'ms',
      { lowerIsBetter: true },
    ),
  ];
  emitResult('workers', summary, {
    jobs: JOBS,
    window: WINDOW,
    concurrency: CONCURRENCY,
    io_ms: IO_MS,
    rows: rows.map((r) => ({ ...r, jobsPerSec: Math.round(r.jobsPerSec) })),
    ratios: { trivial_1: trivial1, trivial_2: trivial2, io_scaling: ioScale },
    added_latency_ms: { p50: queued.p50 - local.p50, p95: queued.p95 - local.p95 },
  });
} catch (err) {
  failed = true;
  console.error(err);
} finally {
  await Promise.all([...children].map(stopChild));
  const dropped = await dropPrefixes().catch((err: Error) => {
    console.error(`could not delete the bench's Redis keys: ${err.message}`);
    return 0;
  });
  console.log(`cleaned up: ${dropped} Redis keys under ${prefixes.length} prefixes (spbench-${runId}-*)`);
  rmSync(dir, { recursive: true, force: true });
}
if (failed) process.exitCode = 1;
