import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type StartedServer } from '../../src/api/index.js';
import { json, startApi, type ApiHarness } from '../api/helpers.js';

/*
 * Deeply nested JSON: ~100 KB of `[[[[…]]]]` as a skill input overflowed the stack of recursive
 * code behind the doors and crashed the server. A root preValidation hook now checks every
 * parsed body (depth and string length) before validation, at REST, OpenClaw and MCP alike.
 */

const MAX_STRING = 10_000;
let h: ApiHarness;
let server: StartedServer;
beforeAll(async () => {
  h = await startApi({ config: { server: { max_json_string_length: MAX_STRING } } });
  server = await startServer(h.app.ports, { host: '127.0.0.1', port: 0, logger: false });
});
afterAll(async () => {
  await server?.close();
  await h?.close();
});

/** ~100 KB of nested arrays, as JSON text. */
const NESTED = '['.repeat(50_000) + ']'.repeat(50_000);
const HUGE = JSON.stringify('x'.repeat(MAX_STRING * 2));

async function mcpSession(): Promise<string> {
  const res = await mcpPost(
    JSON.stringify({
      jsonrpc: '2.0',
      id: 1,
      method: 'initialize',
      params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'deep', version: '1' } },
    }),
  );
  await res.text();
  expect(res.status).toBe(200);
  return res.headers.get('mcp-session-id')!;
}

function mcpPost(body: string, session?: string): Promise<Response> {
  return fetch(`${server.url}/mcp`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/json, text/event-stream',
      ...(session === undefined ? {} : { 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' }),
    },
    body,
  });
}

describe('JSON limits of request bodies', () => {
  it('refuses a 100 KB nested body and a huge string at REST, OpenClaw and MCP, and stays up', async () => {
    const session = await mcpSession();
    for (const [value, limit] of [
      [NESTED, 'depth'],
      [HUGE, 'string_length'],
    ] as const) {
      const rest = await h.api.inject({
        method: 'POST',
        url: `/v1/skills/${encodeURIComponent('test/echo')}/execute`,
        headers: { 'content-type': 'application/json' },
        payload: `{"input":{"x":${value}}}`,
      });
      expect(rest.statusCode, limit).toBe(400);
      expect(rest.headers['content-type']).toContain('application/problem+json');
      expect(json(rest)).toMatchObject({
        code: 'input_invalid',
        limit,
        path: expect.stringMatching(/^\$\.input\.x/),
      });
      expect(String(json(rest).detail)).toMatch(/^request body: /);

      // Arguments given as a JSON string are held to the same limits once parsed (this string is
      // short enough to pass the body check itself).
      const shallowText = `{"x":${'['.repeat(100)}${']'.repeat(100)}}`;
      const opta = await h.api.inject({
        method: 'POST',
        url: `/v1/skills/${encodeURIComponent('test/echo')}/execute`,
        payload: { arguments: shallowText },
      });
      expect(opta.statusCode).toBe(400);
      expect(json(opta)).toMatchObject({ code: 'input_invalid', limit: 'depth' });
      expect(String(json(opta).detail)).toMatch(/^arguments \(JSON text\)/);
      const clawText = await h.api.inject({
        method: 'POST',
        url: '/tools/invoke',
        payload: { tool: 'test/echo', args: shallowText },
      });
      expect(clawText.statusCode).toBe(400);
      expect(json(clawText)).toMatchObject({ ok: false, error: { type: 'input_invalid' } });

      const openclaw = await h.api.inject({
        method: 'POST',
        url: '/tools/invoke',
        headers: { 'content-type': 'application/json' },
        payload: `{"tool":"test/echo","args":{"x":${value}}}`,
      });
      expect(openclaw.statusCode, limit).toBe(400);
      expect(json(openclaw)).toMatchObject({ ok: false, error: { type: 'input_invalid' } });

      const call = await mcpPost(
        `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"test__echo","arguments":{"x":${value}}}}`,
        session,
      );
      expect(call.status, limit).toBe(400);
      expect(await call.json()).toMatchObject({
        jsonrpc: '2.0',
        error: { code: -32600, data: { code: 'input_invalid', limit } },
      });
    }
    const depth = json(
      await h.api.inject({
        method: 'POST',
        url: '/v1/agents/runs',
        headers: { 'content-type': 'application/json' },
        payload: `{"agent":"assistant","input":${NESTED}}`,
      }),
    );
    expect(depth).toMatchObject({ code: 'input_invalid', limit: 'depth', max: 64 });
    expect(String(depth.detail)).toContain('deeper than the limit of 64 levels');

    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(json(await h.api.inject({ url: '/healthz' }))).toEqual({ status: 'ok' });
    const tools = await mcpPost('{"jsonrpc":"2.0","id":3,"method":"tools/list"}', session);
    expect(tools.status).toBe(200);
    expect(await tools.text()).toContain('test__echo');
  });
});
