import { Redis, type RedisOptions } from 'ioredis';
import { BaseRunBus, type RunBusHealth } from './base.js';

/** Options of {@link RedisRunBus}. */
export interface RedisRunBusOptions {
  /** `redis://` or `rediss://` URL (`workers.broker_url`). */
  url: string;
  /** Key prefix of the deployment (`workers.prefix`): the channel is `<prefix>:runs`. */
  prefix: string;
  /** This node's id. */
  node: string;
  /** Called on the first connection error of each outage (already handled: ioredis reconnects). */
  onError?: (err: Error) => void;
}

/** Reconnect delays: 100 ms doubling up to 2 s, for ever. */
function retryStrategy(times: number): number {
  return Math.min(2_000, 100 * 2 ** Math.min(times, 5));
}

/**
 * A {@link RunBus} over Redis pub/sub on `<prefix>:runs`: one subscriber connection (ioredis
 * re-subscribes after a reconnect) and one publisher connection that fails fast while Redis is down
 * (the message waits in the bus's outbox instead). Connection errors are reported to `onError`,
 * never emitted unhandled.
 */
export class RedisRunBus extends BaseRunBus {
  private readonly subscriber: Redis;
  private readonly publisher: Redis;
  private subscribed = false;
  private everSubscribed = false;
  private lastError: string | undefined;

  constructor(opts: RedisRunBusOptions) {
    super(opts.node, `${opts.prefix}:runs`);
    const base: RedisOptions = { retryStrategy, connectTimeout: 2_000 };
    const name = `skillplane-bus:${opts.node.replace(/[^A-Za-z0-9_.:-]/g, '_')}`;
    this.subscriber = new Redis(opts.url, {
      ...base,
      connectionName: `${name}:sub`,
      maxRetriesPerRequest: null,
      autoResubscribe: true,
    });
    this.publisher = new Redis(opts.url, {
      ...base,
      connectionName: `${name}:pub`,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
    });
    // Reported once per outage (ioredis emits one error per failed retry).
    let reported = false;
    const onError = (err: Error) => {
      this.lastError = err.message;
      if (!reported) opts.onError?.(err);
      reported = true;
    };
    this.publisher.on('ready', () => (reported = false));
    this.subscriber.on('error', onError);
    this.publisher.on('error', onError);
    this.subscriber.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      if (channel.toString('utf8') === this.channel) this.receive(message.toString('utf8'));
    });
    this.subscriber.on('close', () => (this.subscribed = false));
    // ioredis re-subscribes as part of getting ready again.
    this.subscriber.on('ready', () => {
      if (!this.everSubscribed || this.closed) return;
      this.subscribed = true;
      this.resync();
    });
    this.publisher.on('ready', () => this.flushOutbox());
  }

  /**
   * Subscribes; resolves once subscribed or after `timeoutMs` (default 2 s): while Redis is down,
   * the subscription waits in the connection's queue and happens once it is reachable.
   */
  async start(timeoutMs = 2_000): Promise<void> {
    const subscribed = this.subscriber.subscribe(this.channel).then(
      () => {
        if (this.closed) return;
        this.subscribed = true;
        this.everSubscribed = true;
      },
      (err: unknown) => {
        this.lastError = err instanceof Error ? err.message : String(err);
      },
    );
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      subscribed,
      new Promise<void>((r) => {
        timer = setTimeout(r, timeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  health(): RunBusHealth {
    const listening = this.subscribed && this.subscriber.status === 'ready';
    return {
      driver: 'redis',
      listening,
      channel: this.channel,
      ...this.counters,
      ...(listening ? {} : { detail: this.lastError ?? `connection ${this.subscriber.status}` }),
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.subscribed = false;
    await Promise.allSettled([quit(this.subscriber), quit(this.publisher)]);
  }

  protected connected(): boolean {
    return this.publisher.status === 'ready';
  }

  protected send(text: string): Promise<unknown> {
    return this.publisher.publish(this.channel, text);
  }
}

/** Closes a connection politely when it is up, at once otherwise. */
async function quit(client: Redis): Promise<void> {
  if (client.status === 'ready') await client.quit().catch(() => client.disconnect());
  else client.disconnect();
}
