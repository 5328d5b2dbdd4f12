import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSse, SkillplaneClient, type ApiRun, type RunEvent } from '../../src/client/index.js';
import { startScriptedModelServer, until, type ScriptedModelServer } from '../../src/testing/index.js';
import { apiScript } from '../api/helpers.js';
import { writeTestSkills } from '../agents/harness.js';
import { writeExtraSkills } from '../mcp/fixtures.js';

/*
 * The real `skillplane serve` process (SQLite store, watched skill folders) driven by real
 * clients: the MCP SDK, an SSE reader that disconnects and resumes, plain fetch, and the CLI.
 */

const repo = join(import.meta.dirname, '..', '..');
let dir: string;
let model: ScriptedModelServer;
let child: ChildProcessWithoutNullStreams;
let output = '';
let exited: Promise<number | null>;
let url: string;
let client: SkillplaneClient;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sp-e2e-'));
  const { workspace } = writeTestSkills(dir);
  writeExtraSkills(dir);
  model = await startScriptedModelServer({ script: apiScript, model: 'test-model' });
  const configFile = join(dir, 'skillplane.yaml');
  writeFileSync(
    configFile,
    JSON.stringify({
      server: { host: '127.0.0.1' },
      store: { driver: 'sqlite', path: join(dir, 'data', 'skillplane.db') },
      models: { default: { base_url: model.url, model: 'test-model', max_retries: 0 } },
      skills: { directories: [join(dir, 'skills')], allowed_roots: [workspace], watch: true },
      agents: {
        directories: [],
        definitions: [
          { name: 'assistant', instructions: 'test' },
          { name: 'ops', instructions: 'test', skills: ['test/danger'] },
        ],
      },
    }),
  );
  child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', '--config', configFile, 'serve', '--port', '0', '--grace', '2000'],
    { cwd: repo, env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  exited = new Promise((resolve) => child.on('exit', (code) => resolve(code)));
  url = await new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m !== null) resolve(m[1]!);
    };
    child.stdout.on('data', check);
    void exited.then(() => reject(new Error(`server exited before listening:\n${output}`)));
  });
  client = new SkillplaneClient({ baseUrl: url, userId: 'e2e' });
}, 30_000);

afterAll(async () => {
  if (child !== undefined && child.exitCode === null) child.kill('SIGKILL');
  await model?.close();
  rmSync(dir, { recursive: true, force: true });
});

function post(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

/** Reads an SSE response until `stopAfter` events (then aborts) or the end of the stream. */
async function readEvents(
  lastEventId: number | undefined,
  runId: string,
  stopAfter = Infinity,
): Promise<{ events: RunEvent[]; ids: string[] }> {
  const controller = new AbortController();
  const res = await fetch(`${url}/v1/agents/runs/${runId}/events`, {
    headers: lastEventId === undefined ? {} : { 'last-event-id': String(lastEventId) },
    signal: controller.signal,
  });
  expect(res.status).toBe(200);
  const events: RunEvent[] = [];
  const ids: string[] = [];
  try {
    for await (const msg of parseSse(res.body!)) {
      if (msg.data === '') continue;
      events.push(JSON.parse(msg.data) as RunEvent);
      ids.push(msg.id ?? '');
      if (events.length >= stopAfter) {
        controller.abort(); // disconnect mid-run
        break;
      }
    }
  } catch (err) {
    if (!controller.signal.aborted) throw err;
  }
  return { events, ids };
}

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', ...args, '--url', url], {
      cwd: repo,
      env: { ...process.env, SKILLPLANE_URL: '', SKILLPLANE_API_KEY: '' },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    p.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('skillplane serve, end to end', () => {
  it('serves MCP: tools, a call, a prompt, and list_changed when a skill folder is added', async () => {
    const mcp = new Client({ name: 'e2e', version: '1.0.0' });
    await mcp.connect(new StreamableHTTPClientTransport(new URL(`${url}/mcp`)));
    try {
      let changed = 0;
      mcp.setNotificationHandler(ToolListChangedNotificationSchema, () => {
        changed += 1;
      });
      const { tools } = await mcp.listTools();
      expect(tools.map((t) => t.name)).toEqual(expect.arrayContaining(['test__echo', 'test__upper']));
      const called = (await mcp.callTool({
        name: 'test__upper',
        arguments: { text: 'abc' },
      })) as CallToolResult;
      expect(called.isError).toBeFalsy();
      expect(called.structuredContent).toEqual({ upper: 'ABC' });
      const prompt = await mcp.getPrompt({ name: 'test__greet', arguments: { name: 'Ada', times: '2' } });
      expect(prompt.messages[0]!.content).toEqual({ type: 'text', text: 'Say hello to Ada 2 times.' });

      // The server watches the skill folders: a new folder on disk reloads the registry and
      // pushes notifications/tools/list_changed over the session's GET stream.
      let i = 0;
      await until(
        () => {
          if (changed > 0) return true;
          const d = join(dir, 'skills', `late${i}`);
          mkdirSync(d, { recursive: true });
          writeFileSync(join(d, 'index.mjs'), 'export default async () => ({ late: true });');
          writeFileSync(
            join(d, 'skill.yaml'),
            `skill_id: test/late${i}\nversion: 1.0.0\nkind: tool\ndescription: added on disk\nentry: ./index.mjs\n`,
          );
          i += 1;
          return false;
        },
        15_000,
        'notifications/tools/list_changed after a new skill folder',
        1_000,
      );
      expect(changed).toBeGreaterThan(0);
      const after = await mcp.listTools();
      expect(after.tools.map((t) => t.name)).toContain('test__late0');
    } finally {
      await mcp.close();
    }
  }, 30_000);

  it('resumes an SSE stream with Last-Event-ID after a mid-run disconnect, every event once', async () => {
    const res = await post('/v1/agents/runs', { agent: 'assistant', input: 'sleep 600' });
    expect(res.status).toBe(202);
    const run = (await res.json()) as ApiRun;
    const first = await readEvents(undefined, run.id, 2);
    expect(first.events).toHaveLength(2);
    const lastSeen = first.events.at(-1)!.seq;
    expect(first.ids.at(-1)).toBe(String(lastSeen));
    // The run is still going: the rest comes live on the resumed stream.
    expect((await client.getRun(run.id)).status).not.toBe('completed');
    const rest = await readEvents(lastSeen, run.id);
    expect(rest.events.at(-1)!.type).toBe('run.completed');
    const full = await readEvents(undefined, run.id);
    const combined = [...first.events, ...rest.events];
    expect(combined).toEqual(full.events);
    expect(new Set(combined.map((e) => e.seq)).size).toBe(combined.length);
    expect(combined.map((e) => e.seq)).toEqual(combined.map((_, i) => i + 1));

    // The typed client's iterator: break after 2 events, resume with afterSeq, same result.
    const run2 = await client.createRun({ agent: 'assistant', input: 'sleep 400' });
    const a: RunEvent[] = [];
    for await (const e of client.events(run2.id)) {
      a.push(e);
      if (a.length === 2) break;
    }
    for await (const e of client.events(run2.id, { afterSeq: a.at(-1)!.seq })) a.push(e);
    const all: RunEvent[] = [];
    for await (const e of client.events(run2.id)) all.push(e);
    expect(a).toEqual(all);
  }, 20_000);

  it('creates (202), creates with ?wait (200), cancels (200) and approves over plain HTTP', async () => {
    const created = await post('/v1/agents/runs', { agent: 'assistant', input: 'hi' });
    expect(created.status).toBe(202);
    expect(created.headers.get('location')).toMatch(/^\/v1\/agents\/runs\/run_/);

    const waited = await post('/v1/agents/runs?wait=10', { agent: 'assistant', input: 'hello' });
    expect(waited.status).toBe(200);
    const done = (await waited.json()) as ApiRun;
    expect(done.status).toBe('completed');
    expect(done.result).toMatchObject({ output: 'echo: hello' });

    const slow = (await (
      await post('/v1/agents/runs', { agent: 'assistant', input: 'sleep 5000' })
    ).json()) as ApiRun;
    const cancel = await post(`/v1/agents/runs/${slow.id}/cancel`, {});
    expect(cancel.status).toBe(200);
    expect(((await cancel.json()) as ApiRun).status).toBe('cancelled');

    const risky = await post('/v1/agents/runs?wait=10', { agent: 'ops', input: 'danger zone' });
    expect(risky.status).toBe(200);
    const waiting = (await risky.json()) as ApiRun;
    expect(waiting.status).toBe('waiting_approval');
    const list = (await (await fetch(`${url}/v1/approvals?status=pending&run_id=${waiting.id}`)).json()) as {
      approvals: { id: string; skill_id: string }[];
    };
    expect(list.approvals).toHaveLength(1);
    expect(list.approvals[0]!.skill_id).toBe('test/danger');
    const decided = await post(`/v1/approvals/${list.approvals[0]!.id}`, {
      decision: 'approve',
      reason: 'e2e',
    });
    expect(decided.status).toBe(200);
    expect((await decided.json()) as { status: string }).toMatchObject({ status: 'approved' });
    const final = await client.waitForRun(waiting.id, { timeoutMs: 10_000 });
    expect(final.status).toBe('completed');
  }, 20_000);

  it('answers the CLI remote commands', async () => {
    const [list, submit, missing] = await Promise.all([
      cli(['runs', 'list', '--json', '--limit', '50']),
      cli(['submit', 'assistant', '--input', 'from the cli', '--wait', '10', '--json']),
      cli(['runs', 'show', 'run_missing']),
    ]);
    expect(list.code).toBe(0);
    const page = JSON.parse(list.stdout) as { runs: ApiRun[] };
    expect(page.runs.length).toBeGreaterThanOrEqual(5);
    expect(page.runs.some((r) => r.status === 'cancelled')).toBe(true);
    expect(submit.code).toBe(0);
    expect(JSON.parse(submit.stdout)).toMatchObject({
      status: 'completed',
      result: { output: 'echo: from the cli' },
    });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('error [not_found]');
  }, 30_000);

  it('exits 0 within a few seconds of SIGTERM', async () => {
    const t0 = Date.now();
    child.kill('SIGTERM');
    const code = await Promise.race([exited, delay(8_000).then(() => 'timeout' as const)]);
    expect(code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(8_000);
  }, 15_000);
});
