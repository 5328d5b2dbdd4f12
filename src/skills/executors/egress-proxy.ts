import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { rmSync } from 'node:fs';
import { createServer, connect, isIP, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { z } from 'zod';
import { addressAllowed, matchHost, parsePattern, type HostPattern } from './sandbox/host-rules.mjs';

/** Longest header line a sandbox may send before its bytes. */
const MAX_HEADER_BYTES = 1024;
const HEADER_TIMEOUT_MS = 10_000;
const CONNECT_TIMEOUT_MS = 30_000;

const headerSchema = z.strictObject({
  host: z.string().min(1).max(255),
  port: z.number().int().min(1).max(65535),
});

type Lookup = (host: string, cb: (err: Error | null, addresses: LookupAddress[]) => void) => void;

const systemLookup: Lookup = (host, cb) => dnsLookup(host, { all: true }, cb);

/** A connection the proxy refused, for logs and tests. */
export interface EgressDenial {
  host: string;
  port: number;
  reason: string;
}

/** Options of {@link EgressProxy.open}. */
export interface EgressProxyOptions {
  /** Resolver (tests); the system resolver by default. */
  lookup?: Lookup;
  onDenied?: (denial: EgressDenial) => void;
}

/**
 * The only way out of a namespaced sandbox that may reach hosts: a Unix socket bound into it.
 * Each connection starts with one JSON line `{host, port}`; the proxy checks the host against the
 * skill's patterns, resolves it itself (the sandbox has no resolver and cannot supply one), checks
 * every resolved address (a name never leads to a loopback or private address unless that address
 * is listed too), connects to the checked address and then relays bytes both ways. A refused
 * connection is closed without a byte.
 */
export class EgressProxy {
  private readonly sockets = new Set<Socket>();
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly server: Server,
  ) {}

  /** Listens on a new socket in `dir` (a private folder of the executor). */
  static async open(dir: string, patterns: string[], opts: EgressProxyOptions = {}): Promise<EgressProxy> {
    const parsed = patterns.map(parsePattern);
    const lookup = opts.lookup ?? systemLookup;
    const path = join(dir, `egress-${process.pid}-${Math.random().toString(36).slice(2, 10)}.sock`);
    const holder: { proxy?: EgressProxy } = {};
    const server = createServer((client) => holder.proxy?.handle(client, parsed, lookup, opts.onDenied));
    const proxy = new EgressProxy(path, server);
    holder.proxy = proxy;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(path, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => undefined);
    return proxy;
  }

  /** Stops listening and cuts every open connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    rmSync(this.path, { force: true });
  }

  private track(socket: Socket): void {
    this.sockets.add(socket);
    socket.once('close', () => this.sockets.delete(socket));
  }

  private handle(
    client: Socket,
    patterns: HostPattern[],
    lookup: Lookup,
    onDenied: ((d: EgressDenial) => void) | undefined,
  ): void {
    this.track(client);
    client.on('error', () => client.destroy());
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => client.destroy(), HEADER_TIMEOUT_MS);
    const refuse = (host: string, port: number, reason: string) => {
      clearTimeout(timer);
      onDenied?.({ host, port, reason });
      client.destroy();
    };
    const onData = (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      const end = buffered.indexOf(10);
      if (end === -1) {
        if (buffered.length > MAX_HEADER_BYTES) refuse('?', 0, 'header too long');
        return;
      }
      client.off('data', onData);
      client.pause();
      let header: z.infer<typeof headerSchema>;
      try {
        header = headerSchema.parse(JSON.parse(buffered.subarray(0, end).toString('utf8')));
      } catch {
        refuse('?', 0, 'malformed header');
        return;
      }
      const rest = buffered.subarray(end + 1);
      const { host, port } = header;
      if (matchHost(patterns, host, port) === undefined) return refuse(host, port, 'host not allowed');
      const proceed = (address: string) => {
        clearTimeout(timer);
        if (client.destroyed) return;
        const upstream = connect({ host: address, port, timeout: CONNECT_TIMEOUT_MS });
        this.track(upstream);
        upstream.once('timeout', () => upstream.destroy());
        upstream.on('error', () => client.destroy());
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
        upstream.once('connect', () => {
          upstream.setTimeout(0);
          if (rest.length > 0) upstream.write(rest);
          client.pipe(upstream);
          upstream.pipe(client);
          client.resume();
        });
      };
      if (isIP(host) !== 0) {
        if (!addressAllowed(patterns, host, host, port)) return refuse(host, port, 'address not allowed');
        return proceed(host);
      }
      lookup(host, (err, addresses) => {
        if (err !== null) return refuse(host, port, `cannot resolve: ${err.message}`);
        const ok = addresses.find((a) => addressAllowed(patterns, host, a.address, port));
        if (ok === undefined) return refuse(host, port, 'resolves only to addresses the policy denies');
        proceed(ok.address);
      });
    };
    client.on('data', onData);
  }
}
