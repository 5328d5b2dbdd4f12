import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installErrorHandler } from '../../src/api/errors.js';
import { uiAssetsDir, uiRoutes } from '../../src/api/routes/ui.js';
import { DashboardClient, type RunChange } from '../../src/client/index.js';
import { json, startApi, type ApiHarness } from '../api/helpers.js';

/*
 * The server side of the dashboard: the static route (built or not) and the API routes it reads
 * besides the run, approval and skill routes (whoami, model backends, skill sources).
 */

describe('the /ui route', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'sp-ui-route-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function serve(root: string) {
    const app = Fastify({ logger: false });
    installErrorHandler(app);
    await app.register(uiRoutes, { root });
    return app;
  }

  it('answers 503 ui_not_built, saying to run npm run build, when the assets are not built', async () => {
    const app = await serve(join(dir, 'missing'));
    for (const url of ['/ui', '/ui/', '/ui/assets/index.js']) {
      const res = await app.inject({ url });
      expect(res.statusCode).toBe(503);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(json(res)).toMatchObject({
        code: 'ui_not_built',
        detail: expect.stringContaining('npm run build'),
      });
      expect(res.headers['content-security-policy']).toContain("frame-ancestors 'none'");
    }
    await app.close();
  });

  it('serves the built page and its hashed assets with strict headers', async () => {
    const root = join(dir, 'built');
    mkdirSync(join(root, 'assets'), { recursive: true });
    writeFileSync(join(root, 'index.html'), '<!doctype html><title>x</title>');
    writeFileSync(join(root, 'assets', 'index-abc.js'), 'export {};');
    const app = await serve(root);
    const redirect = await app.inject({ url: '/ui' });
    expect(redirect.statusCode).toBe(302);
    expect(redirect.headers.location).toBe('/ui/');
    const page = await app.inject({ url: '/ui/' });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<title>x</title>');
    expect(page.headers['cache-control']).toBe('no-cache');
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['content-security-policy']).toMatch(/default-src 'self'.*script-src 'self'/);
    const asset = await app.inject({ url: '/ui/assets/index-abc.js' });
    expect(asset.statusCode).toBe(200);
    expect(asset.headers['cache-control']).toContain('immutable');
    expect((await app.inject({ url: '/ui/assets/nope.js' })).statusCode).toBe(404);
    expect((await app.inject({ url: '/ui/../package.json' })).statusCode).toBe(404);
    await app.close();
  });

  it('finds dist/ui from the compiled server and from the TypeScript sources', () => {
    expect(uiAssetsDir('file:///srv/app/dist/api/routes/ui.js')).toBe('/srv/app/dist/ui');
    expect(uiAssetsDir('file:///srv/app/src/api/routes/ui.ts')).toBe('/srv/app/dist/ui');
  });
});

describe('the API routes of the dashboard', () => {
  let h: ApiHarness;
  const admin = { authorization: 'Bearer admin-key-0123456789abcdef' };
  const reader = { authorization: 'Bearer reader-key-0123456789abcdef' };
  const writer = 'writer-key-0123456789abcdef';
  beforeAll(async () => {
    h = await startApi({
      config: {
        auth: {
          keys: [
            { principal: 'root', key: admin.authorization.slice(7), scopes: ['admin'] },
            { principal: 'eve', key: reader.authorization.slice(7), scopes: ['runs:read'] },
            { principal: 'ann', key: writer, scopes: ['runs:read', 'runs:write'] },
          ],
        },
      },
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('whoami names the key’s principal and scopes (admin expanded) and needs a valid key', async () => {
    const root = await h.api.inject({ url: '/v1/auth/whoami', headers: admin });
    expect(root.statusCode).toBe(200);
    expect(json(root)).toMatchObject({ principal: 'root', open: false, trace_viewer_url: null });
    expect(json<{ scopes: string[] }>(root).scopes).toEqual(
      expect.arrayContaining(['approvals:write', 'admin']),
    );
    const eve = await h.api.inject({ url: '/v1/auth/whoami', headers: reader });
    expect(json(eve)).toMatchObject({ principal: 'eve', scopes: ['runs:read'] });
    const none = await h.api.inject({ url: '/v1/auth/whoami' });
    expect(none.statusCode).toBe(401);
    expect(json(none).code).toBe('unauthorized');
  });

  it('lists the model backends with their limiter queues by priority', async () => {
    const res = await h.api.inject({ url: '/v1/models/backends', headers: reader });
    expect(res.statusCode).toBe(200);
    const { backends } = json<{ backends: Record<string, unknown>[] }>(res);
    expect(backends).toEqual([
      expect.objectContaining({
        name: 'default',
        model: 'test-model',
        in_flight: 0,
        capacity: expect.any(Number),
        waiting: { interactive: 0, normal: 0, batch: 0 },
      }),
    ]);
  });

  it('lists where each skill version was loaded from, for skills:read', async () => {
    const res = await h.api.inject({ url: '/v1/skill-sources', headers: admin });
    expect(res.statusCode).toBe(200);
    const { sources } = json<{ sources: { ref: string; file: string }[] }>(res);
    const danger = sources.find((s) => s.ref === 'test/danger@1.0.0');
    expect(danger?.file).toBe(join(h.dir, 'skills', 'danger', 'skill.yaml'));
    const refused = await h.api.inject({ url: '/v1/skill-sources', headers: reader });
    expect(refused.statusCode).toBe(403);
  });

  it('streams the changes of the runs a key may see, and only those', async () => {
    await h.api.listen({ host: '127.0.0.1', port: 0 });
    const address = h.api.server.address();
    const url = typeof address === 'object' && address !== null ? `http://127.0.0.1:${address.port}` : '';
    const root = new DashboardClient({ baseUrl: url, apiKey: admin.authorization.slice(7) });
    const ann = new DashboardClient({ baseUrl: url, apiKey: writer });
    const stop = new AbortController();
    /** A change stream that the server has subscribed (its answer arrived). */
    const open = async (client: DashboardClient) => {
      let ready!: () => void;
      const opened = new Promise<void>((resolve) => (ready = resolve));
      const stream = client.runChanges({ signal: stop.signal, onOpen: () => ready() });
      const first = stream.next();
      await opened;
      return { stream, first };
    };
    /** The changes of a stream up to (and with) `runId` completing. */
    const upTo = async (s: Awaited<ReturnType<typeof open>>, runId: string): Promise<RunChange[]> => {
      const seen: RunChange[] = [];
      for (let next = await s.first; ; next = await s.stream.next()) {
        if (next.done === true) throw new Error(`stream ended before ${runId} completed`);
        seen.push(next.value);
        if (next.value.run_id === runId && next.value.status === 'completed') return seen;
      }
    };
    const plain = await fetch(`${url}/v1/run-changes`, { headers: admin });
    expect(plain.status).toBe(400);
    expect(((await plain.json()) as { issues: { path: string }[] }).issues[0]?.path).toBe('accept');
    const annChanges = await open(ann);
    const rootChanges = await open(root);
    const rootRun = await root.createRun({ agent: 'assistant', input: 'hi' }, { wait: 5 });
    const annRun = await ann.createRun({ agent: 'assistant', input: 'hello' }, { wait: 5 });
    const annSeen = await upTo(annChanges, annRun.id);
    const rootSeen = await upTo(rootChanges, annRun.id);
    stop.abort();
    expect(annSeen.some((c) => c.run_id === rootRun.id)).toBe(false);
    expect(annSeen.map((c) => c.status)).toEqual(expect.arrayContaining(['running', 'completed']));
    expect(new Set(rootSeen.map((c) => c.run_id))).toEqual(new Set([rootRun.id, annRun.id]));
  });
});
