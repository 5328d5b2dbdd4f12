import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startApi, type ApiHarness } from '../api/helpers.js';

/* /metrics answered anyone when keys were configured; it now needs the scope metrics:read. */

let keyed: ApiHarness;
let open: ApiHarness;
beforeAll(async () => {
  keyed = await startApi({
    config: {
      auth: {
        keys: [
          { principal: 'root', key: 'admin-key-0123456789', scopes: ['admin'] },
          { principal: 'reader', key: 'reader-key-0123456789', scopes: ['runs:read'] },
          { principal: 'prometheus', key: 'scrape-key-0123456789', scopes: ['metrics:read'] },
        ],
      },
    },
  });
  open = await startApi();
});
afterAll(async () => {
  await keyed.close();
  await open.close();
});

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

describe('/metrics', () => {
  it('needs metrics:read when keys are configured and stays open without keys', async () => {
    const none = await keyed.api.inject({ url: '/metrics' });
    expect(none.statusCode).toBe(401);
    expect(none.headers['content-type']).toContain('application/problem+json');
    expect(json(none)).toMatchObject({ code: 'unauthorized' });
    expect(none.body).not.toContain('skillplane_');
    const reader = await keyed.api.inject({ url: '/metrics', headers: bearer('reader-key-0123456789') });
    expect(reader.statusCode).toBe(403);
    expect(json(reader)).toMatchObject({ code: 'forbidden', scope: 'metrics:read' });
    for (const key of ['scrape-key-0123456789', 'admin-key-0123456789']) {
      const ok = await keyed.api.inject({ url: '/metrics', headers: bearer(key) });
      expect(ok.statusCode).toBe(200);
      expect(ok.body).toContain('skillplane_http_requests_total');
    }
    expect((await open.api.inject({ url: '/metrics' })).statusCode).toBe(200);
    expect((await keyed.api.inject({ url: '/healthz' })).statusCode).toBe(200);
    expect((await keyed.api.inject({ url: '/readyz' })).statusCode).toBe(200);
  });
});
