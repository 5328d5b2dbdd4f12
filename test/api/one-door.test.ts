import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult, TextContent } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type StartedServer } from '../../src/api/index.js';
import { until } from '../../src/testing/index.js';
import { apiAgents, apiScript } from './helpers.js';
import { executions, startHarness, type Harness } from '../agents/harness.js';

/*
 * One skill call, four doors: the same risk-tagged skill through REST execute, OpenClaw, MCP and
 * an agent run is refused the same way without an approval, gives the same result with one, and
 * leaves exactly one `skill.execute` audit entry per call, naming its door.
 */

let h: Harness;
let server: StartedServer;
let mcp: Client;

beforeAll(async () => {
  h = await startHarness({ script: apiScript, agents: apiAgents });
  server = await startServer(h.app.ports, { host: '127.0.0.1', port: 0, logger: false });
  mcp = new Client({ name: 'one-door', version: '1.0.0' });
  await mcp.connect(
    new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
      requestInit: { headers: { 'x-user-id': 'mia' } },
    }),
  );
});

afterAll(async () => {
  await mcp?.close().catch(() => undefined);
  await server?.close();
  await h?.close();
});

async function post(
  path: string,
  body: unknown,
  user: string,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-user-id': user },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

function labels(): string[] {
  return executions(h.sideFile).map((e) => e.label);
}

async function auditOf(door: string) {
  const { entries } = await h.store.listAudit({
    action: 'skill.execute',
    target: 'test/danger@1.0.0',
    limit: 100,
  });
  return entries
    .filter((e) => e.data?.door === door)
    .map((e) => ({
      principal: e.principal,
      ok: e.data?.ok,
      code: e.data?.code,
      approved_by: e.data?.approved_by,
    }))
    .reverse();
}

describe('one skill call through every door', () => {
  it('REST execute', async () => {
    const refused = await post('/v1/skills/test%2Fdanger/execute', { input: { label: 'rest' } }, 'rae');
    expect([refused.status, refused.body.code]).toEqual([403, 'approval_required']);
    const ok = await post(
      '/v1/skills/test%2Fdanger/execute',
      { input: { label: 'rest' }, approval: { approved: true } },
      'rae',
    );
    expect([ok.status, ok.body.output]).toEqual([200, { recorded: 'rest' }]);
    expect(await auditOf('http')).toEqual([
      { principal: 'rae', ok: false, code: 'approval_required', approved_by: null },
      { principal: 'rae', ok: true, code: null, approved_by: 'rae' },
    ]);
  });

  it('OpenClaw tools invoke', async () => {
    const refused = await post('/tools/invoke', { tool: 'test/danger', args: { label: 'claw' } }, 'olaf');
    expect([refused.status, (refused.body.error as { type: string }).type]).toEqual([
      400,
      'approval_required',
    ]);
    const ok = await post(
      '/tools/invoke',
      { tool: 'test/danger', args: { label: 'claw' }, approved: true },
      'olaf',
    );
    expect([ok.status, ok.body.result]).toEqual([200, { recorded: 'claw' }]);
    expect(await auditOf('openclaw')).toEqual([
      { principal: 'olaf', ok: false, code: 'approval_required', approved_by: null },
      { principal: 'olaf', ok: true, code: null, approved_by: 'olaf' },
    ]);
  });

  it('MCP tools/call', async () => {
    const refused = (await mcp.callTool({
      name: 'test__danger',
      arguments: { label: 'mcp' },
    })) as CallToolResult;
    expect(refused.isError).toBe(true);
    expect((refused.content[0] as TextContent).text).toContain('approval_required');
    const ok = (await mcp.callTool({
      name: 'test__danger',
      arguments: { label: 'mcp' },
      _meta: { approved: true },
    })) as CallToolResult;
    expect(ok.isError ?? false).toBe(false);
    expect(JSON.parse((ok.content[0] as TextContent).text)).toEqual({ recorded: 'mcp' });
    expect(await auditOf('mcp')).toEqual([
      { principal: 'mia', ok: false, code: 'approval_required', approved_by: null },
      { principal: 'mia', ok: true, code: null, approved_by: 'mia' },
    ]);
  });

  it('an agent run: waits for the approval, runs once approved, audited once', async () => {
    const created = await post('/v1/agents/runs?wait=10', { agent: 'ops', input: 'danger now' }, 'ron');
    const runId = created.body.id as string;
    expect(created.body.status).toBe('waiting_approval');
    const approvals = (await (await fetch(`${server.url}/v1/approvals?run_id=${runId}`)).json()) as {
      approvals: { id: string; risk_tags: string[] }[];
    };
    expect(approvals.approvals[0]?.risk_tags).toEqual(['destructive']);
    expect(await auditOf('run')).toEqual([]);
    const decided = await post(`/v1/approvals/${approvals.approvals[0]!.id}`, { decision: 'approve' }, 'ava');
    expect(decided.status).toBe(200);
    await until(
      async () =>
        ((await (await fetch(`${server.url}/v1/agents/runs/${runId}`)).json()) as { status: string })
          .status === 'completed',
      10_000,
      'the approved run to complete',
    );
    expect(await auditOf('run')).toEqual([{ principal: 'ron', ok: true, code: null, approved_by: 'ava' }]);
    // Every door ran the skill exactly once, after its approval.
    expect(labels().sort()).toEqual(['claw', 'mcp', 'rest', 'wipe']);
  });
});
