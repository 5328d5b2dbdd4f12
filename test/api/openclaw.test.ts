import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openclawPlugin } from '../../src/api/routes/openclaw.js';
import { executions, startHarness, type Harness } from '../agents/harness.js';
import { testAuthorize, writeExtraSkills } from '../mcp/fixtures.js';

let h: Harness;
let dir: string;
let fastify: FastifyInstance;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sp-openclaw-'));
  writeExtraSkills(dir);
  h = await startHarness({ script: () => ({ content: 'unused' }), agents: [], dir });
  fastify = Fastify();
  await fastify.register(openclawPlugin, { ports: h.app.ports, authorize: testAuthorize });
  await fastify.ready();
});

afterAll(async () => {
  await fastify?.close();
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

function labels(): string[] {
  return executions(h.sideFile).map((e) => e.label);
}

async function invoke(body: unknown, opts: { url?: string; headers?: Record<string, string> } = {}) {
  const res = await fastify.inject({
    method: 'POST',
    url: opts.url ?? '/tools/invoke',
    headers: { 'content-type': 'application/json', ...opts.headers },
    payload: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: res.statusCode, body: res.json<Record<string, unknown>>(), headers: res.headers };
}

describe('OpenClaw tools invoke', () => {
  it('runs a skill by id, versioned ref or tool name and answers {ok, result}', async () => {
    for (const tool of ['test/upper', 'test/upper@1.0.0', 'test/upper@^1', 'test__upper']) {
      const r = await invoke({ tool, args: { text: 'hi' } });
      expect(r.status).toBe(200);
      expect(r.body).toEqual({ ok: true, result: { upper: 'HI' } });
    }
  });

  it('serves the alias paths', async () => {
    for (const url of ['/v1/openclaw/invoke', '/v1/skills/openclaw/invoke']) {
      const r = await invoke({ tool: 'test__upper', args: { text: 'a' } }, { url });
      expect(r.status).toBe(200);
      expect(r.body.result).toEqual({ upper: 'A' });
    }
  });

  it("accepts Opta's variants of tool and arguments", async () => {
    const cases = [
      { name: 'test/upper', arguments: { text: 'b' } },
      { tool_name: 'test__upper', input: { text: 'b' } },
      { tool: 'test/upper', params: { text: 'b' } },
      { name: 'test/upper', arguments: '{"text":"b"}' },
      { tool: 'test/upper', args: '{"text":"b"}', timeout_sec: 20, sessionKey: 'main' },
    ];
    for (const body of cases) {
      const r = await invoke(body);
      expect(r.status, JSON.stringify(body)).toBe(200);
      expect(r.body.result).toEqual({ upper: 'B' });
    }
  });

  it('folds action into args only when the schema has an action property and args lack it', async () => {
    let r = await invoke({ tool: 'test/act', action: 'list', args: { n: 1 } });
    expect(r.status).toBe(200);
    expect(r.body.result).toEqual({ echo: { n: 1, action: 'list' } });
    r = await invoke({ tool: 'test/act', action: 'list', args: { action: 'keep' } });
    expect(r.body.result).toEqual({ echo: { action: 'keep' } });
    r = await invoke({ tool: 'test/echo', action: 'list', args: { a: 1 } });
    expect(r.status).toBe(200);
    expect((r.body.result as { echo: unknown }).echo).toEqual({ a: 1 });
  });

  it('answers 400 for bad requests and tool errors, OpenClaw-shaped', async () => {
    const bad = [
      {},
      { tool: '' },
      { tool: 42 },
      { tool: 'test/upper', args: [1] },
      { tool: 'test/upper', args: 'not json' },
      { tool: 'test/upper', args: { text: 'x' }, dryRun: 'yes' },
      { tool: 'test/upper', args: { text: 'x' }, timeout_sec: -1 },
    ];
    for (const body of bad) {
      const r = await invoke(body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body).toMatchObject({ ok: false, error: { type: 'invalid_request' } });
    }
    const invalidJson = await invoke('{"tool":');
    expect(invalidJson.status).toBe(400);
    expect(invalidJson.headers['content-type']).toContain('application/json');
    expect(invalidJson.body).toMatchObject({ ok: false, error: { type: 'invalid_request' } });
    const input = await invoke({ tool: 'test/upper', args: { text: 5 } });
    expect(input.status).toBe(400);
    expect(input.body).toMatchObject({ ok: false, error: { type: 'input_invalid' } });
    expect(typeof (input.body.error as { message: string }).message).toBe('string');
  });

  it('answers 401, 403, 404 and 405', async () => {
    const unauth = await invoke({ tool: 'test/upper', args: { text: 'x' } }, { headers: { 'x-deny': '1' } });
    expect(unauth.status).toBe(401);
    expect(unauth.body).toMatchObject({ ok: false, error: { type: 'unauthorized' } });
    const forbidden = await invoke(
      { tool: 'test/upper', args: { text: 'x' } },
      { headers: { 'x-scopes': 'skills:read' } },
    );
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toMatchObject({ ok: false, error: { type: 'forbidden' } });
    const unknown = await invoke({ tool: 'nope/missing', args: {} });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toMatchObject({ ok: false, error: { type: 'not_found' } });
    for (const url of ['/tools/invoke', '/v1/openclaw/invoke', '/v1/skills/openclaw/invoke']) {
      for (const method of ['GET', 'PUT', 'DELETE'] as const) {
        const res = await fastify.inject({ method, url });
        expect(res.statusCode).toBe(405);
        expect(res.headers.allow).toBe('POST');
        expect(res.json()).toMatchObject({ ok: false, error: { type: 'method_not_allowed' } });
      }
    }
  });

  it('refuses bodies over 2 MB', async () => {
    const r = await invoke({ tool: 'test/echo', args: { blob: 'x'.repeat(2 * 1024 * 1024 + 10) } });
    expect(r.status).toBe(413);
    expect(r.body).toMatchObject({ ok: false, error: { type: 'payload_too_large' } });
    const fits = await invoke({ tool: 'test/upper', args: { text: 'y'.repeat(500_000) } });
    expect(fits.status).toBe(200);
  });

  it('dryRun validates without running', async () => {
    const ok = await invoke({ tool: 'test/record', args: { label: 'dry' }, dryRun: true });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({
      ok: true,
      result: { dryRun: true, valid: true, skill: 'test/record@1.0.0' },
    });
    expect(labels()).not.toContain('dry');
    const invalid = await invoke({ tool: 'test/record', args: {}, dryRun: true });
    expect(invalid.status).toBe(400);
    expect(invalid.body).toMatchObject({ error: { type: 'input_invalid' } });
    const risky = await invoke({ tool: 'test/danger', args: { label: 'dry-danger' }, dryRun: true });
    expect(risky.status).toBe(400);
    expect(risky.body).toMatchObject({ error: { type: 'approval_required' } });
  });

  it('never runs an approval-required skill without an approval from approvals:write', async () => {
    const r = await invoke({ tool: 'test__danger', args: { label: 'no-approval' } });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({
      ok: false,
      error: { type: 'approval_required' },
      requires_approval: true,
    });
    const noScope = await invoke(
      { tool: 'test__danger', args: { label: 'no-scope' }, approved: true },
      { headers: { 'x-scopes': 'skills:execute' } },
    );
    // Asking for an approval one may not give is refused as such, as at every door.
    expect(noScope.status).toBe(403);
    expect(noScope.body).toMatchObject({ error: { type: 'forbidden' } });
    expect(labels()).not.toContain('no-approval');
    expect(labels()).not.toContain('no-scope');
  });

  it('runs an approved risk-tagged skill for a principal with approvals:write', async () => {
    const r = await invoke(
      { tool: 'test/danger', args: { label: 'approved' }, approved: true },
      { headers: { 'x-scopes': 'skills:execute,approvals:write', 'x-principal': 'alice' } },
    );
    expect(r.status).toBe(200);
    expect(r.body).toEqual({ ok: true, result: { recorded: 'approved' } });
    expect(labels()).toContain('approved');
  });

  it('applies timeout_sec', async () => {
    const r = await invoke({ tool: 'test/slow', args: { ms: 10_000 }, timeout_sec: 0.3 });
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ ok: false, error: { type: 'timeout' }, timed_out: true });
  });
});
