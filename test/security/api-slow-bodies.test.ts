import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type StartedServer } from '../../src/api/index.js';
import { startApi, type ApiHarness } from '../api/helpers.js';

/*
 * Held and slow bodies: the key used to be checked after the body was read, and nothing bounded
 * how long a request could take to arrive, so unauthenticated clients could hold connections
 * forever. Now a keyless request is refused in onRequest and the HTTP server has timeouts.
 */

/** What a raw client received on a socket, once the server answered and closed, or at `deadlineMs`. */
function exchange(
  port: number,
  head: string,
  opts: { deadlineMs: number; trickleMs?: number },
): Promise<{ text: string; ms: number; closed: boolean }> {
  return new Promise((resolve, reject) => {
    const started = Date.now();
    const socket: Socket = connect(port, '127.0.0.1');
    let text = '';
    let trickle: NodeJS.Timeout | undefined;
    const finish = (closed: boolean) => {
      clearTimeout(deadline);
      clearInterval(trickle);
      socket.destroy();
      resolve({ text, ms: Date.now() - started, closed });
    };
    // A response that says it is complete is enough: the socket of a refused request may stay up.
    const complete = () => {
      const end = text.indexOf('\r\n\r\n');
      const length = /content-length: (\d+)/i.exec(text);
      return end >= 0 && length !== null && text.length >= end + 4 + Number(length[1]);
    };
    const deadline = setTimeout(() => finish(false), opts.deadlineMs);
    socket.on('error', reject);
    socket.on('connect', () => {
      socket.write(head);
      if (opts.trickleMs !== undefined)
        trickle = setInterval(() => {
          if (socket.writable) socket.write(' ');
        }, opts.trickleMs);
    });
    socket.on('data', (d: Buffer) => {
      text += d.toString();
      if (complete() && opts.trickleMs === undefined) finish(false);
    });
    socket.on('close', () => finish(true));
  });
}

function problemOf(text: string): Record<string, unknown> {
  return JSON.parse(text.slice(text.indexOf('\r\n\r\n') + 4)) as Record<string, unknown>;
}

const bodyHead = (port: number, length: number, extra = '') =>
  `POST /v1/agents/runs HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\n` +
  `Content-Length: ${length}\r\n${extra}\r\n`;

let keyed: ApiHarness;
let open: ApiHarness;
let keyedServer: StartedServer;
let openServer: StartedServer;
beforeAll(async () => {
  keyed = await startApi({
    config: { auth: { keys: [{ principal: 'root', key: 'admin-key-0123456789', scopes: ['admin'] }] } },
  });
  open = await startApi({ config: { server: { request_timeout_sec: 1, max_connections: 64 } } });
  keyedServer = await startServer(keyed.app.ports, { host: '127.0.0.1', port: 0, logger: false });
  openServer = await startServer(open.app.ports, {
    host: '127.0.0.1',
    port: 0,
    logger: false,
    heartbeatMs: 50,
  });
});
afterAll(async () => {
  await keyedServer?.close();
  await openServer?.close();
  await keyed?.close();
  await open?.close();
});

describe('slow and held request bodies', () => {
  it('refuses a keyless held body at once, cuts off a trickled one, and keeps answering', async () => {
    // Keys configured, no key, 10 MB announced and never sent: 401 before the body is read.
    const held = await exchange(keyedServer.port, bodyHead(keyedServer.port, 10_000_000), {
      deadlineMs: 3_000,
    });
    expect(held.text).toMatch(/^HTTP\/1\.1 401 /);
    expect(held.text.toLowerCase()).toContain('content-type: application/problem+json');
    expect(problemOf(held.text)).toMatchObject({ status: 401, code: 'unauthorized' });
    expect(held.ms).toBeLessThan(2_000);
    expect((await fetch(`${keyedServer.url}/healthz`)).status).toBe(200);
    // Routes marked public need no key; every other route (unknown ones too) does.
    for (const url of ['/healthz', '/readyz', '/openapi.json', '/docs/'])
      expect((await keyed.api.inject({ url })).statusCode, url).toBe(200);
    for (const url of ['/metrics', '/v1/skills', '/v1/nothing', '/mcp'])
      expect((await keyed.api.inject({ url })).statusCode, url).toBe(401);

    // No keys: a body trickled slower than server.request_timeout_sec (1 s) is cut off with 408.
    const trickled = exchange(openServer.port, bodyHead(openServer.port, 100_000), {
      deadlineMs: 8_000,
      trickleMs: 100,
    });
    // The server answers other clients meanwhile.
    expect((await fetch(`${openServer.url}/healthz`)).status).toBe(200);
    const cut = await trickled;
    expect(cut.closed).toBe(true);
    expect(cut.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(problemOf(cut.text)).toMatchObject({ status: 408, code: 'request_timeout' });
    expect(cut.ms).toBeGreaterThanOrEqual(900);
    expect(cut.ms).toBeLessThan(6_000);
    expect((await fetch(`${openServer.url}/healthz`)).status).toBe(200);

    // The timeout bounds receiving a request, not answering it: a 1.5 s ?wait still completes.
    const waited = await fetch(`${openServer.url}/v1/agents/runs?wait=10`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ agent: 'assistant', input: 'sleep 1500' }),
    });
    expect(waited.status).toBe(200);
    expect(((await waited.json()) as { status: string }).status).toBe('completed');
    // Nor an event stream: one stays open (heartbeats every 50 ms) well past the request timeout.
    const waiting = (await (
      await fetch(`${openServer.url}/v1/agents/runs?wait=10`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ agent: 'ops', input: 'danger' }),
      })
    ).json()) as { id: string; status: string };
    expect(waiting.status).toBe('waiting_approval');
    const controller = new AbortController();
    const events = await fetch(`${openServer.url}/v1/agents/runs/${waiting.id}/events`, {
      signal: controller.signal,
    });
    const reader = events.body!.getReader();
    const opened = Date.now();
    let heartbeats = 0;
    while (Date.now() - opened < 1_800) {
      const { value, done } = await reader.read();
      expect(done, 'the event stream ended early').toBe(false);
      heartbeats += (new TextDecoder().decode(value).match(/: heartbeat/g) ?? []).length;
    }
    expect(heartbeats).toBeGreaterThan(5);
    controller.abort();
    expect(openServer.server.server.maxConnections).toBe(64);
    expect(openServer.server.server.headersTimeout).toBeLessThanOrEqual(1_000);
  });
});
