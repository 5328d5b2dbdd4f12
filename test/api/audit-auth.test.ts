import type { FastifyRequest } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuthFailureAuditor } from '../../src/api/auth-audit.js';
import type { AuthFailure } from '../../src/api/auth.js';
import type { AuditRecord } from '../../src/ports/index.js';
import { FakeClock, until } from '../../src/testing/index.js';
import { json, startApi, type ApiHarness } from './helpers.js';

/* Refused requests reach the audit trail, a few a minute per client address, never a flood. */

function fakeRequest(ip: string, url = '/v1/agents/runs'): FastifyRequest {
  return { ip, method: 'GET', url, routeOptions: { url } } as unknown as FastifyRequest;
}

const denied: AuthFailure = { status: 401, code: 'unauthorized', reason: 'no key', principal: null };

describe('AuthFailureAuditor', () => {
  it('writes at most N a minute per source, then says how many it dropped', () => {
    const clock = new FakeClock();
    const written: AuditRecord[] = [];
    const auditor = new AuthFailureAuditor(
      { append: async (e) => void written.push(e), list: () => Promise.reject(new Error('unused')) },
      { perSourcePerMin: 3, totalPerMin: 5, now: () => clock.now() },
    );
    for (let i = 0; i < 10; i++) auditor.record(fakeRequest('10.0.0.1'), denied);
    expect(written).toHaveLength(3);
    // Another source still gets its entries, until everyone together reaches the total.
    for (let i = 0; i < 10; i++) auditor.record(fakeRequest('10.0.0.2'), denied);
    expect(written).toHaveLength(5);
    expect(written.map((e) => e.data?.source)).toEqual([
      '10.0.0.1',
      '10.0.0.1',
      '10.0.0.1',
      '10.0.0.2',
      '10.0.0.2',
    ]);
    // Each entry says how many were dropped (from any source) since the one before it.
    expect(written.map((e) => e.data?.suppressed)).toEqual([undefined, undefined, undefined, 7, undefined]);
    clock.advance(60_000);
    auditor.record(fakeRequest('10.0.0.1'), {
      ...denied,
      status: 403,
      code: 'forbidden',
      principal: 'eve',
      scope: 'admin',
    });
    expect(written[5]).toMatchObject({
      principal: 'eve',
      action: 'auth.failure',
      target: '/v1/agents/runs',
      data: { status: 403, code: 'forbidden', scope: 'admin', suppressed: 8, source: '10.0.0.1' },
    });
    auditor.record(fakeRequest('10.0.0.1'), denied);
    expect(written[6]!.data?.suppressed).toBeUndefined();
  });

  it('shortens a long attacker-chosen path of an unknown route', () => {
    const written: AuditRecord[] = [];
    const auditor = new AuthFailureAuditor({
      append: async (e) => void written.push(e),
      list: () => Promise.reject(new Error('unused')),
    });
    const path = `/${'a'.repeat(5000)}`;
    auditor.record(
      { ...fakeRequest('10.0.0.9'), url: `${path}?x=1`, routeOptions: {} } as FastifyRequest,
      denied,
    );
    expect(written[0]!.target).toHaveLength(201);
  });
});

describe('auth failures through the server', () => {
  let h: ApiHarness;
  beforeAll(async () => {
    h = await startApi({
      config: {
        auth: { keys: [{ principal: 'auditor', key: 'auditor-key-0123456789', scopes: ['audit:read'] }] },
      },
    });
  });
  afterAll(async () => h?.close());

  it('an attacker guessing keys leaves at most 10 entries a minute', async () => {
    for (let i = 0; i < 25; i++) {
      const res = await h.api.inject({
        url: '/v1/agents/runs',
        headers: { authorization: `Bearer guess-${i}` },
      });
      expect(res.statusCode).toBe(401);
    }
    const read = async () =>
      json<{ entries: { principal: string | null; data: Record<string, unknown> }[] }>(
        await h.api.inject({
          url: '/v1/audit?action=auth.failure',
          headers: { authorization: 'Bearer auditor-key-0123456789' },
        }),
      ).entries;
    await until(async () => (await read()).length === 10, 5_000, '10 auth failures');
    const entries = await read();
    expect(entries.every((e) => e.principal === null && e.data.reason === 'the API key is not valid')).toBe(
      true,
    );
    expect(await h.store.listAudit({ action: 'auth.failure' })).toMatchObject({ next_cursor: null });
    expect((await h.store.listAudit({ action: 'auth.failure' })).entries).toHaveLength(10);
  });
});
