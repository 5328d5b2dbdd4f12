import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type StartedServer } from '../../src/api/index.js';
import {
  SkillplaneApiError,
  SkillplaneClient,
  SkillplaneConnectionError,
  SkillplaneError,
  type RunEvent,
} from '../../src/client/index.js';
import { apiAgents, apiScript } from '../api/helpers.js';
import { startHarness, type Harness } from '../agents/harness.js';

const ADMIN_KEY = 'admin-key-0123456789';
const LIMITED_KEY = 'limited-key-0123456789';

let h: Harness;
let server: StartedServer;
let client: SkillplaneClient;

beforeAll(async () => {
  h = await startHarness({
    script: apiScript,
    agents: apiAgents,
    config: {
      auth: {
        keys: [
          { principal: 'admin', key: ADMIN_KEY, scopes: ['admin'] },
          { principal: 'limited', key: LIMITED_KEY, scopes: ['runs:read'], rate_limit_per_min: 1 },
        ],
      },
    },
  });
  server = await startServer(h.app.ports, { host: '127.0.0.1', port: 0, logger: false, heartbeatMs: 50 });
  client = new SkillplaneClient({ baseUrl: `${server.url}/`, apiKey: ADMIN_KEY });
});

afterAll(async () => {
  await server?.close();
  await h?.close();
});

/** A TCP proxy in front of the server whose connections a test can cut. */
async function startProxy(port: number): Promise<{
  url: string;
  connections: number;
  requests: string[];
  dropAll(): void;
  close(): Promise<void>;
}> {
  const sockets = new Set<Socket>();
  const state = { connections: 0, requests: [] as string[] };
  const proxy: Server = createServer((down) => {
    state.connections += 1;
    const up = connect(port, '127.0.0.1');
    sockets.add(down).add(up);
    down.on('data', (d: Buffer) => state.requests.push(d.toString('latin1')));
    down.pipe(up).pipe(down);
    const drop = () => {
      down.destroy();
      up.destroy();
      sockets.delete(down);
      sockets.delete(up);
    };
    down.on('error', drop).on('close', drop);
    up.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const address = proxy.address() as { port: number };
  return {
    url: `http://127.0.0.1:${address.port}`,
    get connections() {
      return state.connections;
    },
    requests: state.requests,
    dropAll() {
      for (const s of sockets) s.destroy();
      sockets.clear();
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        proxy.close(() => resolve());
      }),
  };
}

async function collect(it: AsyncIterable<RunEvent>): Promise<RunEvent[]> {
  const out: RunEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

describe('SkillplaneClient: system, agents and skills', () => {
  it('reads health, readiness and the agent list', async () => {
    expect(await client.health()).toEqual({ status: 'ok' });
    expect((await client.ready()).status).toBe('ready');
    const agents = await client.listAgents();
    expect(agents.map((a) => a.name).sort()).toEqual(['assistant', 'critic', 'ops', 'writer']);
  });

  it('lists, filters and reads skills, percent-encoding ids and ranges', async () => {
    const all = await client.listSkills();
    expect(all.map((s) => s.id)).toEqual(expect.arrayContaining(['test/echo', 'test/danger']));
    const risky = await client.listSkills({ tag: 'destructive' });
    expect(risky.map((s) => s.id)).toEqual(['test/danger']);
    expect((await client.listSkills({ namespace: 'nope' })).length).toBe(0);
    expect((await client.listSkills({ allVersions: true })).length).toBe(all.length);
    const echo = await client.getSkill('test/echo');
    expect(echo).toMatchObject({
      id: 'test/echo',
      version: '1.0.0',
      tool_name: 'test__echo',
      versions: ['1.0.0'],
    });
    expect((await client.getSkill('test/echo@^1')).version).toBe('1.0.0');
    await expect(client.getSkill('test/none')).rejects.toMatchObject({ status: 404, code: 'not_found' });
  });

  it('executes skills; a risk-tagged one needs an approval', async () => {
    const res = await client.executeSkill('test/echo', { hello: 'world' });
    expect(res).toMatchObject({ ok: true, skill: 'test/echo@1.0.0', output: { echo: { hello: 'world' } } });
    const refused = await client.executeSkill('test/danger', { label: 'x' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(SkillplaneApiError);
    expect(refused).toMatchObject({ status: 403, code: 'approval_required' });
    expect((refused as SkillplaneApiError).data).toMatchObject({ requires_approval: true, ok: false });
    const approved = await client.executeSkill(
      'test/danger',
      { label: 'ok' },
      { approval: { approved: true, reason: 'test' } },
    );
    expect(approved).toMatchObject({ ok: true, approved_by: 'admin', output: { recorded: 'ok' } });
  });

  it('reloads skills', async () => {
    const r = await client.reloadSkills();
    expect(r.skills).toBeGreaterThanOrEqual(4);
    expect(r.errors).toEqual([]);
  });
});

describe('SkillplaneClient: runs', () => {
  it('creates a run (202), waits for it and reads it back', async () => {
    const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
    const run = await client.createRun({ agent: 'assistant', input: 'hello' }, { traceparent });
    expect(run.id).toMatch(/^run_/);
    expect(run.trace_id).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(run.links.self).toBe(`/v1/agents/runs/${run.id}`);
    const done = await client.waitForRun(run.id, { timeoutMs: 10_000 });
    expect(done.status).toBe('completed');
    expect(done.result).toMatchObject({ output: 'echo: hello' });
    const got = await client.getRun(run.id);
    expect(got.steps?.length).toBeGreaterThan(0);
    expect(got.principal).toBe('admin');
  });

  it('creates with ?wait, replays an idempotency key, and cancels', async () => {
    const waited = await client.createRun({ agent: 'assistant', input: 'now' }, { wait: 10 });
    expect(waited.status).toBe('completed');
    expect(waited.steps?.length).toBeGreaterThan(0);
    const a = await client.createRun({ agent: 'assistant', input: 'once' }, { idempotencyKey: 'k-1' });
    const b = await client.createRun({ agent: 'assistant', input: 'once' }, { idempotencyKey: 'k-1' });
    expect(b.id).toBe(a.id);
    const conflict = await client
      .createRun({ agent: 'assistant', input: 'other' }, { idempotencyKey: 'k-1' })
      .catch((e: unknown) => e);
    expect(conflict).toMatchObject({ status: 409, code: 'idempotency_conflict' });

    const slow = await client.createRun({ agent: 'assistant', input: 'sleep 5000' });
    const cancelled = await client.cancelRun(slow.id);
    expect(cancelled.status).toBe('cancelled');
    await expect(client.cancelRun(waited.id)).rejects.toMatchObject({
      status: 409,
      code: 'already_terminal',
    });
    // waitForRun on a terminal run returns it at once.
    expect((await client.waitForRun(slow.id)).status).toBe('cancelled');
  });

  it('returns the current run when waitForRun times out', async () => {
    const slow = await client.createRun({ agent: 'assistant', input: 'sleep 3000' });
    const t0 = Date.now();
    const current = await client.waitForRun(slow.id, { timeoutMs: 300 });
    expect(Date.now() - t0).toBeLessThan(2500);
    expect(['queued', 'running']).toContain(current.status);
    await client.cancelRun(slow.id);
  });

  it('lists runs with filters and iterates every page', async () => {
    for (let i = 0; i < 3; i++) await client.createRun({ agent: 'writer', input: `page ${i}` }, { wait: 10 });
    const page = await client.listRuns({ agent: 'writer', limit: 2 });
    expect(page.runs).toHaveLength(2);
    expect(page.next_cursor).not.toBeNull();
    const ids: string[] = [];
    for await (const r of client.iterateRuns({ agent: 'writer', limit: 1 })) ids.push(r.id);
    expect(ids).toHaveLength(3);
    expect(new Set(ids).size).toBe(3);
    const completed = await client.listRuns({ status: ['completed', 'failed'], agent: 'writer' });
    expect(completed.runs.every((r) => r.status === 'completed')).toBe(true);
    await expect(client.listRuns({ status: 'bogus' as 'queued' })).rejects.toMatchObject({
      status: 400,
      code: 'invalid_request',
    });
  });

  it('approves a waiting run and denies another', async () => {
    const run = await client.createRun({ agent: 'ops', input: 'danger zone' });
    const waiting = await client.waitForRun(run.id, { timeoutMs: 10_000 });
    expect(waiting.status).toBe('waiting_approval');
    const [pending] = await client.listApprovals({ status: 'pending', run_id: run.id });
    expect(pending).toMatchObject({ run_id: run.id, skill_id: 'test/danger', status: 'pending' });
    const decided = await client.decideApproval(pending!.id, { decision: 'approve', reason: 'fine' });
    expect(decided).toMatchObject({ status: 'approved', decided_by: 'admin', reason: 'fine' });
    expect((await client.waitForRun(run.id, { timeoutMs: 10_000 })).status).toBe('completed');
    await expect(client.decideApproval(pending!.id, { decision: 'deny' })).rejects.toMatchObject({
      status: 409,
    });

    const other = await client.createRun({ agent: 'ops', input: 'danger again' });
    await client.waitForRun(other.id, { timeoutMs: 10_000 });
    const [second] = await client.listApprovals({ run_id: other.id });
    await client.decideApproval(second!.id, { decision: 'deny', reason: 'no' });
    const end = await client.waitForRun(other.id, { timeoutMs: 10_000 });
    expect(['failed', 'completed']).toContain(end.status);
  });
});

describe('SkillplaneClient: errors', () => {
  it('maps a 404 problem to SkillplaneApiError with code, detail and the problem as data', async () => {
    const err = await client.getRun('run_missing').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SkillplaneApiError);
    expect(err).toBeInstanceOf(SkillplaneError);
    const e = err as SkillplaneApiError;
    expect(e.status).toBe(404);
    expect(e.code).toBe('not_found');
    expect(e.detail).toContain('run_missing');
    expect(e.message).toBe(e.detail);
    expect(e.data).toMatchObject({ status: 404, code: 'not_found', title: 'Not Found' });
    expect(e.requestId).toBeDefined();
    expect(e.retryAfterMs).toBeUndefined();
  });

  it('maps 429 with Retry-After to retryAfterMs', async () => {
    const limited = new SkillplaneClient({ baseUrl: server.url, apiKey: LIMITED_KEY });
    await limited.listRuns({ limit: 1 });
    const err = (await limited.listRuns({ limit: 1 }).catch((e: unknown) => e)) as SkillplaneApiError;
    expect(err).toBeInstanceOf(SkillplaneApiError);
    expect(err.status).toBe(429);
    expect(err.code).toBe('rate_limited');
    expect(err.retryAfterMs).toBeGreaterThanOrEqual(1000);
    expect(err.retryAfterMs! % 1000).toBe(0);
    expect(err.data).toMatchObject({ limit_per_min: 1 });
  });

  it('maps 401 and 403, and an unreachable server to SkillplaneConnectionError', async () => {
    const anonymous = new SkillplaneClient({ baseUrl: server.url });
    await expect(anonymous.listRuns()).rejects.toMatchObject({ status: 401, code: 'unauthorized' });
    const reader = new SkillplaneClient({ baseUrl: server.url, apiKey: 'wrong-key-0123456789' });
    await expect(reader.getRun('x')).rejects.toMatchObject({ status: 401 });
    const dead = new SkillplaneClient({ baseUrl: 'http://127.0.0.1:9' });
    const err = await dead.health().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SkillplaneConnectionError);
    expect((err as SkillplaneConnectionError).code).toBe('connection_failed');
  });
});

describe('SkillplaneClient.events', () => {
  it('streams a run from the start to its terminal event', async () => {
    const run = await client.createRun({ agent: 'assistant', input: 'sleep 200' });
    const events = await collect(client.events(run.id));
    expect(events[0]!.type).toBe('run.created');
    expect(events.at(-1)!.type).toBe('run.completed');
    expect(events.map((e) => e.seq)).toEqual(events.map((_, i) => i + 1));
    // afterSeq resumes in the middle; a terminal run's stream ends after its history.
    const tail = await collect(client.events(run.id, { afterSeq: 2 }));
    expect(tail.map((e) => e.seq)).toEqual(events.slice(2).map((e) => e.seq));
  });

  it('resumes with Last-Event-ID after the connection drops mid-run and yields each event once', async () => {
    const proxy = await startProxy(server.port);
    try {
      const viaProxy = new SkillplaneClient({ baseUrl: proxy.url, apiKey: ADMIN_KEY });
      const run = await client.createRun({ agent: 'assistant', input: 'sleep 800' });
      const seen: RunEvent[] = [];
      let dropped = false;
      for await (const e of viaProxy.events(run.id, { retryBaseMs: 20 })) {
        seen.push(e);
        if (!dropped && e.type === 'step.started') {
          dropped = true;
          proxy.dropAll();
        }
      }
      expect(dropped).toBe(true);
      expect(proxy.connections).toBeGreaterThanOrEqual(2);
      const resumedWith = proxy.requests.map((r) => /last-event-id: (\d+)/i.exec(r)?.[1]).filter(Boolean);
      expect(resumedWith.length).toBeGreaterThanOrEqual(1);
      const full = await collect(client.events(run.id));
      expect(seen.map((e) => e.seq)).toEqual(full.map((e) => e.seq));
      expect(seen).toEqual(full);
      expect(seen.at(-1)!.type).toBe('run.completed');
    } finally {
      await proxy.close();
    }
  });

  it('gives up after the bounded retries when the server stays away', async () => {
    const proxy = await startProxy(server.port);
    const run = await client.createRun({ agent: 'assistant', input: 'sleep 2000' });
    const viaProxy = new SkillplaneClient({ baseUrl: proxy.url, apiKey: ADMIN_KEY });
    const iterator = viaProxy.events(run.id, { retryBaseMs: 10, maxRetries: 2 });
    const first = await iterator.next();
    expect(first.value).toMatchObject({ seq: 1 });
    await proxy.close();
    const err = await (async () => {
      for await (const _ of iterator) {
        // drain
      }
    })().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SkillplaneConnectionError);
    await client.cancelRun(run.id);
  });

  it('stops when the consumer breaks out or the signal aborts', async () => {
    const run = await client.createRun({ agent: 'assistant', input: 'sleep 2000' });
    for await (const e of client.events(run.id)) {
      expect(e.seq).toBe(1);
      break;
    }
    const controller = new AbortController();
    const pending = collect(client.events(run.id, { signal: controller.signal }));
    setTimeout(() => controller.abort(), 100);
    await expect(pending).rejects.toThrow();
    await client.cancelRun(run.id);
    await expect(collect(client.events('run_missing'))).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('the client bundle', () => {
  it('imports nothing but types from outside src/client (besides the error base class and the vocabulary)', () => {
    const dir = join(import.meta.dirname, '..', '..', 'src', 'client');
    for (const file of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
      const text = readFileSync(join(dir, file), 'utf8');
      const imports = [...text.matchAll(/^(import|export)\s+(type\s+)?[^;]*?from\s+'([^']+)'/gms)];
      for (const m of imports) {
        const typeOnly = m[2] !== undefined;
        const from = m[3]!;
        // The vocabulary has no dependencies: the client shares its statuses and event types.
        if (
          typeOnly ||
          from.startsWith('./') ||
          from === '../errors/index.js' ||
          from === '../vocabulary/index.js'
        )
          continue;
        throw new Error(`${file} imports ${from} at runtime`);
      }
    }
  });

  it('loads without fastify, better-sqlite3, pino or zod in a fresh process', () => {
    const script = `
      import { createRequire } from 'node:module';
      const m = await import('./src/client/index.ts');
      if (typeof m.SkillplaneClient !== 'function') throw new Error('no client');
      const loaded = Object.keys(createRequire(import.meta.url).cache);
      const heavy = loaded.filter((f) => /node_modules[\\\\/](fastify|better-sqlite3|pino|zod|pg|@modelcontextprotocol)[\\\\/]/.test(f));
      process.stdout.write(JSON.stringify({ heavy, control: process.argv[1] }));
    `;
    const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: join(import.meta.dirname, '..', '..'),
      encoding: 'utf8',
    });
    expect(res.stderr).toBe('');
    expect(JSON.parse(res.stdout)).toMatchObject({ heavy: [] });
    // The same probe sees fastify when the server is imported, so the check is not vacuous.
    const control = spawnSync(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        script
          .replace('./src/client/index.ts', './src/api/index.ts')
          .replace("if (typeof m.SkillplaneClient !== 'function') throw new Error('no client');", ''),
      ],
      { cwd: join(import.meta.dirname, '..', '..'), encoding: 'utf8' },
    );
    expect((JSON.parse(control.stdout) as { heavy: string[] }).heavy.length).toBeGreaterThan(0);
  }, 30_000);
});
