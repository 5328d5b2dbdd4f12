import fc from 'fast-check';
import type { LightMyRequestResponse } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OPENCLAW_INVOKE_PATHS } from '../../src/api/routes/openclaw.js';
import { startApi, type ApiHarness } from '../api/helpers.js';

/*
 * Hostile input at every route: the routes come from the OpenAPI document (plus the hidden MCP
 * and OpenClaw doors), and each gets hostile params, bodies and headers. Whatever arrives, the
 * answer is never a 5xx, an error is problem+json (OpenClaw: its own JSON error shape) with a
 * string `code`, and the server still answers /healthz. SSE floods and slow bodies are covered by
 * api-sse-caps.test.ts and api-slow-bodies.test.ts; 100 KB nesting by api-json-limits.test.ts.
 * fast-check runs with a fixed seed; a failure prints the seed, the route and the case.
 */

const SEED = 42;
let h: ApiHarness;
beforeAll(async () => {
  h = await startApi({ config: { server: { max_json_string_length: 10_000 } } });
});
afterAll(async () => {
  await h?.close();
});

interface Route {
  method: string;
  path: string;
}

async function routes(): Promise<Route[]> {
  const res = await h.api.inject({ method: 'GET', url: '/openapi.json' });
  expect(res.statusCode).toBe(200);
  const doc = JSON.parse(res.body) as { paths: Record<string, Record<string, unknown>> };
  const out: Route[] = [];
  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const method of Object.keys(ops)) {
      if (['get', 'post', 'put', 'patch', 'delete'].includes(method))
        out.push({ method: method.toUpperCase(), path });
    }
  }
  return out;
}

const TRAVERSAL = [
  '..',
  '../../etc/passwd',
  '%2e%2e%2f%2e%2e%2fetc%2fpasswd',
  '%252e%252e%252f',
  'a%00b',
  '%00',
  '%c0%ae%c0%ae%2f',
  '%ff%fe',
  '%E2%80%AE',
  'test%2Fecho%2F..%2F..%2Fx',
  '\u2025\u2215etc',
  'x'.repeat(5000),
  '__proto__',
  'constructor',
  '%',
  '%zz',
];

function fill(path: string, value: string): string {
  return path.replace(/\{[^}]+\}/g, value);
}

/** The outcome checks shared by every case; `what` names the case in the failure message. */
function check(res: LightMyRequestResponse, what: string, openclaw = false): void {
  expect(res.statusCode, `${what}: ${res.statusCode} ${res.body.slice(0, 300)}`).toBeLessThan(500);
  if (res.statusCode >= 400) {
    const type = String(res.headers['content-type'] ?? '');
    expect(type, what).toMatch(openclaw ? /application\/(problem\+)?json/ : /application\/problem\+json/);
    // OpenClaw's own error shape is `{ ok: false, error: { type, message } }`.
    const body = JSON.parse(res.body) as { code?: unknown; error?: { type?: unknown } };
    const code = openclaw ? body.error?.type : body.code;
    expect(typeof code, `${what}: ${res.body.slice(0, 300)}`).toBe('string');
  }
}

async function healthy(): Promise<void> {
  const res = await h.api.inject({ method: 'GET', url: '/healthz' });
  expect(res.statusCode).toBeLessThan(500);
}

/** JSON values built to break parsers and code behind them. */
const hostileJson = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.constantFrom(null, true, -1, 1e308, -0, '', '__proto__', 'x'.repeat(20_000), '\u0000', '\ud800'),
    fc.string(),
    fc.integer(),
    fc.double(),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(
      fc.oneof(
        fc.constantFrom('__proto__', 'constructor', 'prototype', 'input', 'agent', 'cursor', 'id'),
        fc.string(),
      ),
      tie('value'),
      { maxKeys: 4 },
    ),
  ),
})).value;

/** Raw request bodies: JSON of hostile values, polluting keys, deep nesting, bad UTF-8, junk. */
const hostileBody = fc.oneof(
  hostileJson.map((v) => Buffer.from(JSON.stringify(v) ?? 'null')),
  fc.constantFrom(
    Buffer.from('{"__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}}'),
    Buffer.from('{"input":{"__proto__":{"polluted":1}},"agent":"assistant","message":"hi"}'),
    Buffer.from(`{"input":${'['.repeat(10_000)}${']'.repeat(10_000)}}`),
    Buffer.from(`${'{"a":'.repeat(10_000)}1${'}'.repeat(10_000)}`),
    Buffer.concat([
      Buffer.from('{"input":{"x":"'),
      Buffer.from([0xff, 0xfe, 0xc0, 0xae, 0xed, 0xa0, 0x80]),
      Buffer.from('"}}'),
    ]),
    Buffer.from([0xef, 0xbb, 0xbf, 0x7b, 0x7d]),
    Buffer.from('{"a":1,"a":2}'),
    Buffer.from('{'),
    Buffer.from(''),
    Buffer.from('null'),
    Buffer.from('"just a string"'),
    Buffer.from(`{"input":{"x":"${'y'.repeat(200_000)}"}}`),
  ),
  fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a)),
);

describe('hostile input at every route', () => {
  it('answers hostile path params and queries at every documented route with a 4xx or 2xx, never a 5xx', async () => {
    const all = await routes();
    expect(all.length).toBeGreaterThan(10);
    for (const r of all) {
      const values = r.path.includes('{') ? TRAVERSAL : [''];
      for (const v of values) {
        const query = `?cursor=${encodeURIComponent(v || '%%%')}&limit=-1&after=${v}&status=__proto__&x[__proto__][p]=1`;
        for (const url of [fill(r.path, v) + query, fill(r.path, encodeURIComponent(v))]) {
          const res = await h.api.inject({
            method: r.method as 'GET',
            url,
            headers: { 'content-type': 'application/json', 'last-event-id': v || '-1' },
            ...(r.method === 'GET' || r.method === 'DELETE' ? {} : { payload: '{}' }),
          });
          check(res, `${r.method} ${url}`);
        }
      }
    }
    await healthy();
  }, 30_000);

  it('answers hostile bodies at every route that takes one, then the server is healthy and unpolluted', async () => {
    const all = (await routes()).filter((r) => r.method !== 'GET' && r.method !== 'DELETE');
    const targets = [
      ...all.map((r) => ({
        method: r.method,
        url: fill(r.path, encodeURIComponent('test/echo')),
        openclaw: false,
      })),
      ...OPENCLAW_INVOKE_PATHS.map((url) => ({ method: 'POST', url, openclaw: true })),
    ];
    for (const t of targets) {
      await fc.assert(
        fc.asyncProperty(hostileBody, async (body) => {
          const res = await h.api.inject({
            method: t.method as 'POST',
            url: t.url,
            headers: { 'content-type': 'application/json' },
            payload: body,
          });
          check(
            res,
            `${t.method} ${t.url} seed=${SEED} body=${body.subarray(0, 120).toString('latin1')}`,
            t.openclaw,
          );
        }),
        { seed: SEED, numRuns: 12 },
      );
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted')).toBe(false);
    await healthy();
  }, 30_000);

  it('refuses a body over the limit at every route that takes one with 413 payload_too_large', async () => {
    const limit = h.app.config.server.body_limit_bytes;
    const big = Buffer.from(`{"input":"${'x'.repeat(limit)}"}`);
    const all = (await routes()).filter((r) => r.method !== 'GET' && r.method !== 'DELETE');
    for (const r of all) {
      const url = fill(r.path, encodeURIComponent('test/echo'));
      const res = await h.api.inject({
        method: r.method as 'POST',
        url,
        headers: { 'content-type': 'application/json' },
        payload: big,
      });
      check(res, `${r.method} ${url} oversized`);
      expect(res.statusCode, `${r.method} ${url}`).toBe(413);
      expect((JSON.parse(res.body) as { code: string }).code).toBe('payload_too_large');
    }
    await healthy();
  });

  it("answers bad Last-Event-ID and cursor values on a finished run's streams with a 4xx or a full replay", async () => {
    const created = await h.api.inject({
      method: 'POST',
      url: '/v1/agents/runs',
      payload: { agent: 'assistant', input: 'hello' },
    });
    expect(created.statusCode).toBe(202);
    const id = (JSON.parse(created.body) as { id: string }).id;
    await h.app.runtime.wait(id, { timeoutMs: 5_000 });
    const bad = [
      '-1',
      'abc',
      '1e999',
      '9'.repeat(400),
      '__proto__',
      '1;2',
      '\u00ff',
      '0x10',
      '1.5',
      ' 1',
      '%00',
    ];
    for (const v of bad) {
      for (const req of [
        { url: `/v1/agents/runs/${id}/events`, headers: { 'last-event-id': v } },
        { url: `/v1/agents/runs/${id}/events?after=${encodeURIComponent(v)}`, headers: {} },
        { url: `/v1/events?run_id=${id}`, headers: { 'last-event-id': v } },
        { url: `/v1/agents/runs?cursor=${encodeURIComponent(v)}`, headers: {} },
      ]) {
        // A finished run's stream ends after its replay, so inject returns (no hang).
        const res = await h.api.inject({ method: 'GET', ...req });
        check(res, `${req.url} last-event-id=${JSON.stringify(v)}`);
      }
    }
    await healthy();
  });

  it('answers malformed MCP JSON-RPC with a JSON-RPC error or a 4xx, never a 5xx', async () => {
    const init = await h.api.inject({
      method: 'POST',
      url: '/mcp',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      payload: {
        jsonrpc: '2.0',
        id: 1,
        method: 'initialize',
        params: {
          protocolVersion: '2025-06-18',
          capabilities: {},
          clientInfo: { name: 'hostile', version: '1' },
        },
      },
    });
    expect(init.statusCode).toBe(200);
    const session = String(init.headers['mcp-session-id']);
    const messages = fc.oneof(
      hostileJson.map((v) => JSON.stringify(v) ?? 'null'),
      fc.constantFrom(
        '[]',
        JSON.stringify(
          Array.from({ length: 500 }, (_, i) => ({ jsonrpc: '2.0', id: i, method: 'tools/list' })),
        ),
        JSON.stringify({ jsonrpc: '1.0', id: 1, method: 'tools/list' }),
        JSON.stringify({ jsonrpc: '2.0', id: 'x'.repeat(50_000), method: 'tools/list' }),
        JSON.stringify({ jsonrpc: '2.0', id: { a: 1 }, method: 'tools/list' }),
        JSON.stringify({ jsonrpc: '2.0', id: 2, method: 'no/such/method' }),
        JSON.stringify({
          jsonrpc: '2.0',
          id: 3,
          method: 'tools/call',
          params: { name: '__proto__', arguments: { __proto__: { polluted: 1 } } },
        }),
        JSON.stringify({
          jsonrpc: '2.0',
          id: 4,
          method: 'tools/call',
          params: { name: 'test__echo', arguments: 'not an object' },
        }),
        JSON.stringify({
          jsonrpc: '2.0',
          id: 5,
          method: 'resources/read',
          params: { uri: 'skill://../../etc/passwd' },
        }),
        '{"jsonrpc":"2.0","id":6,"method":',
      ),
    );
    await fc.assert(
      fc.asyncProperty(messages, fc.boolean(), async (payload, withSession) => {
        const res = await h.api.inject({
          method: 'POST',
          url: '/mcp',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json, text/event-stream',
            ...(withSession ? { 'mcp-session-id': session, 'mcp-protocol-version': '2025-06-18' } : {}),
          },
          payload,
        });
        expect(
          res.statusCode,
          `seed=${SEED} ${payload.slice(0, 200)} → ${res.body.slice(0, 300)}`,
        ).toBeLessThan(500);
      }),
      { seed: SEED, numRuns: 40 },
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    await healthy();
  }, 30_000);
});
