import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/index.js';
import type { App } from '../../src/app/index.js';
import { BackendProbe } from '../../src/models/index.js';
import {
  createTestApp,
  startScriptedModelServer,
  type ScriptedModelServer,
} from '../../src/testing/index.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A real HTTP server answering every request with `handler`; records the requests it got. */
async function httpServer(
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<{ url: string; seen: IncomingMessage[]; server: Server }> {
  const seen: IncomingMessage[] = [];
  const server = createServer((req, res) => {
    seen.push(req);
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`, seen, server };
}

/** A port nothing listens on: a server's, once it is closed. */
async function deadUrl(): Promise<string> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const { port } = s.address() as AddressInfo;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}/v1`;
}

async function apiWith(
  modelUrl: string,
  config: Record<string, unknown>,
): Promise<{ app: App; api: FastifyInstance }> {
  const dir = mkdtempSync(join(tmpdir(), 'sp-readyz-'));
  mkdirSync(join(dir, 'skills'));
  const app = await createTestApp({ dir, modelUrl, agents: [{ name: 'a' }], config });
  const api = await buildServer(app.ports, { logger: false, validateResponses: true, defaultMetrics: false });
  cleanups.push(async () => {
    await api.close();
    await app.close(0);
    rmSync(dir, { recursive: true, force: true });
  });
  return { app, api };
}

describe('/readyz checks that every model backend answers GET /models', () => {
  it('is 200 while all answer (with each backend’s key), 503 naming the one that went down', async () => {
    const model: ScriptedModelServer = await startScriptedModelServer();
    let modelClosed = false;
    cleanups.push(() => (modelClosed ? undefined : model.close()));
    const keyed = await httpServer((req, res) => {
      const ok = req.url === '/v1/models' && req.headers.authorization === 'Bearer sk-remote-0123';
      res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end(JSON.stringify(ok ? { object: 'list', data: [] } : { error: { message: 'no key' } }));
    });
    const { api } = await apiWith(model.url, {
      server: { readiness_cache_sec: 0 },
      models: { remote: { base_url: keyed.url, model: 'r', api_key: 'sk-remote-0123' } },
    });

    const ready = await api.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({
      status: 'ready',
    });
    expect(ready.json<{ models: unknown[] }>().models).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ backend: 'default', ok: true, status: 200 }),
        expect.objectContaining({ backend: 'remote', ok: true, status: 200 }),
      ]),
    );
    expect(keyed.seen.at(-1)?.url).toBe('/v1/models');

    await model.close();
    modelClosed = true;
    const down = await api.inject({ url: '/readyz' });
    expect(down.statusCode).toBe(503);
    expect(down.headers['content-type']).toContain('application/problem+json');
    const problem = down.json<{ code: string; detail: string; backends: { backend: string }[] }>();
    expect(problem.code).toBe('models_unavailable');
    expect(problem.detail).toBe('model backend not answering: default (connection refused)');
    expect(problem.backends).toHaveLength(2);
    expect(problem.backends).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ backend: 'default', ok: false, reason: 'connection_refused' }),
        expect.objectContaining({ backend: 'remote', ok: true }),
      ]),
    );
  });

  it('names an HTTP status and a timeout as the reason', async () => {
    const unauthorized = await httpServer((_req, res) => {
      res.writeHead(401, { 'content-type': 'application/json' });
      res.end('{"error":{"message":"bad key"}}');
    });
    const silent = await httpServer(() => undefined); // accepts, never answers
    const { api } = await apiWith(unauthorized.url, {
      server: { readiness_cache_sec: 0, readiness_probe_timeout_sec: 0.3 },
      models: { slow: { base_url: silent.url, model: 's' } },
    });
    const res = await api.inject({ url: '/readyz' });
    expect(res.statusCode).toBe(503);
    const problem = res.json<{ detail: string; backends: unknown[] }>();
    expect(problem.detail).toMatch(/^model backends not answering: /);
    expect(problem.detail).toContain('default (GET /models answered HTTP 401 Unauthorized)');
    expect(problem.detail).toContain('slow (no answer to GET /models within 300 ms)');
    expect(problem.backends).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ backend: 'default', reason: 'http_status', status: 401 }),
        expect.objectContaining({ backend: 'slow', reason: 'timeout' }),
      ]),
    );
  });

  it('reuses an answer for the cache period, so polling readyz does not flood the backends', async () => {
    const backend = await httpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"object":"list","data":[]}');
    });
    let now = 1_000;
    const probe = new BackendProbe(
      { a: { base_url: backend.url, api_key: null } },
      { cacheMs: 5_000, now: () => now },
    );
    const together = await Promise.all([probe.check(), probe.check(), probe.check()]);
    expect(together.map((r) => r[0]!.ok)).toEqual([true, true, true]);
    expect(backend.seen).toHaveLength(1); // callers during a probe share it
    now += 4_999;
    await probe.check();
    expect(backend.seen).toHaveLength(1);
    now += 1;
    await probe.check();
    expect(backend.seen).toHaveLength(2);
    await probe.check({ fresh: true });
    expect(backend.seen).toHaveLength(3);
  });

  it('reports a backend on a closed port as connection refused', async () => {
    const probe = new BackendProbe({ gone: { base_url: await deadUrl(), api_key: null } }, { cacheMs: 0 });
    expect(await probe.check()).toEqual([
      expect.objectContaining({
        backend: 'gone',
        ok: false,
        reason: 'connection_refused',
        detail: 'connection refused',
      }),
    ]);
  });
});
