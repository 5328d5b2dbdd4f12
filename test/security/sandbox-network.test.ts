import { createSocket, type Socket as UdpSocket } from 'node:dgram';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSecurityServer, type SecurityServer } from './sandbox-harness.js';

/*
 * Item 5: the network grant. A skill allowed one host *name* must not reach 127.0.0.1 by handing
 * the resolver its own answer; a skill with `network: []` must not send UDP, ask DNS or listen.
 * Both sandbox modes are tested: with namespaces the egress proxy enforces it, with Node only the
 * preloaded guard does.
 */

let http: Server;
let httpPort: number;
let hits = 0;
let udp: UdpSocket;
let udpPort: number;
let datagrams = 0;

const NET_ATTACKS = `import dgram from 'node:dgram';
import dns from 'node:dns';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
const settle = (fn) => new Promise((resolve) => { try { fn(resolve); } catch (e) { resolve({ ok: false, code: e.code ?? e.name }); } });
export default async ({ how, port, udpPort }) => {
  const fakeLookup = (_h, _o, cb) => (typeof _o === 'function' ? _o : cb)(null, '127.0.0.1', 4);
  switch (how) {
    case 'lookup-net': return settle((done) => {
      const s = net.connect({ host: 'allowed.example', port, lookup: fakeLookup });
      s.on('connect', () => { s.write('GET / HTTP/1.0\\r\\n\\r\\n'); });
      s.on('data', () => { s.destroy(); done({ ok: true, code: 'reached' }); });
      s.on('error', (e) => done({ ok: false, code: e.code }));
      s.on('close', () => done({ ok: false, code: 'closed' }));
    });
    case 'lookup-http': return settle((done) => {
      const req = http.get({ host: 'allowed.example', port, path: '/', lookup: fakeLookup }, (res) => { res.resume(); done({ ok: true, code: String(res.statusCode) }); });
      req.on('error', (e) => done({ ok: false, code: e.code }));
    });
    case 'udp': return settle((done) => { const s = dgram.createSocket('udp4'); s.send('hi', udpPort, '127.0.0.1', (e) => done({ ok: !e, code: e?.code })); });
    case 'reverse': return settle((done) => dns.reverse('127.0.0.1', (e) => done({ ok: !e, code: e?.code })));
    case 'set-servers': return settle((done) => { dns.setServers(['127.0.0.1']); done({ ok: true }); });
    case 'listen': return settle((done) => { const srv = net.createServer(); srv.on('error', (e) => done({ ok: false, code: e.code })); srv.listen(0, '::', () => { srv.close(); done({ ok: true }); }); });
    case 'interfaces': return { ok: true, value: Object.keys(os.networkInterfaces()) };
    case 'fetch': { try { const r = await fetch('http://127.0.0.1:' + port + '/'); return { ok: true, code: String(r.status), value: await r.text() }; } catch (e) { return { ok: false, code: e.cause?.code ?? e.code }; } }
  }
  return { ok: false, code: 'unknown' };
};`;

beforeAll(async () => {
  http = createServer((_req, res) => {
    hits += 1;
    res.end('internal');
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  httpPort = (http.address() as AddressInfo).port;
  udp = createSocket('udp4');
  udp.on('message', () => (datagrams += 1));
  await new Promise<void>((resolve) => udp.bind(0, '127.0.0.1', resolve));
  udpPort = udp.address().port;
});

afterAll(async () => {
  await new Promise((resolve) => http.close(resolve));
  udp.close();
});

describe.each(['auto', 'node'] as const)('skills.sandbox: %s', (sandbox) => {
  let server: SecurityServer;
  beforeAll(async () => {
    server = await startSecurityServer({
      config: { skills: { sandbox } },
      skills: {
        named: { code: NET_ATTACKS, manifest: { permissions: { network: [`allowed.example:${httpPort}`] } } },
        none: { code: NET_ATTACKS },
        literal: { code: NET_ATTACKS, manifest: { permissions: { network: [`127.0.0.1:${httpPort}`] } } },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await server?.close();
  });

  async function attack(id: string, how: string) {
    const r = await server.execute(`attack/${id}`, { how, port: httpPort, udpPort });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return r.body.output as { ok: boolean; code?: string; value?: unknown };
  }

  it('an allowed host name with a caller-supplied lookup never reaches 127.0.0.1', async () => {
    const before = hits;
    for (const how of ['lookup-net', 'lookup-http']) {
      const r = await attack('named', how);
      expect(r.ok, `${how}: ${JSON.stringify(r)}`).toBe(false);
    }
    expect(hits).toBe(before);
    expect(await server.healthy()).toBe(true);
  });

  it('network: [] sends no UDP, asks no DNS server and cannot listen', async () => {
    for (const how of ['udp', 'reverse', 'set-servers', 'listen']) {
      const r = await attack('none', how);
      expect(r.ok, `${how}: ${JSON.stringify(r)}`).toBe(false);
    }
    // A datagram would have arrived by now: the server answered after the send attempt returned.
    expect(datagrams).toBe(0);
    expect(await server.healthy()).toBe(true);
  });

  it('a listed address is reachable (the grant still works)', async () => {
    const before = hits;
    const r = await attack('literal', 'fetch');
    expect(r).toMatchObject({ ok: true, code: '200', value: 'internal' });
    expect(hits).toBe(before + 1);
  });

  it.runIf(sandbox === 'auto')(
    'with namespaces the skill sees no network interface but loopback',
    async () => {
      const r = await attack('none', 'interfaces');
      expect(r.value).toEqual(['lo']);
    },
  );
});
