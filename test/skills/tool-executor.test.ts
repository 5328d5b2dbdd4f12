import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFile, symlink } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { SkillExecutionError, TimeoutError } from '../../src/errors/index.js';
import { ToolExecutor } from '../../src/skills/executors/tool.js';
import type { ToolProcessEvent } from '../../src/skills/executors/tool.js';
import { SkillPolicy } from '../../src/skills/policy.js';
import type { PolicyConfig } from '../../src/skills/policy.js';
import type { Skill } from '../../src/skills/types.js';
import { cleanup, isAlive, makeSkill, makeTempDir, neverAborted, writeFiles } from './helpers.js';

const policyConfig: PolicyConfig = {
  allowShell: false,
  allowNetwork: true,
  allowedRoots: [],
  requireApprovalTags: ['destructive'],
};

let parent: string;
let counter = 0;
let server: Server;
let port: number;
const executors: ToolExecutor[] = [];

/** A tool skill in its own folder: `index.mjs` holds `code`, `docs/a.txt` holds "hello". */
async function toolSkill(code: string, manifest: Record<string, unknown> = {}): Promise<Skill> {
  counter += 1;
  const dir = join(parent, 'skills', `s${counter}`);
  await writeFiles(dir, { 'index.mjs': code, 'docs/a.txt': 'hello', 'out/.keep': '' });
  return makeSkill(dir, { skill_id: `t/s${counter}`, entry: './index.mjs', roots: ['docs'], ...manifest });
}

let sandbox: 'auto' | 'node' = 'auto';

function executor(config: Partial<PolicyConfig> = {}, events?: ToolProcessEvent[]): ToolExecutor {
  const exec = new ToolExecutor({
    sandbox,
    policy: new SkillPolicy({ ...policyConfig, ...config }),
    ...(events === undefined ? {} : { onProcessEvent: (e: ToolProcessEvent) => events.push(e) }),
  });
  executors.push(exec);
  return exec;
}

async function failure(promise: Promise<unknown>): Promise<{ code: string; message: string; data: unknown }> {
  try {
    await promise;
  } catch (err) {
    const e = err as { code: string; message: string; data: unknown };
    return { code: e.code, message: e.message, data: e.data };
  }
  throw new Error('expected the call to fail');
}

/** A signal that aborts with a TimeoutError after `ms`, as the runner's deadline does. */
function deadline(ms: number): AbortSignal {
  const controller = new AbortController();
  setTimeout(() => controller.abort(new TimeoutError(`timed out after ${ms} ms`, ms)), ms).unref();
  return controller.signal;
}

const READ = `import fs from 'node:fs';
export default async ({ path }) => fs.readFileSync(path, 'utf8');`;

describe.each(['auto', 'node'] as const)('ToolExecutor (skills.sandbox: %s)', (mode) => {
  beforeAll(async () => {
    sandbox = mode;
    parent = await makeTempDir('skillplane-tool-');
    await writeFiles(parent, { 'skills/outside.txt': 'outside', 'secret.txt': 'secret' });
    server = createServer((_req, res) => res.end('pong'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
  });
  afterEach(async () => {
    await Promise.all(executors.splice(0).map((e) => e.close()));
  });
  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve));
    await cleanup([parent]);
  });

  it('runs the entry and reads inside its root', async () => {
    const skill = await toolSkill(`import fs from 'node:fs';
export default async (input, ctx) => ({
  cwd: fs.readFileSync('a.txt', 'utf8'),
  helper: await ctx.fs.readText('a.txt'),
  list: await ctx.fs.list('.'),
  echo: input.x,
  runId: ctx.runId,
  traceparent: ctx.traceparent,
});`);
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const out = await executor().execute(
      skill,
      { x: 42 },
      { signal: neverAborted(), runId: 'r1', traceparent },
    );
    expect(out).toEqual({
      cwd: 'hello',
      helper: 'hello',
      list: ['a.txt'],
      echo: 42,
      runId: 'r1',
      traceparent,
    });
  });

  it('reads frames that span many chunks, one after another on a warm process', async () => {
    // A 2 MB input reaches the child in many pipe reads; the calls after it must still be framed
    // one by one. The skill answers with the length and both ends of what it got, and whether its
    // signal and logger are there (they are made when first read).
    const skill = await toolSkill(`export default async ({ s }, ctx) => ({
  length: s.length, head: s.slice(0, 3), tail: s.slice(-3),
  signal: ctx.signal instanceof AbortSignal && !ctx.signal.aborted,
  logger: typeof ctx.logger.info === 'function',
});`);
    const exec = executor();
    const big = `abc${'x'.repeat(2 * 1024 * 1024)}xyz`;
    const answers = [];
    for (const s of [big, 'abc-xyz', big, 'abcxyz']) {
      answers.push(await exec.execute(skill, { s }, { signal: neverAborted() }));
    }
    const want = (s: string) => ({ length: s.length, head: 'abc', tail: 'xyz', signal: true, logger: true });
    expect(answers).toEqual([want(big), want('abc-xyz'), want(big), want('abcxyz')]);
  });

  it('denies reading /etc/passwd with permission_denied', async () => {
    const skill = await toolSkill(READ);
    const err = await failure(executor().execute(skill, { path: '/etc/passwd' }, { signal: neverAborted() }));
    expect(err.code).toBe('permission_denied');
  });

  it('says what was refused and what the grant allows, whichever layer refused it', async () => {
    const skill = await toolSkill(`export default async ({ how }) => {
  if (how === 'spawn') return (await import('node:child_process')).execFileSync('/bin/true');
  return (await import('node:fs')).readFileSync('/etc/passwd', 'utf8');
};`);
    const exec = executor();
    // Refused by our fs guard: the path and the readable paths are named.
    const guard = await failure(exec.execute(skill, { how: 'read' }, { signal: neverAborted() }));
    expect(guard.code).toBe('permission_denied');
    expect(guard.message).toContain('/etc/passwd');
    expect(guard.message).toContain(realpathSync(skill.dir));
    // Refused by Node's permission model itself, whose own message is only "Access to this API
    // has been restricted": the child says what kind of access it was.
    const node = await failure(exec.execute(skill, { how: 'spawn' }, { signal: neverAborted() }));
    expect(node.code).toBe('permission_denied');
    expect(node.message).not.toMatch(/has been restricted/);
    expect(node.message).toMatch(/starting a child process is not allowed in a tool skill/);
  });

  it('denies reading ../../ outside its roots', async () => {
    const skill = await toolSkill(`import fs from 'node:fs';
export default async ({ helper }, ctx) => helper ? ctx.fs.readText('../../outside.txt') : fs.readFileSync('../../outside.txt', 'utf8');`);
    const exec = executor();
    expect(await readFile(join(skill.dir, 'docs', '../../outside.txt'), 'utf8')).toBe('outside');
    expect((await failure(exec.execute(skill, { helper: false }, { signal: neverAborted() }))).code).toBe(
      'permission_denied',
    );
    expect((await failure(exec.execute(skill, { helper: true }, { signal: neverAborted() }))).code).toBe(
      'permission_denied',
    );
  });

  it('denies escaping through a symlink inside the root', async () => {
    const skill = await toolSkill(`import fs from 'node:fs';
import { readFile } from 'node:fs/promises';
export default async ({ path, how }) => {
  if (how === 'promises') return readFile(path, 'utf8');
  if (how === 'stream') return new Promise((res, rej) => {
    const s = fs.createReadStream(path, 'utf8'); let t = ''; s.on('data', (c) => (t += c)); s.on('end', () => res(t)); s.on('error', rej);
  });
  if (how === 'open') { const fd = fs.openSync(path, 'r'); return fd; }
  if (how === 'readdir') return fs.readdirSync(path);
  return fs.readFileSync(path, 'utf8');
};`);
    await symlink('/etc', join(skill.dir, 'docs', 'etc'));
    await symlink('/etc/passwd', join(skill.dir, 'docs', 'pw'));
    const exec = executor();
    for (const [path, how] of [
      ['pw', 'sync'],
      ['etc/passwd', 'sync'],
      ['pw', 'promises'],
      ['pw', 'stream'],
      ['pw', 'open'],
      ['etc', 'readdir'],
    ]) {
      const err = await failure(exec.execute(skill, { path, how }, { signal: neverAborted() }));
      expect(err.code, `${how} ${path}`).toBe('permission_denied');
    }
  });

  it('allows writes only under fs.write', async () => {
    const out = join(parent, `out-${counter + 1}`);
    await writeFiles(out, { '.keep': '' });
    const skill = await toolSkill(
      `import fs from 'node:fs';
export default async ({ path }, ctx) => { fs.writeFileSync(path, 'x'); return 'ok'; };`,
      { roots: ['docs', out], permissions: { fs: { write: [out] } } },
    );
    const exec = executor({ allowedRoots: [out] });
    expect(await exec.execute(skill, { path: join(out, 'ok.txt') }, { signal: neverAborted() })).toBe('ok');
    expect(await readFile(join(out, 'ok.txt'), 'utf8')).toBe('x');
    for (const path of ['new.txt', '../index.mjs', join(parent, 'pwned.txt')]) {
      expect((await failure(exec.execute(skill, { path }, { signal: neverAborted() }))).code, path).toBe(
        'permission_denied',
      );
    }
  });

  it('denies spawning child processes and workers', async () => {
    const skill = await toolSkill(`export default async ({ what }) => {
  if (what === 'spawn') return (await import('node:child_process')).execFileSync('id', { encoding: 'utf8' });
  const { Worker } = await import('node:worker_threads');
  new Worker('1', { eval: true });
  return 'worker';
};`);
    const exec = executor();
    expect((await failure(exec.execute(skill, { what: 'spawn' }, { signal: neverAborted() }))).code).toBe(
      'permission_denied',
    );
    expect((await failure(exec.execute(skill, { what: 'worker' }, { signal: neverAborted() }))).code).toBe(
      'permission_denied',
    );
  });

  const NET = `import net from 'node:net';
import http from 'node:http';
export default async ({ port, how }) => {
  if (how === 'fetch') return (await fetch('http://127.0.0.1:' + port + '/')).text();
  if (how === 'http') return new Promise((res, rej) => {
    const req = http.get({ host: '127.0.0.1', port }, (r) => { let t = ''; r.on('data', (c) => (t += c)); r.on('end', () => res(t)); });
    req.on('error', rej);
  });
  return new Promise((res, rej) => {
    const s = net.connect(port, '127.0.0.1', () => { s.end(); res('connected'); });
    s.on('error', rej);
  });
};`;

  it('denies network access, loopback included, when the host is not listed', async () => {
    const skill = await toolSkill(NET);
    const exec = executor();
    for (const how of ['fetch', 'net', 'http']) {
      const err = await failure(exec.execute(skill, { port, how }, { signal: neverAborted() }));
      expect(err.code, how).toBe('permission_denied');
    }
  });

  it('allows a listed host, with or without a port', async () => {
    const exec = executor();
    const anyPort = await toolSkill(NET, { permissions: { network: ['127.0.0.1'] } });
    expect(await exec.execute(anyPort, { port, how: 'fetch' }, { signal: neverAborted() })).toBe('pong');
    expect(await exec.execute(anyPort, { port, how: 'net' }, { signal: neverAborted() })).toBe('connected');
    expect(await exec.execute(anyPort, { port, how: 'http' }, { signal: neverAborted() })).toBe('pong');
    const exact = await toolSkill(NET, { permissions: { network: [`127.0.0.1:${port}`] } });
    expect(await exec.execute(exact, { port, how: 'fetch' }, { signal: neverAborted() })).toBe('pong');
    const otherPort = await toolSkill(NET, { permissions: { network: [`127.0.0.1:${port === 1 ? 2 : 1}`] } });
    expect(
      (await failure(exec.execute(otherPort, { port, how: 'net' }, { signal: neverAborted() }))).code,
    ).toBe('permission_denied');
  });

  it('denies a listed host when the config disables network', async () => {
    const skill = await toolSkill(NET, { permissions: { network: ['127.0.0.1'] } });
    const err = await failure(
      executor({ allowNetwork: false }).execute(skill, { port, how: 'fetch' }, { signal: neverAborted() }),
    );
    expect(err.code).toBe('permission_denied');
  });

  it('gives the child a minimal environment', async () => {
    process.env.SKILLPLANE_TEST_SECRET = 'hunter2';
    try {
      const skill = await toolSkill('export default async () => Object.keys(process.env).sort();');
      const keys = (await executor().execute(skill, {}, { signal: neverAborted() })) as string[];
      // bubblewrap sets PWD (the working root); nothing else of the parent's environment leaks.
      expect(keys.every((k) => ['PATH', 'NODE_ENV', 'PWD'].includes(k))).toBe(true);
    } finally {
      delete process.env.SKILLPLANE_TEST_SECRET;
    }
  });

  it('forwards log lines to the caller logger', async () => {
    const skill = await toolSkill(
      `export default async (_input, ctx) => { ctx.logger.info('hello', { n: 1 }); return 1; };`,
    );
    const lines: unknown[] = [];
    const logger = {
      debug: () => undefined,
      info: (fields: unknown, msg: string) => lines.push([fields, msg]),
      warn: () => undefined,
      error: () => undefined,
    } as unknown as Logger;
    await executor().execute(skill, {}, { signal: neverAborted(), logger });
    expect(lines).toEqual([[{ skill: skill.ref, n: 1 }, 'hello']]);
  });

  it('reports a crash with the tail of stderr', async () => {
    const skill = await toolSkill(
      `export default async () => { process.stderr.write('boom happened\\n'); setTimeout(() => process.exit(3), 20); return new Promise(() => {}); };`,
    );
    const err = await failure(executor().execute(skill, {}, { signal: neverAborted() }));
    expect(err.code).toBe('skill_crashed');
    expect(err.data).toMatchObject({ exit_code: 3, stderr: expect.stringContaining('boom happened') });
  });

  it('reports an error thrown by the skill as skill_failed and keeps the process', async () => {
    const events: ToolProcessEvent[] = [];
    const skill = await toolSkill(
      `const token = crypto.randomUUID();
export default async ({ fail }) => { if (fail) throw new Error('nope'); return token; };`,
    );
    const exec = executor({}, events);
    const err = await failure(exec.execute(skill, { fail: true }, { signal: neverAborted() }));
    expect(err).toMatchObject({ code: 'skill_failed', message: expect.stringContaining('nope') });
    const first = await exec.execute(skill, { fail: false }, { signal: neverAborted() });
    expect(await exec.execute(skill, { fail: false }, { signal: neverAborted() })).toBe(first);
    expect(events.filter((e) => e.type === 'spawn')).toHaveLength(1);
  });

  it('kills the child when the call deadline passes', async () => {
    const events: ToolProcessEvent[] = [];
    const skill = await toolSkill(`export default async () => new Promise((r) => setTimeout(r, 60_000));`);
    const exec = executor({}, events);
    const err = await failure(exec.execute(skill, {}, { signal: deadline(300) }));
    expect(err.code).toBe('timeout');
    const spawned = events.find((e) => e.type === 'spawn')!;
    expect(events.some((e) => e.type === 'exit' && e.pid === spawned.pid)).toBe(true);
    expect(isAlive(spawned.pid)).toBe(false);
  });

  it('kills the child within 100 ms of an abort', async () => {
    const events: ToolProcessEvent[] = [];
    let exitedAt = 0;
    const exec = new ToolExecutor({
      sandbox,
      policy: new SkillPolicy(policyConfig),
      onProcessEvent: (e) => {
        events.push(e);
        if (e.type === 'exit') exitedAt = performance.now();
      },
    });
    executors.push(exec);
    const skill = await toolSkill(
      `export default async (_i, ctx) => { ctx.logger.info('started'); return new Promise((r) => setTimeout(r, 60_000)); };`,
    );
    const controller = new AbortController();
    let started!: () => void;
    const startedP = new Promise<void>((resolve) => (started = resolve));
    const logger = {
      info: () => started(),
      debug: () => undefined,
      warn: () => undefined,
      error: () => undefined,
    };
    const call = failure(
      exec.execute(skill, {}, { signal: controller.signal, logger: logger as unknown as Logger }),
    );
    await startedP;
    const abortedAt = performance.now();
    controller.abort();
    const err = await call;
    expect(err.code).toBe('cancelled');
    const pid = events.find((e) => e.type === 'spawn')!.pid;
    expect(exitedAt - abortedAt).toBeLessThan(100);
    expect(isAlive(pid)).toBe(false);
  });

  it('reuses a warm process for the same skill and never across skills', async () => {
    const code = 'const token = crypto.randomUUID();\nexport default async () => token;';
    const a = await toolSkill(code);
    const b = await toolSkill(code);
    const events: ToolProcessEvent[] = [];
    const exec = executor({}, events);
    const first = await exec.execute(a, {}, { signal: neverAborted() });
    const second = await exec.execute(a, {}, { signal: neverAborted() });
    const other = await exec.execute(b, {}, { signal: neverAborted() });
    expect(second).toBe(first);
    expect(other).not.toBe(first);
    const concurrent = await Promise.all([
      exec.execute(a, {}, { signal: neverAborted() }),
      exec.execute(a, {}, { signal: neverAborted() }),
    ]);
    expect(new Set(concurrent).size).toBe(2);
    const pids = events.filter((e) => e.type === 'spawn').map((e) => e.pid);
    expect(pids).toHaveLength(3);
    await exec.close();
    for (const pid of pids) expect(isAlive(pid)).toBe(false);
  });

  it('caps the processes of one skill during a burst; extra calls wait for a free one', async () => {
    const skill = await toolSkill(
      'const token = crypto.randomUUID();\nexport default async () => { await new Promise((r) => setTimeout(r, 50)); return token; };',
    );
    const events: ToolProcessEvent[] = [];
    const exec = new ToolExecutor({
      sandbox,
      policy: new SkillPolicy(policyConfig),
      maxProcessesPerSkill: 3,
      onProcessEvent: (e) => events.push(e),
    });
    executors.push(exec);
    const pids = await Promise.all(
      Array.from({ length: 12 }, () => exec.execute(skill, {}, { signal: neverAborted() })),
    );
    expect(new Set(pids).size).toBe(3);
    expect(events.filter((e) => e.type === 'spawn')).toHaveLength(3);
    // A waiting call leaves the queue when its signal aborts.
    const slow = Array.from({ length: 3 }, () => exec.execute(skill, {}, { signal: neverAborted() }));
    const controller = new AbortController();
    const waiting = exec.execute(skill, {}, { signal: controller.signal });
    controller.abort();
    await expect(waiting).rejects.toMatchObject({ code: 'cancelled' });
    await Promise.all(slow);
  });

  it('respawns after a timeout instead of reusing the killed process', async () => {
    const skill = await toolSkill(
      `const token = crypto.randomUUID();
export default async ({ hang }) => hang ? new Promise(() => setTimeout(() => {}, 60_000)) : token;`,
    );
    const exec = executor();
    const before = await exec.execute(skill, {}, { signal: neverAborted() });
    expect((await failure(exec.execute(skill, { hang: true }, { signal: deadline(300) }))).code).toBe(
      'timeout',
    );
    const after = await exec.execute(skill, {}, { signal: neverAborted() });
    expect(after).not.toBe(before);
  });

  it('cancels a running call when the executor closes', async () => {
    const skill = await toolSkill(
      `export default async (_i, ctx) => { ctx.logger.info('started'); return new Promise((r) => setTimeout(r, 60_000)); };`,
    );
    const exec = executor();
    let started!: () => void;
    const startedP = new Promise<void>((resolve) => (started = resolve));
    const logger = {
      info: () => started(),
      debug: () => undefined,
      warn: () => undefined,
      error: () => undefined,
    };
    const call = failure(
      exec.execute(skill, {}, { signal: neverAborted(), logger: logger as unknown as Logger }),
    );
    await startedP;
    await exec.close();
    expect((await call).code).toBe('cancelled');
    await expect(exec.execute(skill, {}, { signal: neverAborted() })).rejects.toMatchObject({
      code: 'executor_closed',
    });
  });

  it('refuses an entry outside the skill folder', async () => {
    const skill = await toolSkill('export default async () => 1;', { entry: '../../secret.txt' });
    await expect(executor().execute(skill, {}, { signal: neverAborted() })).rejects.toMatchObject({
      code: 'permission_denied',
    });
  });

  it('maps errors to SkillExecutionError', async () => {
    const skill = await toolSkill(READ);
    await expect(
      executor().execute(skill, { path: '/etc/passwd' }, { signal: neverAborted() }),
    ).rejects.toBeInstanceOf(SkillExecutionError);
  });
});
