/**
 * `openSse` on a real server: a client gone before its stream opens (it left while the request
 * was authorised or its run looked up) leaves no stream, no place in the hub and no heartbeat;
 * a hub that was closed for shutdown opens no new stream.
 */
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import Fastify from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { SseHub, openSse } from '../../src/api/sse.js';
import { until } from '../../src/testing/index.js';

const apps: ReturnType<typeof Fastify>[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((a) => a.close()));
});

async function serve(hub: SseHub, before: (raw: ServerResponse) => Promise<void>) {
  const app = Fastify();
  apps.push(app);
  const opened: { closed: boolean }[] = [];
  const failures: unknown[] = [];
  app.get('/stream', async (request, reply) => {
    await before(reply.raw);
    try {
      opened.push(openSse(reply, hub, 'p', 50));
    } catch (err) {
      failures.push(err);
      throw err;
    }
    return reply;
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/stream`, opened, failures };
}

describe('openSse', () => {
  it('closes at once a stream whose client left before it opened, releasing its place', async () => {
    const hub = new SseHub({ maxStreams: 1, maxPerPrincipal: 1 });
    let reached!: () => void;
    const atHandler = new Promise<void>((r) => (reached = r));
    const s = await serve(hub, async (raw) => {
      reached();
      await once(raw, 'close'); // the client is gone before the stream opens
    });
    const controller = new AbortController();
    const res = fetch(s.url, { signal: controller.signal }).catch(() => undefined);
    await atHandler;
    controller.abort();
    await res;
    await until(() => s.opened.length === 1, 5_000, 'the handler to open the stream');
    expect(s.opened).toHaveLength(1);
    expect(s.opened[0]!.closed).toBe(true);
    expect(hub.size).toBe(0);
    // Its place is free again: the cap of one admits the next stream.
    hub.admit('p')();
  });

  it('opens no stream once the hub was closed for shutdown (shutting_down)', async () => {
    const hub = new SseHub();
    hub.closeAll();
    const s = await serve(hub, async () => undefined);
    const res = await fetch(s.url);
    expect(res.status).toBe(500);
    expect(s.failures).toMatchObject([{ code: 'shutting_down' }]);
    expect(hub.size).toBe(0);
  });
});
