import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer, startServer } from '../../src/api/index.js';
import { json, parseSse, startApi, type ApiHarness } from './helpers.js';

let h: ApiHarness;
beforeAll(async () => {
  h = await startApi({ config: { server: { body_limit_bytes: 4096 } } });
});
afterAll(async () => {
  await h.close();
});

describe('health, readiness, metrics, workers', () => {
  it('answers /healthz and /readyz', async () => {
    expect(json(await h.api.inject({ url: '/healthz' }))).toEqual({ status: 'ok' });
    const ready = await h.api.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(json(ready)).toMatchObject({ status: 'ready', store: 'memory' });
  });

  it('serves Prometheus metrics: runs, scheduler, model limiter and HTTP requests', async () => {
    await h.api.inject({
      method: 'POST',
      url: '/v1/agents/runs?wait=10',
      payload: { agent: 'assistant', input: 'm' },
    });
    const res = await h.api.inject({ url: '/metrics' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/plain');
    for (const name of [
      'skillplane_run_transitions_total{status="completed"}',
      'skillplane_scheduler_queue_depth{priority="interactive"}',
      'skillplane_scheduler_running',
      'skillplane_runs_active',
      'skillplane_model_in_flight{backend="default"}',
      'skillplane_model_waiting{backend="default",priority="batch"}',
      'skillplane_http_requests_total{method="POST",route="/v1/agents/runs",status="200"}',
      'skillplane_http_request_duration_seconds_bucket',
    ])
      expect(res.body).toContain(name);
  });

  it('describes the worker plane', async () => {
    const res = await h.api.inject({ url: '/v1/workers' });
    expect(json(res)).toMatchObject({ enabled: false, executor: 'in-process', workers: [], queues: [] });
  });
});

describe('protocol details', () => {
  it('echoes x-request-id, or generates one', async () => {
    const given = await h.api.inject({ url: '/healthz', headers: { 'x-request-id': 'req-abc.1' } });
    expect(given.headers['x-request-id']).toBe('req-abc.1');
    const made = await h.api.inject({ url: '/healthz' });
    expect(made.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('answers problem+json for unknown routes, with the request id and no stack', async () => {
    const res = await h.api.inject({ url: '/v1/nothing', headers: { 'x-request-id': 'r-404' } });
    expect(res.statusCode).toBe(404);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const p = json(res);
    expect(p).toMatchObject({ status: 404, code: 'not_found', title: 'Not Found', request_id: 'r-404' });
    expect(typeof p.type).toBe('string');
    expect(typeof p.detail).toBe('string');
    expect(res.body).not.toContain('at ');
  });

  it('answers 400 for malformed JSON and 413 payload_too_large past the body limit', async () => {
    const bad = await h.api.inject({
      method: 'POST',
      url: '/v1/agents/runs',
      headers: { 'content-type': 'application/json' },
      payload: '{"agent":',
    });
    expect(bad.statusCode).toBe(400);
    expect(json(bad)).toMatchObject({ code: 'invalid_request' });
    const big = await h.api.inject({
      method: 'POST',
      url: '/v1/agents/runs',
      payload: { agent: 'assistant', input: 'x'.repeat(10_000) },
    });
    expect(big.statusCode).toBe(413);
    expect(json(big)).toMatchObject({ code: 'payload_too_large', status: 413 });
  });

  it('sends no CORS headers by default and allows the configured origins', async () => {
    const off = await h.api.inject({ url: '/healthz', headers: { origin: 'https://ui.example' } });
    expect(off.headers['access-control-allow-origin']).toBeUndefined();
    const config = {
      ...h.app.config,
      server: { ...h.app.config.server, cors_origins: ['https://ui.example'] },
    };
    const withCors = await buildServer({ ...h.app.ports, config }, { logger: false, defaultMetrics: false });
    try {
      const on = await withCors.inject({ url: '/healthz', headers: { origin: 'https://ui.example' } });
      expect(on.headers['access-control-allow-origin']).toBe('https://ui.example');
    } finally {
      await withCors.close();
    }
  });

  it('serves an OpenAPI 3.1 document with every route and the docs page', async () => {
    const res = await h.api.inject({ url: '/openapi.json' });
    expect(res.statusCode).toBe(200);
    const doc = json<{ openapi: string; paths: Record<string, Record<string, unknown>> }>(res);
    expect(doc.openapi).toBe('3.1.0');
    for (const [path, method] of [
      ['/v1/agents/runs', 'post'],
      ['/v1/agents/runs', 'get'],
      ['/v1/agents/runs/{id}', 'get'],
      ['/v1/agents/runs/{id}/cancel', 'post'],
      ['/v1/agents/runs/{id}/events', 'get'],
      ['/v1/events', 'get'],
      ['/v1/approvals', 'get'],
      ['/v1/approvals/{id}', 'post'],
      ['/v1/agents', 'get'],
      ['/v1/skills', 'get'],
      ['/v1/skills/{id}', 'get'],
      ['/v1/skills/{id}/execute', 'post'],
      ['/v1/skills/reload', 'post'],
      ['/healthz', 'get'],
      ['/readyz', 'get'],
      ['/metrics', 'get'],
      ['/v1/workers', 'get'],
      ['/v1/workers/dead-letters', 'get'],
      ['/v1/workers/dead-letters/{id}/retry', 'post'],
    ] as const)
      expect(doc.paths[path]?.[method], `${method} ${path}`).toBeDefined();
    const create = doc.paths['/v1/agents/runs']!.post as {
      requestBody: { content: Record<string, unknown> };
    };
    expect(JSON.stringify(create.requestBody.content)).toContain('#/components/schemas/CreateRunBody');
    const schemas = (doc as unknown as { components: { schemas: Record<string, unknown> } }).components
      .schemas;
    expect(JSON.stringify(schemas.CreateRunBody)).toContain('idempotency_key');
    expect(schemas.Problem).toBeDefined();
    const docs = await h.api.inject({ url: '/docs/' });
    expect(docs.statusCode).toBe(200);
    expect(docs.body).toContain('swagger');
  });
});

describe('auth', () => {
  const readerKey = 'reader-key-0123456789';
  let a: ApiHarness;
  let clock = 1_000_000;
  beforeAll(async () => {
    a = await startApi({
      config: {
        auth: {
          keys: [
            { principal: 'root', key: 'admin-key-0123456789', scopes: ['admin'] },
            {
              principal: 'reader',
              key_sha256: createHash('sha256').update(readerKey).digest('hex'),
              scopes: ['runs:read', 'skills:read', 'skills:execute'],
              rate_limit_per_min: 3,
            },
            { principal: 'envy', key_env: 'SP_TEST_KEY', scopes: ['runs:write'] },
          ],
        },
      },
      server: { env: { SP_TEST_KEY: 'env-key-0123456789abcdef' }, now: () => clock },
    });
  });
  afterAll(async () => {
    await a.close();
  });
  const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

  it('refuses requests without a valid key (401) but keeps health open', async () => {
    const none = await a.api.inject({ url: '/v1/agents/runs' });
    expect(none.statusCode).toBe(401);
    expect(json(none)).toMatchObject({ code: 'unauthorized' });
    const wrong = await a.api.inject({ url: '/v1/agents/runs', headers: bearer('not-a-key-at-all-000') });
    expect(wrong.statusCode).toBe(401);
    expect((await a.api.inject({ url: '/healthz' })).statusCode).toBe(200);
  });

  it('accepts key, key_sha256 and key_env keys; a missing scope is 403 forbidden', async () => {
    const admin = await a.api.inject({ url: '/v1/agents/runs', headers: bearer('admin-key-0123456789') });
    expect(admin.statusCode).toBe(200);
    const env = await a.api.inject({
      method: 'POST',
      url: '/v1/agents/runs?wait=10',
      headers: bearer('env-key-0123456789abcdef'),
      payload: { agent: 'assistant', input: 'by env key' },
    });
    expect(env.statusCode).toBe(200);
    expect(json(env)).toMatchObject({ principal: 'envy' });
    const forbidden = await a.api.inject({
      method: 'POST',
      url: '/v1/skills/reload',
      headers: bearer('env-key-0123456789abcdef'),
    });
    expect(forbidden.statusCode).toBe(403);
    expect(json(forbidden)).toMatchObject({ code: 'forbidden', scope: 'admin' });
    // Approving a risk-tagged skill needs approvals:write, which the reader lacks.
    const approve = await a.api.inject({
      method: 'POST',
      url: `/v1/skills/${encodeURIComponent('test/danger')}/execute`,
      headers: bearer(readerKey),
      payload: { input: { label: 'x' }, approved: true },
    });
    expect(approve.statusCode).toBe(403);
    expect(json(approve)).toMatchObject({ code: 'forbidden', denied: true });
    // x-user-id does not override an authenticated principal.
    const who = await a.api.inject({
      method: 'POST',
      url: '/v1/agents/runs?wait=10',
      headers: { ...bearer('admin-key-0123456789'), 'x-user-id': 'mallory' },
      payload: { agent: 'assistant', input: 'who am i' },
    });
    expect(json(who)).toMatchObject({ principal: 'root' });
  });

  it('rate-limits a key per minute with 429 and Retry-After', async () => {
    clock += 120_000;
    const call = () => a.api.inject({ url: '/v1/skills', headers: bearer(readerKey) });
    // The earlier test spent one token; the bucket refilled after two minutes.
    for (let i = 0; i < 3; i++) expect((await call()).statusCode).toBe(200);
    const limited = await call();
    expect(limited.statusCode).toBe(429);
    expect(json(limited)).toMatchObject({ code: 'rate_limited' });
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    clock += 20_000;
    expect((await call()).statusCode).toBe(200);
  });
});

describe('binding and shutdown', () => {
  it('refuses to build an open server for a non-loopback host', async () => {
    await expect(startServer(h.app.ports, { host: '0.0.0.0', port: 0, logger: false })).rejects.toMatchObject(
      {
        code: 'config_invalid',
      },
    );
  });

  it('listens on port 0, streams SSE over a real socket and ends open streams on close', async () => {
    const started = await startServer(h.app.ports, {
      host: '127.0.0.1',
      port: 0,
      logger: false,
      heartbeatMs: 50,
    });
    try {
      expect(started.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      const created = await fetch(`${started.url}/v1/agents/runs?wait=10`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ agent: 'ops', input: 'danger again' }),
      });
      const run = (await created.json()) as { id: string; status: string };
      expect(run.status).toBe('waiting_approval');
      const stream = await fetch(`${started.url}/v1/agents/runs/${run.id}/events`);
      expect(stream.headers.get('content-type')).toContain('text/event-stream');
      const reader = stream.body!.getReader();
      let text = '';
      while (!text.includes('run.waiting_approval')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      expect(parseSse(text).map((e) => e.event)).toContain('run.waiting_approval');
      // The run waits for approval, so the stream stays open until the server closes it.
      await started.close();
      for (;;) {
        const { done } = await reader.read();
        if (done) break;
      }
    } finally {
      await started.close();
    }
  });
});
