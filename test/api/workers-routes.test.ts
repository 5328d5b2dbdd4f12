import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/index.js';
import type { DeadLetter } from '../../src/workers/index.js';
import { startHarness, type Harness } from '../agents/harness.js';
import { FakePlane, deadLetter } from './fake-workers.js';
import { apiAgents, apiScript, json, startApi, type ApiHarness } from './helpers.js';

/*
 * The HTTP surface of the worker plane over a fake WorkersPort (the plane itself is tested in
 * test/workers): status, dead letters and their retry, readiness and the Prometheus gauges.
 */

const ADMIN_KEY = 'workers-admin-key-0123456789';
const READER_KEY = 'workers-reader-key-0123456789';
const OTHER_KEY = 'workers-other-key-0123456789';
const admin = { authorization: `Bearer ${ADMIN_KEY}` };
const reader = { authorization: `Bearer ${READER_KEY}` };
const other = { authorization: `Bearer ${OTHER_KEY}` };

describe('with the worker plane disabled', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApi();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('reports the in-process executor with no workers and no queues', async () => {
    const res = await h.api.inject({ url: '/v1/workers' });
    expect(res.statusCode).toBe(200);
    expect(json(res)).toMatchObject({
      enabled: false,
      executor: 'in-process',
      node_id: expect.any(String),
      scheduler: { running: expect.any(Number), max_concurrent: expect.any(Number) },
      workers: [],
      queues: [],
    });
    expect(json(res).broker).toBeUndefined();
  });

  it('answers the dead-letter routes with worker_plane_disabled (409)', async () => {
    for (const [method, url] of [
      ['GET', '/v1/workers/dead-letters'],
      ['POST', '/v1/workers/dead-letters/abc/retry'],
    ] as const) {
      const res = await h.api.inject({ method, url });
      expect(res.statusCode, url).toBe(409);
      expect(res.headers['content-type']).toContain('application/problem+json');
      expect(json(res)).toMatchObject({ code: 'worker_plane_disabled' });
      expect(String(json(res).detail)).toContain('workers.enabled');
    }
  });

  it('is ready without a workers member, and has no worker gauges', async () => {
    const ready = await h.api.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(json(ready).workers).toBeUndefined();
    const metrics = await h.api.inject({ url: '/metrics' });
    expect(metrics.body).not.toContain('skillplane_worker');
  });
});

describe('with the worker plane enabled (a fake port)', () => {
  let h: Harness;
  let api: FastifyInstance;
  const plane = new FakePlane();

  beforeAll(async () => {
    h = await startHarness({
      script: apiScript,
      agents: apiAgents,
      config: {
        auth: {
          keys: [
            { principal: 'root', key: ADMIN_KEY, scopes: ['admin'] },
            { principal: 'reader', key: READER_KEY, scopes: ['runs:read', 'runs:write', 'metrics:read'] },
            { principal: 'other', key: OTHER_KEY, scopes: ['runs:read', 'runs:write'] },
          ],
        },
      },
    });
    h.app.ports.workers = plane;
    api = await buildServer(h.app.ports, { logger: false, validateResponses: true, defaultMetrics: false });
    await api.ready();
  });
  afterAll(async () => {
    await api?.close();
    await h?.close();
  });

  function reset(): void {
    plane.state = { ok: true, since: '2026-12-01T09:00:00.000Z' };
    plane.letters = [];
    plane.statusImpl = undefined;
    plane.listQueries = [];
    plane.redrives = [];
  }

  it('reports the broker, its health, each worker with alive, and queue depths', async () => {
    reset();
    const res = await api.inject({ url: '/v1/workers', headers: reader });
    expect(res.statusCode).toBe(200);
    const body = json(res);
    expect(body).toMatchObject({
      enabled: true,
      executor: 'bullmq',
      broker: 'redis://:***@127.0.0.1:6379',
      health: { ok: true, since: '2026-12-01T09:00:00.000Z' },
      node_id: expect.any(String),
      queues: [{ name: 'skills', waiting: 3, active: 2, delayed: 1, failed: 4, completed: 9, dead: 5 }],
    });
    expect((body.workers as { id: string; alive: boolean }[]).map((w) => [w.id, w.alive])).toEqual([
      ['w1', true],
      ['w2', false],
    ]);
    expect(String(body.description)).toContain('skillplane worker');
  });

  it('reports a broker that is down in health, not as an error', async () => {
    reset();
    plane.state = {
      ok: false,
      reason: 'connection refused by 127.0.0.1:6390',
      since: '2026-12-01T09:30:00.000Z',
    };
    const res = await api.inject({ url: '/v1/workers', headers: reader });
    expect(res.statusCode).toBe(200);
    expect(json(res)).toMatchObject({
      enabled: true,
      health: { ok: false, reason: 'connection refused by 127.0.0.1:6390' },
      workers: [],
      queues: [],
    });
  });

  it('lists dead letters with the queue and limit asked (limit 50 by default)', async () => {
    reset();
    plane.letters = [deadLetter('d1', null), deadLetter('d2', null, { queue: 'gpu' })];
    const all = await api.inject({ url: '/v1/workers/dead-letters', headers: admin });
    expect(all.statusCode).toBe(200);
    expect(json<{ dead_letters: DeadLetter[] }>(all).dead_letters.map((d) => d.id)).toEqual(['d1', 'd2']);
    const gpu = await api.inject({ url: '/v1/workers/dead-letters?queue=gpu&limit=7', headers: admin });
    expect(json<{ dead_letters: DeadLetter[] }>(gpu).dead_letters).toEqual([
      deadLetter('d2', null, { queue: 'gpu' }),
    ]);
    expect(plane.listQueries).toEqual([{ limit: 50 }, { queue: 'gpu', limit: 7 }]);
  });

  it('refuses a bad limit, queue or id with invalid_request (400) naming the field', async () => {
    reset();
    for (const [url, field] of [
      ['/v1/workers/dead-letters?limit=0', 'limit'],
      ['/v1/workers/dead-letters?limit=501', 'limit'],
      ['/v1/workers/dead-letters?limit=ten', 'limit'],
      ['/v1/workers/dead-letters?queue=a:b', 'queue'],
      ['/v1/workers/dead-letters?colour=red', 'colour'],
    ] as const) {
      const res = await api.inject({ url, headers: admin });
      expect(res.statusCode, url).toBe(400);
      expect(json(res), url).toMatchObject({ code: 'invalid_request', issues: [{ path: field }] });
    }
    // (Fastify answers 414 itself for a path parameter longer than 100 characters.)
    for (const id of ['bad%20id', 'caf%C3%A9', 'a%3Ab']) {
      const res = await api.inject({
        method: 'POST',
        url: `/v1/workers/dead-letters/${id}/retry`,
        headers: admin,
      });
      expect(res.statusCode, id).toBe(400);
      expect(json(res)).toMatchObject({ code: 'invalid_request', issues: [{ path: 'id' }] });
    }
    expect(plane.listQueries).toEqual([]);
    expect(plane.redrives).toEqual([]);
  });

  it('shows a key that sees only its own runs only their dead letters', async () => {
    reset();
    const create = (headers: Record<string, string>) =>
      api.inject({
        method: 'POST',
        url: '/v1/agents/runs?wait=10',
        headers,
        payload: { agent: 'assistant', input: 'for a dead letter' },
      });
    const mine = json<{ id: string }>(await create(reader)).id;
    const theirs = json<{ id: string }>(await create(other)).id;
    plane.letters = [deadLetter('d-mine', mine), deadLetter('d-theirs', theirs), deadLetter('d-none', null)];
    const ids = async (headers: Record<string, string>) =>
      json<{ dead_letters: DeadLetter[] }>(
        await api.inject({ url: '/v1/workers/dead-letters', headers }),
      ).dead_letters.map((d) => d.id);
    expect(await ids(reader)).toEqual(['d-mine']);
    expect(await ids(other)).toEqual(['d-theirs']);
    expect(await ids(admin)).toEqual(['d-mine', 'd-theirs', 'd-none']);
  });

  it('retries a dead letter (202) as the admin key and writes an audit entry', async () => {
    reset();
    plane.letters = [deadLetter('d-retry', null)];
    const res = await api.inject({
      method: 'POST',
      url: '/v1/workers/dead-letters/d-retry/retry',
      headers: admin,
    });
    expect(res.statusCode).toBe(202);
    expect(json(res)).toMatchObject({
      job_id: 'jd-retry-r1',
      dead_letter: { id: 'd-retry', redrives: [{ job_id: 'jd-retry-r1', by: 'root', state: 'waiting' }] },
    });
    expect(plane.redrives).toEqual([{ id: 'd-retry', principal: 'root' }]);
    const audit = await h.store.listAudit({ action: 'worker.dead_letter.retry', target: 'd-retry' });
    expect(audit.entries).toHaveLength(1);
    expect(audit.entries[0]).toMatchObject({
      principal: 'root',
      data: { job_id: 'jd-retry-r1', queue: 'skills' },
    });
  });

  it('refuses a retry without the admin scope (403) and answers not_found (404) for an unknown id', async () => {
    reset();
    plane.letters = [deadLetter('d-x', null)];
    const forbidden = await api.inject({
      method: 'POST',
      url: '/v1/workers/dead-letters/d-x/retry',
      headers: reader,
    });
    expect(forbidden.statusCode).toBe(403);
    expect(json(forbidden)).toMatchObject({ code: 'forbidden', scope: 'admin' });
    const missing = await api.inject({
      method: 'POST',
      url: '/v1/workers/dead-letters/nope/retry',
      headers: admin,
    });
    expect(missing.statusCode).toBe(404);
    expect(json(missing)).toMatchObject({ code: 'not_found' });
    expect(plane.redrives).toEqual([{ id: 'nope', principal: 'root' }]);
    const audit = await h.store.listAudit({ action: 'worker.dead_letter.retry', target: 'nope' });
    expect(audit.entries).toEqual([]);
  });

  it('answers worker_unavailable (503 with Retry-After) while the broker is down', async () => {
    reset();
    plane.state = { ok: false, reason: 'the broker does not answer: connection refused', since: 'x' };
    for (const [method, url] of [
      ['GET', '/v1/workers/dead-letters'],
      ['POST', '/v1/workers/dead-letters/d1/retry'],
    ] as const) {
      const res = await api.inject({ method, url, headers: admin });
      expect(res.statusCode, url).toBe(503);
      expect(res.headers['retry-after']).toBe('5');
      expect(json(res)).toMatchObject({
        code: 'worker_unavailable',
        detail: 'the broker does not answer: connection refused',
      });
    }
  });

  it('/readyz is 503 worker_unavailable with the reason while the broker is down, else names the broker', async () => {
    reset();
    const ok = await api.inject({ url: '/readyz' });
    expect(ok.statusCode).toBe(200);
    expect(json(ok)).toMatchObject({
      status: 'ready',
      workers: { ok: true, broker: 'redis://127.0.0.1:6379' },
    });
    plane.state = {
      ok: false,
      reason: "the worker plane's broker redis://127.0.0.1:6379 does not answer: connection refused",
      since: '2026-12-01T09:30:00.000Z',
    };
    const down = await api.inject({ url: '/readyz' });
    expect(down.statusCode).toBe(503);
    expect(down.headers['content-type']).toContain('application/problem+json');
    expect(down.headers['retry-after']).toBe('5');
    expect(json(down)).toMatchObject({
      code: 'worker_unavailable',
      detail: "the worker plane's broker redis://127.0.0.1:6379 does not answer: connection refused",
      since: '2026-12-01T09:30:00.000Z',
    });
  });

  it('exports queue, worker and broker gauges from one status read per scrape', async () => {
    reset();
    const before = plane.statusCalls;
    const res = await api.inject({ url: '/metrics', headers: reader });
    expect(res.statusCode).toBe(200);
    expect(plane.statusCalls - before).toBe(1);
    for (const line of [
      'skillplane_worker_broker_up 1',
      'skillplane_worker_queue_jobs{queue="skills",state="waiting"} 3',
      'skillplane_worker_queue_jobs{queue="skills",state="active"} 2',
      'skillplane_worker_queue_jobs{queue="skills",state="delayed"} 1',
      'skillplane_worker_queue_jobs{queue="skills",state="failed"} 4',
      'skillplane_worker_queue_jobs{queue="skills",state="completed"} 9',
      'skillplane_worker_queue_jobs{queue="skills",state="dead"} 5',
      'skillplane_workers{state="alive"} 1',
      'skillplane_workers{state="gone"} 1',
      'skillplane_worker_jobs_in_flight{worker="w1"} 2',
      'skillplane_worker_concurrency{worker="w1"} 4',
    ])
      expect(res.body.split('\n')).toContain(line);
    // A worker that is gone has no in-flight gauge.
    expect(res.body).not.toContain('worker="w2"');
  });

  it('never fails a scrape: a status read that rejects or throws reports the broker down', async () => {
    reset();
    await api.inject({ url: '/metrics', headers: reader });
    for (const impl of [
      () => Promise.reject(new Error('redis exploded')),
      () => {
        throw new Error('thrown at once');
      },
    ]) {
      plane.statusImpl = impl;
      const res = await api.inject({ url: '/metrics', headers: reader });
      expect(res.statusCode).toBe(200);
      const lines = res.body.split('\n');
      expect(lines).toContain('skillplane_worker_broker_up 0');
      expect(lines).toContain('skillplane_workers{state="alive"} 0');
      // The queues of an earlier scrape are not reported again.
      expect(res.body).not.toContain('skillplane_worker_queue_jobs{');
      expect(res.body).not.toContain('skillplane_worker_jobs_in_flight{');
    }
  });
});
