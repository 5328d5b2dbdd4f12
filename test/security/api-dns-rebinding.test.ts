import { existsSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startApi, type ApiHarness } from '../api/helpers.js';

/*
 * DNS rebinding: a web page on evil.example rebinds its name to 127.0.0.1 and drives the open
 * (keyless) loopback server from the victim's browser, self-approving a destructive skill. The
 * browser sends the page's own name as Host (and its Origin); the root guard refuses both.
 */

let h: ApiHarness;
beforeAll(async () => {
  h = await startApi();
});
afterAll(async () => {
  await h.close();
});

const executions = (): number =>
  existsSync(h.sideFile)
    ? readFileSync(h.sideFile, 'utf8')
        .split('\n')
        .filter((l) => l !== '').length
    : 0;

const danger = `/v1/skills/${encodeURIComponent('test/danger')}/execute`;
const initialize = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'evil', version: '1' } },
};

describe('DNS rebinding on an open loopback server', () => {
  it('refuses a foreign Host or Origin at every door before anything runs, and keeps serving', async () => {
    const foreignHost = { host: 'evil.example:8787' };
    const foreignOrigin = { host: '127.0.0.1:8787', origin: 'http://evil.example:8787' };
    for (const headers of [foreignHost, foreignOrigin]) {
      const code = 'origin' in headers ? 'forbidden_origin' : 'forbidden_host';
      const rest = await h.api.inject({
        method: 'POST',
        url: danger,
        headers,
        payload: { input: { label: 'wipe' }, approved: true },
      });
      expect(rest.statusCode).toBe(403);
      expect(rest.headers['content-type']).toContain('application/problem+json');
      expect(json(rest)).toMatchObject({ status: 403, code });

      const openclaw = await h.api.inject({
        method: 'POST',
        url: '/tools/invoke',
        headers,
        payload: { tool: 'test/danger', args: { label: 'wipe' }, approved: true },
      });
      expect(openclaw.statusCode).toBe(403);
      expect(json(openclaw)).toMatchObject({ ok: false, error: { type: code } });

      const mcp = await h.api.inject({
        method: 'POST',
        url: '/mcp',
        headers: { ...headers, accept: 'application/json, text/event-stream' },
        payload: initialize,
      });
      expect(mcp.statusCode).toBe(403);
      expect(json(mcp)).toMatchObject({ jsonrpc: '2.0', error: { data: { code } } });

      const run = await h.api.inject({
        method: 'POST',
        url: '/v1/agents/runs',
        headers,
        payload: { agent: 'ops', input: 'danger' },
      });
      expect(run.statusCode).toBe(403);
    }
    expect(executions()).toBe(0);
    expect((await h.app.runtime.listRuns({})).runs).toEqual([]);

    // Loopback names (any port), the configured host and configured CORS origins still work.
    for (const host of ['localhost:8787', '127.0.0.1', '127.0.0.2:1', '[::1]:8787', 'LOCALHOST:80'])
      expect((await h.api.inject({ url: '/v1/skills', headers: { host } })).statusCode, host).toBe(200);
    for (const origin of ['http://localhost:5173', 'http://127.0.0.1:8787', 'https://[::1]'])
      expect((await h.api.inject({ url: '/v1/skills', headers: { origin } })).statusCode, origin).toBe(200);
    for (const host of ['localhost.evil.example', '127.0.0.1.nip.io', 'evil@127.0.0.1', '0.0.0.0:8787'])
      expect((await h.api.inject({ url: '/healthz', headers: { host } })).statusCode, host).toBe(403);
    expect((await h.api.inject({ url: '/healthz', headers: { origin: 'null' } })).statusCode).toBe(403);
    expect(json(await h.api.inject({ url: '/healthz' }))).toEqual({ status: 'ok' });
  });

  it('leaves the Host alone when keys are configured: the key is the protection', async () => {
    const keyed = await startApi({
      config: { auth: { keys: [{ principal: 'root', key: 'admin-key-0123456789', scopes: ['admin'] }] } },
    });
    try {
      const host = 'skillplane.internal:8787';
      expect((await keyed.api.inject({ url: '/v1/skills', headers: { host } })).statusCode).toBe(401);
      const withKey = await keyed.api.inject({
        url: '/v1/skills',
        headers: { host, authorization: 'Bearer admin-key-0123456789' },
      });
      expect(withKey.statusCode).toBe(200);
    } finally {
      await keyed.close();
    }
  });
});
