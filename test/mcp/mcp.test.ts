import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ToolListChangedNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import type { CallToolResult, TextContent } from '@modelcontextprotocol/sdk/types.js';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mcpPlugin } from '../../src/mcp/index.js';
import { FakeClock, until } from '../../src/testing/index.js';
import { executions, startHarness, type Harness } from '../agents/harness.js';
import { testAuthorize, writeExtraSkills } from './fixtures.js';

let h: Harness;
let dir: string;
let fastify: FastifyInstance;
let url: URL;
const clients: Client[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sp-mcp-'));
  writeExtraSkills(dir);
  h = await startHarness({
    script: () => ({ content: 'all done' }),
    agents: [{ name: 'solo', skills: ['test/echo'] }],
    dir,
  });
  fastify = Fastify();
  await fastify.register(mcpPlugin, { ports: h.app.ports, authorize: testAuthorize });
  const address = await fastify.listen({ host: '127.0.0.1', port: 0 });
  url = new URL(`${address}/mcp`);
});

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await fastify?.close();
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function connect(headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: 'test-client', version: '1.0.0' });
  const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers } });
  await client.connect(transport);
  clients.push(client);
  return client;
}

function text(r: CallToolResult): string {
  return (r.content[0] as TextContent).text;
}

function labels(): string[] {
  return executions(h.sideFile).map((e) => e.label);
}

const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};

function rawPost(headers: Record<string, string>, body: unknown = initialize): Promise<Response> {
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...headers,
    },
    body: JSON.stringify(body),
  });
}

describe('MCP server', () => {
  it('initializes a stateful session with list-changed capabilities', async () => {
    const client = await connect();
    expect(client.getServerVersion()?.name).toBe('skillplane');
    const caps = client.getServerCapabilities();
    expect(caps?.tools?.listChanged).toBe(true);
    expect(caps?.prompts?.listChanged).toBe(true);
    expect(caps?.resources?.listChanged).toBe(true);
    expect((client.transport as StreamableHTTPClientTransport).sessionId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('lists tool and workflow skills with schemas and annotations, plus the agents tools', async () => {
    const client = await connect();
    const { tools } = await client.listTools();
    const names = tools.map((t) => t.name);
    expect(names).toEqual(
      expect.arrayContaining(['test__upper', 'test__record', 'test__danger', 'test__echo']),
    );
    expect(names).toEqual(
      expect.arrayContaining(['agents__start_run', 'agents__get_run', 'agents__cancel_run']),
    );
    expect(names).not.toContain('test__greet');
    const upper = tools.find((t) => t.name === 'test__upper')!;
    expect(upper.inputSchema).toEqual({
      type: 'object',
      required: ['text'],
      additionalProperties: false,
      properties: { text: { type: 'string', description: 'The text' } },
    });
    expect(upper.outputSchema).toEqual({
      type: 'object',
      required: ['upper'],
      properties: { upper: { type: 'string' } },
    });
    expect(upper.annotations).toMatchObject({
      readOnlyHint: true,
      destructiveHint: false,
      openWorldHint: false,
    });
    expect(upper.annotations?.title).toBe('Upper (test)');
    const danger = tools.find((t) => t.name === 'test__danger')!;
    expect(danger.annotations).toMatchObject({ destructiveHint: true, readOnlyHint: false });
    expect(danger.outputSchema).toBeUndefined();
  });

  it('calls a tool: structuredContent and the same JSON as text', async () => {
    const client = await connect();
    await client.listTools();
    const r = (await client.callTool({ name: 'test__upper', arguments: { text: 'mcp' } })) as CallToolResult;
    expect(r.isError).toBeFalsy();
    expect(r.structuredContent).toEqual({ upper: 'MCP' });
    expect(JSON.parse(text(r))).toEqual({ upper: 'MCP' });
    const plain = (await client.callTool({
      name: 'test__record',
      arguments: { label: 'via-mcp' },
      _meta: { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01' },
    })) as CallToolResult;
    expect(plain.isError).toBeFalsy();
    expect(plain.structuredContent).toBeUndefined();
    expect(JSON.parse(text(plain))).toEqual({ recorded: 'via-mcp' });
    expect(labels()).toContain('via-mcp');
  });

  it('returns input validation failures as isError results', async () => {
    const client = await connect();
    const r = (await client.callTool({ name: 'test__upper', arguments: { text: 3 } })) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(text(r)).toContain('input_invalid');
    await expect(client.callTool({ name: 'test__nope', arguments: {} })).rejects.toThrow(/Unknown tool/);
  });

  it('never runs a risk-tagged skill and explains how to approve it', async () => {
    const client = await connect();
    const r = (await client.callTool({
      name: 'test__danger',
      arguments: { label: 'mcp-danger' },
    })) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(text(r)).toMatch(/approval_required/);
    expect(text(r)).toMatch(/approve/i);
    expect(text(r)).toContain('/v1/skills/test%2Fdanger/execute');
    expect(labels()).not.toContain('mcp-danger');
  });

  it('checks scopes per operation', async () => {
    const reader = await connect({ 'x-scopes': 'skills:read' });
    expect((await reader.listTools()).tools.length).toBeGreaterThan(0);
    const r = (await reader.callTool({ name: 'test__upper', arguments: { text: 'x' } })) as CallToolResult;
    expect(r.isError).toBe(true);
    expect(text(r)).toContain('forbidden');
    const runner = await connect({ 'x-scopes': 'runs:read' });
    await expect(runner.listTools()).rejects.toThrow(/forbidden/);
  });

  it('lists prompt skills as prompts and renders them', async () => {
    const client = await connect();
    const { prompts } = await client.listPrompts();
    const greet = prompts.find((p) => p.name === 'test__greet')!;
    expect(greet.description).toBe('Greets someone.');
    expect(greet.arguments).toEqual([
      { name: 'name', description: 'Who to greet', required: true },
      { name: 'times', required: false },
    ]);
    expect(prompts.map((p) => p.name)).toContain('local__helper-notes');
    const got = await client.getPrompt({ name: 'test__greet', arguments: { name: 'Ada', times: '3' } });
    expect(got.messages).toEqual([
      { role: 'user', content: { type: 'text', text: 'Say hello to Ada 3 times.' } },
    ]);
    await expect(client.getPrompt({ name: 'test__greet', arguments: {} })).rejects.toThrow(/input_invalid/);
  });

  it('lists and reads skill docs as resources', async () => {
    const client = await connect();
    const { resources } = await client.listResources();
    const upper = resources.find((r) => r.uri === 'skill://test/upper@1.0.0')!;
    expect(upper.mimeType).toBe('text/markdown');
    const read = await client.readResource({ uri: 'skill://test/upper@1.0.0' });
    const doc = read.contents[0] as { text: string; mimeType: string };
    expect(doc.mimeType).toBe('text/markdown');
    expect(doc.text).toContain('# test/upper@1.0.0');
    expect(doc.text).toContain('"upper"');
    const notes = resources.find((r) => r.uri.startsWith('skill://local/helper-notes@'))!;
    const md = await client.readResource({ uri: notes.uri });
    expect((md.contents[0] as { text: string }).text).toContain('Be kind.');
    await expect(client.readResource({ uri: 'skill://test/none@1.0.0' })).rejects.toThrow(/not found/i);
  });

  it('starts an agent run and waits for it with agents__get_run', async () => {
    const client = await connect();
    const start = (await client.callTool({
      name: 'agents__start_run',
      arguments: { agent: 'solo', input: 'do it' },
    })) as CallToolResult;
    expect(start.isError).toBeFalsy();
    const { run_id } = start.structuredContent as { run_id: string; status: string };
    expect(run_id).toMatch(/^run_/);
    const got = (await client.callTool({
      name: 'agents__get_run',
      arguments: { run_id, wait_sec: 10 },
    })) as CallToolResult;
    const run = got.structuredContent as { status: string; result: { output: string }; usage: object };
    expect(run.status).toBe('completed');
    expect(run.result.output).toContain('all done');
    expect(run.usage).toBeDefined();
    const stored = await h.app.runtime.getRun(run_id);
    expect(stored.principal).toBe('tester');
    const cancel = (await client.callTool({
      name: 'agents__cancel_run',
      arguments: { run_id },
    })) as CallToolResult;
    expect(cancel.isError).toBe(true);
    expect(text(cancel)).toContain('already_terminal');
    const unknown = (await client.callTool({
      name: 'agents__start_run',
      arguments: { agent: 'ghost', input: 'x' },
    })) as CallToolResult;
    expect(unknown.isError).toBe(true);
  });

  it('pushes tools/list_changed when a skill folder is added and the registry reloads', async () => {
    const client = await connect();
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      changed += 1;
    });
    await client.listTools();
    // The GET stream opens right after initialize; add another skill on each poll until a
    // notification arrives over it.
    let i = 0;
    await until(
      async () => {
        if (changed > 0) return true;
        const d = join(dir, 'skills', `late${i}`);
        mkdirSync(d, { recursive: true });
        writeFileSync(
          join(d, 'skill.yaml'),
          `skill_id: test/late${i}\nversion: 1.0.0\nkind: tool\ndescription: added later\nentry: ./index.mjs\n`,
        );
        writeFileSync(join(d, 'index.mjs'), 'export default async () => ({ late: true });');
        i += 1;
        await h.app.skills.reload();
        return false;
      },
      10_000,
      'notifications/tools/list_changed over the GET stream',
      200,
    );
    expect(changed).toBeGreaterThan(0);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name)).toContain('test__late0');
  });

  it('ends a session on DELETE', async () => {
    const client = await connect();
    const transport = client.transport as StreamableHTTPClientTransport;
    const id = transport.sessionId!;
    await transport.terminateSession();
    const res = await rawPost(
      { 'mcp-session-id': id, 'mcp-protocol-version': '2025-06-18' },
      {
        jsonrpc: '2.0',
        id: 2,
        method: 'tools/list',
      },
    );
    expect(res.status).toBe(404);
  });

  it('rejects foreign origins (403), unauthenticated callers (401) and missing sessions (400)', async () => {
    const evil = await rawPost({ origin: 'http://evil.example' });
    expect(evil.status).toBe(403);
    const local = await rawPost({ origin: 'http://localhost:5173' });
    expect(local.status).toBe(200);
    const unauth = await rawPost({ 'x-deny': '1' });
    expect(unauth.status).toBe(401);
    expect(unauth.headers.get('www-authenticate')).toBe('Bearer');
    const forbidden = await rawPost({ 'x-scopes': 'approvals:write' });
    expect(forbidden.status).toBe(403);
    const noSession = await rawPost({}, { jsonrpc: '2.0', id: 3, method: 'tools/list' });
    expect(noSession.status).toBe(400);
  });

  it("refuses another principal's session", async () => {
    const client = await connect({ 'x-principal': 'alice' });
    const id = (client.transport as StreamableHTTPClientTransport).sessionId!;
    const res = await rawPost(
      { 'mcp-session-id': id, 'x-principal': 'mallory', 'mcp-protocol-version': '2025-06-18' },
      { jsonrpc: '2.0', id: 4, method: 'tools/list' },
    );
    expect(res.status).toBe(404);
  });
});

describe('MCP sessions lifecycle', () => {
  it('expires idle sessions and closes open streams when the server closes', async () => {
    const clock = new FakeClock();
    const app = Fastify();
    await app.register(mcpPlugin, {
      ports: h.app.ports,
      authorize: testAuthorize,
      sessionIdleMs: 100,
      maxSessions: 2,
      clock,
    });
    const address = await app.listen({ host: '127.0.0.1', port: 0 });
    const endpoint = new URL(`${address}/mcp`);
    const post = (headers: Record<string, string>, body: unknown) =>
      fetch(endpoint, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          ...headers,
        },
        body: JSON.stringify(body),
      });
    const idle = await post({}, initialize);
    const idleId = idle.headers.get('mcp-session-id')!;
    await idle.text();
    expect(idleId).toBeTruthy();
    // A second, connected client fills the server.
    const client = new Client({ name: 'lifecycle', version: '1.0.0' });
    await client.connect(new StreamableHTTPClientTransport(endpoint));
    const full = await post({}, initialize);
    expect(full.status).toBe(429);
    expect(Number(full.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await full.json()).toMatchObject({
      error: { data: { code: 'too_many_sessions', scope: 'server' } },
    });
    // Once the first session has been quiet for longer than its limit (the connected client
    // spoke since), the next new session sweeps it out and takes its place.
    clock.advance(101);
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    const next = await post({}, initialize);
    expect(next.status).toBe(200);
    await next.text();
    const gone = await post(
      { 'mcp-session-id': idleId, 'mcp-protocol-version': '2025-06-18' },
      {
        jsonrpc: '2.0',
        id: 9,
        method: 'tools/list',
      },
    );
    expect(gone.status).toBe(404);
    await gone.text();
    expect((await client.listTools()).tools.length).toBeGreaterThan(0);
    const started = Date.now();
    await app.close();
    expect(Date.now() - started).toBeLessThan(3000);
    await client.close().catch(() => undefined);
  });
});
