import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type StartedServer } from '../../src/api/index.js';
import { startApi, type ApiHarness } from '../api/helpers.js';

/*
 * MCP session exhaustion: one key could open every MCP session (a single global cap), after
 * which every other client got 503. Now each principal has its own cap and the answer beyond
 * either cap is 429 with Retry-After and a JSON-RPC error.
 */

let h: ApiHarness;
let server: StartedServer;
beforeAll(async () => {
  h = await startApi({
    config: {
      server: { max_mcp_sessions: 10, max_mcp_sessions_per_principal: 2 },
      auth: {
        keys: [
          { principal: 'alice', key: 'alice-key-0123456789', scopes: ['skills:read'] },
          { principal: 'bob', key: 'bob-key-0123456789ab', scopes: ['skills:read'] },
        ],
      },
    },
  });
  server = await startServer(h.app.ports, { host: '127.0.0.1', port: 0, logger: false });
});
afterAll(async () => {
  await server?.close();
  await h?.close();
});

const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'flood', version: '1' } },
};

function mcp(key: string, method: 'POST' | 'DELETE', headers: Record<string, string> = {}) {
  return fetch(`${server.url}/mcp`, {
    method,
    headers: {
      authorization: `Bearer ${key}`,
      accept: 'application/json, text/event-stream',
      ...(method === 'POST' ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(method === 'POST' ? { body: JSON.stringify(initialize) } : {}),
  });
}

async function open(key: string): Promise<string> {
  const res = await mcp(key, 'POST');
  await res.text();
  expect(res.status).toBe(200);
  return res.headers.get('mcp-session-id')!;
}

describe('MCP session caps', () => {
  it('caps sessions per principal with 429 + Retry-After while other principals still connect', async () => {
    const alice = ['alice-key-0123456789', await open('alice-key-0123456789')];
    await open('alice-key-0123456789');
    const refused = await mcp('alice-key-0123456789', 'POST');
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(refused.headers.get('content-type')).toContain('application/json');
    expect(await refused.json()).toMatchObject({
      jsonrpc: '2.0',
      id: null,
      error: { code: -32000, data: { code: 'too_many_sessions', scope: 'principal', limit: 2 } },
    });

    // Another principal is not affected.
    expect(await open('bob-key-0123456789ab')).toBeTruthy();

    // Closing a session frees a slot of its owner.
    const closed = await mcp(alice[0]!, 'DELETE', {
      'mcp-session-id': alice[1]!,
      'mcp-protocol-version': '2025-06-18',
    });
    await closed.text();
    expect(closed.status).toBe(200);
    expect(await open('alice-key-0123456789')).toBeTruthy();

    // An unauthenticated initialize is refused before any session is made.
    const anonymous = await fetch(`${server.url}/mcp`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify(initialize),
    });
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ error: { data: { code: 'unauthorized' } } });
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});
