import { EventEmitter } from 'node:events';
import type { ConnectionOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { ConfigError, describeNetworkFailure } from '../errors/index.js';

/** The broker URL without its password, for logs and status documents. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password !== '') u.password = '***';
    return u.toString();
  } catch {
    return '(unparsable broker URL)';
  }
}

/** Reconnect delays: 100 ms doubling up to 2 s, for ever (a broker that comes back is used again). */
function retryStrategy(times: number): number {
  return Math.min(2000, 100 * 2 ** Math.min(times, 5));
}

/**
 * Connection options every Redis client of the worker plane uses. `kind: 'fail-fast'` (the API
 * side's commands) rejects a command at once while disconnected instead of queueing it, so a
 * request never hangs on a broker that is down; `'blocking'` (BullMQ workers, event readers) waits
 * and retries, as BullMQ requires.
 */
export function redisOptions(kind: 'fail-fast' | 'blocking'): RedisOptions {
  return {
    retryStrategy,
    maxRetriesPerRequest: kind === 'fail-fast' ? 0 : null,
    enableOfflineQueue: kind !== 'fail-fast',
    connectTimeout: 2000,
    // BullMQ checks the server version itself; readiness is tracked by BrokerHealth.
    enableReadyCheck: true,
    lazyConnect: false,
  };
}

/** Opens a Redis client on `url` whose errors are reported, never thrown as unhandled events. */
export function openRedis(
  url: string,
  kind: 'fail-fast' | 'blocking',
  onError?: (err: Error) => void,
): Redis {
  const client = new Redis(connectionFromUrl(url, kind));
  client.on('error', (err: Error) => onError?.(err));
  return client;
}

/** Whether the broker answers, and why not. */
export interface BrokerState {
  ok: boolean;
  /** Why not (`worker_unavailable`), when not ok. */
  reason?: string;
  /** ISO time the state began. */
  since: string;
}

/**
 * Tracks one fail-fast connection's state: `ok` while it is ready; otherwise the last connection
 * error, described (`connection refused by 127.0.0.1:6390`). Emits `'change'` on each flip and
 * `'ready'` when the broker is back.
 */
export class BrokerHealth extends EventEmitter<{ change: [BrokerState]; ready: []; settled: [] }> {
  private current: BrokerState;
  private lastError: string | undefined;
  /** False until the first connection attempt succeeded or failed. */
  private settled = false;

  constructor(
    private readonly client: Redis,
    private readonly url: string,
  ) {
    super();
    this.setMaxListeners(0);
    this.current = {
      ok: client.status === 'ready',
      ...(client.status === 'ready' ? {} : { reason: `connecting to ${redactUrl(url)}` }),
      since: new Date().toISOString(),
    };
    client.on('ready', () => {
      this.settled = true;
      this.set(true);
      this.emit('settled');
    });
    client.on('error', (err: Error) => {
      this.lastError = describeNetworkFailure(err).reason;
      this.settled = true;
      if (!this.current.ok) this.set(false);
      this.emit('settled');
    });
    client.on('close', () => this.set(false));
    client.on('end', () => this.set(false));
  }

  /** The state now. */
  get state(): BrokerState {
    return this.current;
  }

  /** True while the broker is reachable. */
  get ok(): boolean {
    return this.current.ok;
  }

  /**
   * Resolves once the first connection attempt has an outcome (at once after that), or after
   * `ms`: a call that arrives while the process is still connecting is not refused for that.
   */
  async whenSettled(ms: number): Promise<void> {
    if (this.settled) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.off('settled', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.on('settled', done);
    });
  }

  /**
   * Resolves once the broker is reachable (at once if it is); rejects with the signal's reason
   * when `signal` aborts first.
   */
  whenReady(signal: AbortSignal): Promise<void> {
    if (this.current.ok) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const onReady = () => {
        signal.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.off('ready', onReady);
        reject(signal.reason as Error);
      };
      if (signal.aborted) {
        onAbort();
        return;
      }
      this.once('ready', onReady);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  private set(ok: boolean): void {
    const reason = ok
      ? undefined
      : `the worker plane's broker ${redactUrl(this.url)} does not answer${this.lastError === undefined ? '' : `: ${this.lastError}`}`;
    if (ok === this.current.ok && reason === this.current.reason) return;
    this.current = { ok, ...(reason === undefined ? {} : { reason }), since: new Date().toISOString() };
    this.emit('change', this.current);
    if (ok) {
      this.lastError = undefined;
      this.emit('ready');
    }
  }
}

/**
 * ioredis options from a `redis://` / `rediss://` URL (host, port, user, password, db, TLS), for
 * BullMQ, which opens its own connections from options. Throws `config_invalid` on another scheme.
 */
export function connectionFromUrl(url: string, kind: 'fail-fast' | 'blocking'): RedisOptions {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ConfigError(`workers.broker_url is not a URL: ${redactUrl(url)}`, [
      { path: 'workers.broker_url', message: 'must be a redis:// or rediss:// URL' },
    ]);
  }
  if (u.protocol !== 'redis:' && u.protocol !== 'rediss:')
    throw new ConfigError(`workers.broker_url must be redis:// or rediss://, got ${u.protocol}`, [
      { path: 'workers.broker_url', message: 'must be a redis:// or rediss:// URL' },
    ]);
  const db = u.pathname.length > 1 ? Number(u.pathname.slice(1)) : 0;
  return {
    ...redisOptions(kind),
    host: u.hostname.replace(/^\[|\]$/g, '') || '127.0.0.1',
    port: u.port === '' ? 6379 : Number(u.port),
    ...(u.username === '' ? {} : { username: decodeURIComponent(u.username) }),
    ...(u.password === '' ? {} : { password: decodeURIComponent(u.password) }),
    ...(Number.isInteger(db) && db > 0 ? { db } : {}),
    ...(u.protocol === 'rediss:' ? { tls: {} } : {}),
  };
}

/** {@link connectionFromUrl} typed for BullMQ (which takes the same ioredis options). */
export function bullConnection(url: string, kind: 'fail-fast' | 'blocking'): ConnectionOptions {
  return connectionFromUrl(url, kind) as ConnectionOptions;
}
