/**
 * Processes for worker plane tests: `skillplane worker` and `skillplane serve` started from the
 * sources as a user would (tsx), a private `redis-server` that can be stopped and started again on
 * its port with its data, and the test skills and configuration they share.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';
import { Redis } from 'ioredis';
import { until as untilTruthy } from '../../src/testing/index.js';

export const ROOT = resolve(import.meta.dirname, '../..');
export const REDIS_URL = process.env.SKILLPLANE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
export const PG_URL = process.env.SKILLPLANE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** A port free right now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolvePort(port));
    });
  });
}

/** src/testing's `until` with the wait described first: polls `probe` until it is truthy. */
export function until<T>(probe: () => T | Promise<T>, what: string, ms = 20_000): Promise<NonNullable<T>> {
  return untilTruthy(probe, ms, what, 25) as Promise<NonNullable<T>>;
}

/** A CLI process with its output. */
export interface CliProcess {
  proc: ChildProcess;
  /** Its pino log lines so far, parsed. */
  logs(): Record<string, unknown>[];
  output(): string;
  exited: Promise<number | null>;
  /** Sends `signal` and waits for the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Everything started by {@link startCli}, for the test's cleanup. */
const started = new Set<CliProcess>();

/** Kills every process still running (afterEach). */
export async function killAll(): Promise<void> {
  await Promise.all([...started].map((p) => p.stop('SIGKILL')));
  started.clear();
}

/**
 * Starts the CLI from the sources with `args` and waits for a log line `ready` accepts (start-up
 * transpiles the sources, slow on two loaded cores: 45 s at most).
 */
export async function startCli(
  args: string[],
  ready: (line: Record<string, unknown>) => boolean,
  env: Record<string, string> = {},
): Promise<CliProcess & { line: Record<string, unknown> }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args], {
    cwd: ROOT,
    env: { ...process.env, LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const parsed: Record<string, unknown>[] = [];
  let partial = '';
  proc.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    partial += d.toString();
    const lines = partial.split('\n');
    partial = lines.pop()!;
    for (const l of lines) {
      try {
        parsed.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
    if (out.length > 512_000) out = out.slice(-256_000);
  });
  proc.stderr!.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const p: CliProcess = {
    proc,
    logs: () => parsed,
    output: () => out,
    exited,
    async stop(signal = 'SIGTERM') {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
      return exited;
    },
  };
  started.add(p);
  let gone = false;
  void exited.then(() => (gone = true));
  const line = await until(
    () => {
      if (gone) throw new Error(`${args.join(' ')} exited before it was ready:\n${out}`);
      return parsed.find(ready);
    },
    `${args.join(' ')} to start:\n${out}`,
    45_000,
  );
  return { ...p, line };
}

/** `skillplane worker` on `configFile`; resolves with its id once it logged `worker started`. */
export async function startWorker(
  configFile: string,
  args: string[] = [],
): Promise<CliProcess & { id: string }> {
  const p = await startCli(['--config', configFile, 'worker', ...args], (l) => l.msg === 'worker started');
  return { ...p, id: String(p.line.worker) };
}

/** `skillplane serve` on `configFile`; resolves with its URL and node id. */
export async function startServe(
  configFile: string,
  env: Record<string, string> = {},
): Promise<CliProcess & { url: string; node: string }> {
  const port = await freePort();
  const p = await startCli(
    ['--config', configFile, 'serve', '--port', String(port), '--grace', '2000'],
    (l) => typeof l.msg === 'string' && l.msg.startsWith('listening on http://'),
    env,
  );
  return { ...p, url: String(p.line.url), node: String(p.line.node) };
}

/** A `redis-server` of the test's own, with an append-only file so a restart keeps its data. */
export interface PrivateRedis {
  url: string;
  port: number;
  stop(): Promise<void>;
  start(): Promise<void>;
}

/** Starts a private `redis-server` on a free port with its data in `dir`. */
export async function privateRedis(dir: string): Promise<PrivateRedis> {
  const port = await freePort();
  mkdirSync(dir, { recursive: true });
  let proc: ChildProcess | undefined;
  let exited: Promise<unknown> = Promise.resolve();
  const start = async () => {
    const child = spawn(
      'redis-server',
      [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    proc = child;
    let out = '';
    exited = new Promise((r) => child.once('exit', r));
    await new Promise<void>((resolveStart, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start:\n${out}`)), 10_000);
      child.stdout!.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('Ready to accept connections')) {
          clearTimeout(timer);
          resolveStart();
        }
      });
      child.once('exit', (code) => reject(new Error(`redis-server exited (${code}):\n${out}`)));
    });
  };
  await start();
  const r: PrivateRedis = {
    url: `redis://127.0.0.1:${port}`,
    port,
    start,
    async stop() {
      proc?.kill('SIGTERM');
      await exited;
    },
  };
  return r;
}

/** A fresh key prefix, and its removal from the shared Redis. */
export function testPrefix(): { prefix: string; drop(url?: string): Promise<void> } {
  const prefix = `sptest-${randomBytes(4).toString('hex')}`;
  return {
    prefix,
    async drop(url = REDIS_URL) {
      const redis = new Redis(url, { maxRetriesPerRequest: 1 });
      redis.on('error', () => undefined);
      try {
        const keys = await redis.keys(`${prefix}:*`);
        if (keys.length > 0) await redis.del(...keys);
      } finally {
        redis.disconnect();
      }
    },
  };
}

/**
 * Writes the worker test skills under `dir/skills` and a `skillplane.yaml` using them:
 * `w/spin` burns CPU for `ms`; `w/hold` records each start (attempt, worker pid) in
 * `workspace/starts.log`, sleeps `ms` (stopping when cancelled), then records the finish in
 * `workspace/finishes.log`; `w/echo` answers its input. All run on workers.
 */
export function writeWorkerRig(
  dir: string,
  opts: {
    brokerUrl?: string;
    prefix: string;
    modelUrl?: string;
    store?: Record<string, unknown>;
    workers?: Record<string, unknown>;
  },
): { configFile: string; workspace: string } {
  const workspace = join(dir, 'workspace');
  mkdirSync(workspace, { recursive: true });
  const skill = (name: string, extra: string, code: string) => {
    const d = join(dir, 'skills', name);
    mkdirSync(d, { recursive: true });
    writeFileSync(
      join(d, 'skill.yaml'),
      `skill_id: w/${name}\nversion: 1.0.0\nkind: tool\ndescription: worker test skill ${name}\nentry: ./index.mjs\nexecution: worker\n${extra}`,
    );
    writeFileSync(join(d, 'index.mjs'), code);
  };
  skill(
    'spin',
    'input_schema: {type: object, properties: {ms: {type: integer}}}\ntimeouts: {execute_sec: 60}\n',
    `export default async (input) => {
  const end = Date.now() + (input.ms ?? 1000);
  let n = 0;
  while (Date.now() < end) n++;
  return { spins: n };
};`,
  );
  skill(
    'hold',
    `roots: [${workspace}]\npermissions: {fs: {read: [${workspace}], write: [${workspace}]}}\n` +
      'input_schema: {type: object, properties: {ms: {type: integer}, label: {type: string}}}\ntimeouts: {execute_sec: 60}\n',
    `import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
export default (input, ctx) => {
  const root = ctx.roots[0];
  appendFileSync(join(root, 'starts.log'), JSON.stringify({ label: input.label, attempt: ctx.attempt, key: ctx.idempotencyKey }) + '\\n');
  return new Promise((resolveCall, reject) => {
    const t = setTimeout(() => {
      appendFileSync(join(root, 'finishes.log'), JSON.stringify({ label: input.label, attempt: ctx.attempt }) + '\\n');
      resolveCall({ held: input.label ?? null, attempt: ctx.attempt });
    }, input.ms ?? 1000);
    ctx.signal.addEventListener('abort', () => { clearTimeout(t); reject(new Error('aborted')); });
  });
};`,
  );
  skill('echo', 'input_schema: {type: object}\n', 'export default async (input) => ({ echo: input });');
  const yaml = [
    'server: {host: 127.0.0.1}',
    `skills: {directories: [${join(dir, 'skills')}], allowed_roots: [${workspace}], watch: false}`,
    `store: ${JSON.stringify(opts.store ?? { driver: 'memory' })}`,
    `models: {default: {base_url: ${JSON.stringify(opts.modelUrl ?? 'http://127.0.0.1:9/v1')}, model: test-model, max_retries: 0}}`,
    'agents:',
    '  definitions:',
    '    - {name: worker-agent, instructions: test, skills: ["w/*"]}',
    `workers: ${JSON.stringify({
      enabled: true,
      broker_url: opts.brokerUrl ?? REDIS_URL,
      prefix: opts.prefix,
      lock_sec: 2,
      stalled_interval_sec: 1,
      heartbeat_sec: 0.5,
      retry_base_ms: 50,
      shutdown_grace_sec: 5,
      ...opts.workers,
    })}`,
    '',
  ].join('\n');
  const configFile = join(dir, 'skillplane.yaml');
  writeFileSync(configFile, yaml);
  return { configFile, workspace };
}
