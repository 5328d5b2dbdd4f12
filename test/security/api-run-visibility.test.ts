import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, startServer, type StartedServer } from '../../src/api/index.js';
import { startApi, type ApiHarness } from '../api/helpers.js';

/*
 * Run visibility: every key with runs:read saw, streamed and cancelled every run and decided
 * every approval. With `auth.visibility: principal` (the default) a key sees only its own runs
 * and their approvals, admins see all, and a hidden run answers 404 exactly like a missing one —
 * at REST, SSE and the MCP agents tools alike.
 */

const KEYS = { alice: 'alice-key-0123456789', bob: 'bob-key-0123456789ab', root: 'root-key-0123456789a' };
const USER_SCOPES = ['runs:read', 'runs:write', 'approvals:write'];
let h: ApiHarness;
let server: StartedServer;
const clients: Client[] = [];
beforeAll(async () => {
  h = await startApi({
    config: {
      auth: {
        keys: [
          { principal: 'alice', key: KEYS.alice, scopes: USER_SCOPES },
          { principal: 'bob', key: KEYS.bob, scopes: USER_SCOPES },
          { principal: 'root', key: KEYS.root, scopes: ['admin'] },
        ],
      },
    },
  });
  server = await startServer(h.app.ports, { host: '127.0.0.1', port: 0, logger: false });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.close().catch(() => undefined)));
  await server?.close();
  await h?.close();
});

type Who = keyof typeof KEYS;
async function call(
  who: Who,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const res = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${KEYS[who]}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return { status: res.status, body: (text === '' ? {} : JSON.parse(text)) as Record<string, unknown> };
}

async function mcpClient(who: Who): Promise<Client> {
  const client = new Client({ name: who, version: '1.0.0' });
  await client.connect(
    new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
      requestInit: { headers: { authorization: `Bearer ${KEYS[who]}` } },
    }),
  );
  clients.push(client);
  return client;
}

describe('run visibility', () => {
  it("hides alice's run and approval from bob at every door, and shows them to admins", async () => {
    const created = await call(
      'alice',
      'POST',
      '/v1/agents/runs?wait=10',
      { agent: 'ops', input: 'danger' },
      {
        'idempotency-key': 'shared-key',
      },
    );
    expect(created.body.status).toBe('waiting_approval');
    const runId = String(created.body.id);
    const missing = 'run_0000000000000000000000000000';
    const approvals = (who: Who) =>
      call(who, 'GET', '/v1/approvals?status=pending').then(
        (r) => (r.body.approvals as { id: string; run_id: string }[]) ?? [],
      );
    const [approval] = (await approvals('alice')).filter((a) => a.run_id === runId);
    expect(approval).toBeDefined();

    // Bob: not in his lists; get, stream, multiplexed stream and cancel answer 404 as for a missing run.
    const bobRuns = await call('bob', 'GET', '/v1/agents/runs');
    expect((bobRuns.body.runs as { id: string }[]).map((r) => r.id)).not.toContain(runId);
    for (const [method, path] of [
      ['GET', `/v1/agents/runs/${runId}`],
      ['GET', `/v1/agents/runs/${runId}/events`],
      ['GET', `/v1/events?run_id=${runId}`],
      ['POST', `/v1/agents/runs/${runId}/cancel`],
    ] as const) {
      const hidden = await call('bob', method, path);
      const absent = await call('bob', method, path.replace(runId, missing));
      expect(hidden.status, `${method} ${path}`).toBe(404);
      expect(hidden.body).toMatchObject({ code: 'not_found' });
      expect(hidden.body.detail).toBe(String(absent.body.detail).replace(missing, runId));
    }
    expect((await approvals('bob')).map((a) => a.id)).not.toContain(approval!.id);
    const decide = await call('bob', 'POST', `/v1/approvals/${approval!.id}`, { decision: 'approve' });
    expect(decide.status).toBe(404);
    expect(decide.body).toMatchObject({ code: 'not_found' });

    // Bob's reuse of alice's idempotency key with the same body makes his own run, not a replay.
    const replay = await call(
      'bob',
      'POST',
      '/v1/agents/runs',
      { agent: 'ops', input: 'danger' },
      {
        'idempotency-key': 'shared-key',
      },
    );
    expect(replay.status).toBe(202);
    expect(replay.body.id).not.toBe(runId);
    expect(replay.body.principal).toBe('bob');

    // The MCP agents tools follow the same rule.
    const bobMcp = await mcpClient('bob');
    for (const name of ['agents__get_run', 'agents__cancel_run']) {
      const r = (await bobMcp.callTool({ name, arguments: { run_id: runId } })) as CallToolResult;
      expect(r.isError, name).toBe(true);
      expect(r._meta).toMatchObject({ 'skillplane/error_code': 'not_found' });
    }
    const aliceMcp = await mcpClient('alice');
    const seen = (await aliceMcp.callTool({
      name: 'agents__get_run',
      arguments: { run_id: runId },
    })) as CallToolResult;
    expect(seen.structuredContent).toMatchObject({ run_id: runId, status: 'waiting_approval' });

    // Nothing bob tried changed the run.
    expect((await call('alice', 'GET', `/v1/agents/runs/${runId}`)).body.status).toBe('waiting_approval');

    // With visibility: all, every key with the scope sees it.
    const allConfig = { ...h.app.config, auth: { ...h.app.config.auth, visibility: 'all' as const } };
    const all = await buildServer(
      { ...h.app.ports, config: allConfig },
      { logger: false, defaultMetrics: false },
    );
    try {
      const got = await all.inject({
        url: `/v1/agents/runs/${runId}`,
        headers: { authorization: `Bearer ${KEYS.bob}` },
      });
      expect(got.statusCode).toBe(200);
    } finally {
      await all.close();
    }

    // The admin sees and decides everything.
    expect(
      ((await call('root', 'GET', '/v1/agents/runs')).body.runs as { id: string }[]).map((r) => r.id),
    ).toContain(runId);
    expect((await approvals('root')).map((a) => a.id)).toContain(approval!.id);
    const denied = await call('root', 'POST', `/v1/approvals/${approval!.id}`, {
      decision: 'deny',
      reason: 'no',
    });
    expect(denied.status).toBe(200);
    expect(denied.body).toMatchObject({ status: 'denied', decided_by: 'root' });
    await h.app.runtime.wait(String(replay.body.id), { timeoutMs: 10_000 });
    const cancelled = await call('root', 'POST', `/v1/agents/runs/${String(replay.body.id)}/cancel`);
    expect(cancelled.status).toBe(200);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});
