import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type StartedServer } from '../../src/api/index.js';
import { startApi, type ApiHarness } from '../api/helpers.js';

/*
 * SSE exhaustion: event streams were not capped, so one key could hold any number of them.
 * Now streams are capped per principal and in total, refused with 429 too_many_streams and
 * Retry-After before the stream starts.
 */

let h: ApiHarness;
let server: StartedServer;
beforeAll(async () => {
  h = await startApi({
    config: {
      server: { max_sse_streams: 3, max_sse_streams_per_principal: 2 },
      auth: {
        keys: [
          { principal: 'alice', key: 'alice-key-0123456789', scopes: ['runs:read', 'runs:write'] },
          { principal: 'bob', key: 'bob-key-0123456789ab', scopes: ['runs:read', 'runs:write'] },
        ],
      },
    },
  });
  server = await startServer(h.app.ports, { host: '127.0.0.1', port: 0, logger: false, heartbeatMs: 50 });
});
afterAll(async () => {
  await server?.close();
  await h?.close();
});

const auth = (key: string) => ({ authorization: `Bearer ${key}` });
const ALICE = 'alice-key-0123456789';
const BOB = 'bob-key-0123456789ab';

/** A run that waits for an approval, so its event stream stays open. */
async function waitingRun(key: string): Promise<string> {
  const res = await fetch(`${server.url}/v1/agents/runs?wait=10`, {
    method: 'POST',
    headers: { ...auth(key), 'content-type': 'application/json' },
    body: JSON.stringify({ agent: 'ops', input: 'danger' }),
  });
  const run = (await res.json()) as { id: string; status: string };
  expect(run.status).toBe('waiting_approval');
  return run.id;
}

const streams: AbortController[] = [];
async function stream(key: string, path: string): Promise<Response> {
  const controller = new AbortController();
  streams.push(controller);
  return fetch(`${server.url}${path}`, { headers: auth(key), signal: controller.signal });
}

describe('SSE stream caps', () => {
  it('refuses streams past the per-principal and total caps with 429, and frees them on close', async () => {
    const aliceRun = await waitingRun(ALICE);
    const bobRun = await waitingRun(BOB);
    const aliceEvents = `/v1/agents/runs/${aliceRun}/events`;
    for (let i = 0; i < 2; i++) {
      const ok = await stream(ALICE, aliceEvents);
      expect(ok.status).toBe(200);
      expect(ok.headers.get('content-type')).toContain('text/event-stream');
    }
    const own = await stream(ALICE, `/v1/events?run_id=${aliceRun}`);
    expect(own.status).toBe(429);
    expect(own.headers.get('content-type')).toContain('application/problem+json');
    expect(Number(own.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await own.json()).toMatchObject({ code: 'too_many_streams', scope: 'principal', limit: 2 });

    // Bob still gets a stream, until the server's total cap is reached.
    expect((await stream(BOB, `/v1/agents/runs/${bobRun}/events`)).status).toBe(200);
    const total = await stream(BOB, `/v1/agents/runs/${bobRun}/events`);
    expect(total.status).toBe(429);
    expect(await total.json()).toMatchObject({ code: 'too_many_streams', scope: 'server', limit: 3 });

    // Closing one of Alice's streams frees its slot once the server sees the disconnect.
    streams[0]!.abort();
    const deadline = Date.now() + 5_000;
    let again = await stream(ALICE, aliceEvents);
    while (again.status !== 200) {
      await again.body?.cancel();
      if (Date.now() > deadline) throw new Error('timed out waiting for a stream slot to be released');
      await new Promise((resolve) => setTimeout(resolve, 50));
      again = await stream(ALICE, aliceEvents);
    }
    expect(again.status).toBe(200);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    for (const c of streams) c.abort();
  });
});
