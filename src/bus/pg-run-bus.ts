import { createHash } from 'node:crypto';
import pg from 'pg';
import { BaseRunBus, type RunBusHealth } from './base.js';

/** Options of {@link PgRunBus}. */
export interface PgRunBusOptions {
  /** Connection string; unset: the `PG*` environment variables, as the store does. */
  url?: string;
  /** The store's schema: nodes on one schema share a channel, other schemas do not hear them. */
  schema: string;
  /** This node's id. */
  node: string;
  /** Called on the first connection failure of each outage (already handled: the bus reconnects). */
  onError?: (err: Error) => void;
  /** Period of the liveness query that notices a silently dead connection (default 15 s). */
  pingMs?: number;
}

/**
 * The LISTEN/NOTIFY channel of a store schema: `skillplane_runs_<schema>`, or, when that would
 * pass PostgreSQL's 63-byte identifier limit, `skillplane_runs_<16 hex of its SHA-256>`.
 */
export function pgChannelFor(schema: string): string {
  const plain = `skillplane_runs_${schema}`;
  if (Buffer.byteLength(plain, 'utf8') <= 63) return plain;
  return `skillplane_runs_${createHash('sha256').update(schema).digest('hex').slice(0, 16)}`;
}

const BACKOFF_MIN_MS = 100;
const BACKOFF_MAX_MS = 5_000;

/**
 * A {@link RunBus} over PostgreSQL LISTEN/NOTIFY on one dedicated connection (not the store's
 * pool): it listens on the schema's channel and sends with `pg_notify` on the same connection.
 * When the connection drops (the server restarted, the backend was terminated, a ping timed out)
 * it reconnects with backoff (100 ms doubling to 5 s, jittered) for as long as it is open.
 */
export class PgRunBus extends BaseRunBus {
  private client: pg.Client | undefined;
  private listening = false;
  private everListened = false;
  private attempts = 0;
  private lastError: string | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private pingTimer: NodeJS.Timeout | undefined;
  private connecting: Promise<void> | undefined;

  constructor(private readonly opts: PgRunBusOptions) {
    super(opts.node, pgChannelFor(opts.schema));
  }

  /** Connects and listens; resolves after the first attempt whether or not it succeeded. */
  start(): Promise<void> {
    return this.connect();
  }

  health(): RunBusHealth {
    return {
      driver: 'postgres',
      listening: this.listening,
      channel: this.channel,
      ...this.counters,
      ...(this.listening || this.lastError === undefined ? {} : { detail: this.lastError }),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    await this.connecting?.catch(() => undefined);
    const c = this.client;
    this.client = undefined;
    this.listening = false;
    await c?.end().catch(() => undefined);
  }

  protected connected(): boolean {
    return this.listening;
  }

  protected send(text: string): Promise<unknown> {
    const c = this.client;
    if (c === undefined || !this.listening) return Promise.reject(new Error('not connected'));
    return c.query('SELECT pg_notify($1, $2)', [this.channel, text]);
  }

  private connect(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.connecting ??= this.attempt().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async attempt(): Promise<void> {
    const client = new pg.Client({
      ...(this.opts.url === undefined ? {} : { connectionString: this.opts.url }),
      keepAlive: true,
      // Names the node in pg_stat_activity (at most 63 bytes there).
      application_name: `skillplane-bus ${this.node}`.slice(0, 63),
    });
    // Every failure, now or later, ends in one place: drop this client, try again later.
    client.on('error', (err: Error) => this.lost(client, err));
    client.on('end', () => this.lost(client, new Error('connection ended')));
    client.on('notification', (msg) => {
      if (msg.channel === this.channel && msg.payload !== undefined) this.receive(msg.payload);
    });
    this.client = client;
    try {
      await client.connect();
      await client.query(`LISTEN "${this.channel.replaceAll('"', '""')}"`);
    } catch (err) {
      this.lost(client, err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (this.closed || this.client !== client) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listening = true;
    this.attempts = 0;
    this.lastError = undefined;
    const reconnect = this.everListened;
    this.everListened = true;
    this.startPing(client);
    this.onConnected(reconnect);
  }

  private lost(client: pg.Client, err: Error): void {
    if (this.client !== client) return; // an old client's late event
    this.client = undefined;
    this.listening = false;
    clearInterval(this.pingTimer);
    this.lastError = `listening connection lost: ${err.message}`;
    if (this.attempts === 0) this.opts.onError?.(err); // once per outage, not on every retry
    client.end().catch(() => undefined);
    if (this.closed) return;
    const base = Math.min(BACKOFF_MAX_MS, BACKOFF_MIN_MS * 2 ** Math.min(this.attempts, 6));
    this.attempts++;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => void this.connect(), Math.round(base * (0.75 + Math.random() / 2)));
    this.retryTimer.unref();
  }

  private startPing(client: pg.Client): void {
    clearInterval(this.pingTimer);
    const every = this.opts.pingMs ?? 15_000;
    this.pingTimer = setInterval(() => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('ping timed out')), every);
      });
      Promise.race([client.query('SELECT 1'), timeout])
        .catch((err: unknown) => this.lost(client, err instanceof Error ? err : new Error(String(err))))
        .finally(() => clearTimeout(timer));
    }, every);
    this.pingTimer.unref();
  }
}
