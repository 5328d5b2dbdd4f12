import { decodeMessage, encodeMessage, type RunBusMessage, type RunBusOutgoing } from './messages.js';

/** What a bus hands its listeners: a message of another node, or `resync` after a reconnect. */
export type RunBusDelivery = RunBusMessage | { type: 'resync' };

/** Counters and state of a bus, for readiness and metrics. */
export interface RunBusHealth {
  /** `postgres` (LISTEN/NOTIFY) or `redis` (pub/sub). */
  driver: 'postgres' | 'redis';
  /** True while the bus is subscribed: other nodes' messages reach this one. */
  listening: boolean;
  /** The channel the nodes share. */
  channel: string;
  /** Messages sent. */
  published: number;
  /** Messages that could not be sent (too large, transport error, dropped from a full outbox). */
  publishFailed: number;
  /** Messages of other nodes delivered. */
  received: number;
  /** Received payloads dropped as malformed or oversized. */
  invalid: number;
  /** Why it is not listening, when known. */
  detail?: string;
}

/**
 * Carries run notifications and cancel requests between the nodes sharing one store. Best
 * effort: a message can be lost while a connection is down (listeners get `resync` once it is back,
 * so they re-read the store); it never throws at its caller and never crashes the process.
 */
export interface RunBus {
  /** This node's id: the `node` of every message it sends; its own messages are not delivered. */
  readonly node: string;
  /** Sends a message to the other nodes without waiting; failures are counted, never thrown. */
  publish(message: RunBusOutgoing): void;
  /** Calls `listener` on each message of another node; returns the unsubscribe function. */
  subscribe(listener: (delivery: RunBusDelivery) => void): () => void;
  /** Whether it is listening, and its counters. */
  health(): RunBusHealth;
  /** Stops listening and closes its connections (idempotent). */
  close(): Promise<void>;
}

/** Longest time a message waits in the outbox for a connection. */
const OUTBOX_TTL_MS = 30_000;
const OUTBOX_MAX = 1_000;

/**
 * What both transports share: listeners, counters, decoding and self-filtering, and a bounded
 * outbox of the messages sent while the connection was down (one per run and type: a later one
 * replaces an earlier; sent once it is back, dropped after 30 s).
 */
export abstract class BaseRunBus implements RunBus {
  protected readonly counters = { published: 0, publishFailed: 0, received: 0, invalid: 0 };
  protected closed = false;
  private readonly listeners = new Set<(delivery: RunBusDelivery) => void>();
  private readonly outbox = new Map<string, { text: string; at: number }>();

  protected constructor(
    readonly node: string,
    protected readonly channel: string,
  ) {}

  publish(message: RunBusOutgoing): void {
    if (this.closed) return;
    const text = encodeMessage({ ...message, node: this.node } as RunBusMessage);
    if (text === undefined) {
      this.counters.publishFailed++;
      return;
    }
    const key = `${message.type}:${message.runId}`;
    if (!this.connected()) {
      this.hold(key, text);
      return;
    }
    this.sendText(key, text);
  }

  subscribe(listener: (delivery: RunBusDelivery) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  abstract health(): RunBusHealth;
  abstract close(): Promise<void>;

  /** True while messages can be sent now. */
  protected abstract connected(): boolean;
  /** Sends an encoded message; rejects when it could not. */
  protected abstract send(text: string): Promise<unknown>;

  /** Hands a received payload to the listeners, unless it is invalid or this node's own. */
  protected receive(text: string): void {
    if (this.closed) return;
    const message = decodeMessage(text);
    if (message === undefined) {
      this.counters.invalid++;
      return;
    }
    if (message.node === this.node) return;
    this.counters.received++;
    this.deliver(message);
  }

  /** The connection is (back) up: sends the outbox; after a reconnect, tells listeners to resync. */
  protected onConnected(reconnect: boolean): void {
    this.flushOutbox();
    if (reconnect) this.resync();
  }

  /** Listening again after a gap: messages may have been missed, so listeners re-read the store. */
  protected resync(): void {
    this.deliver({ type: 'resync' });
  }

  /** Sends the messages held while the connection was down (dropping those too old). */
  protected flushOutbox(): void {
    const now = Date.now();
    const held = [...this.outbox.entries()];
    this.outbox.clear();
    for (const [key, { text, at }] of held) {
      if (now - at > OUTBOX_TTL_MS) this.counters.publishFailed++;
      else this.sendText(key, text, at);
    }
  }

  private sendText(key: string, text: string, at = Date.now()): void {
    this.send(text).then(
      () => this.counters.published++,
      () => (this.closed ? this.counters.publishFailed++ : this.hold(key, text, at)),
    );
  }

  private hold(key: string, text: string, at = Date.now()): void {
    if (Date.now() - at > OUTBOX_TTL_MS) {
      this.counters.publishFailed++;
      return;
    }
    this.outbox.delete(key);
    if (this.outbox.size >= OUTBOX_MAX) {
      const oldest = this.outbox.keys().next().value;
      if (oldest !== undefined) this.outbox.delete(oldest);
      this.counters.publishFailed++;
    }
    this.outbox.set(key, { text, at });
  }

  private deliver(delivery: RunBusDelivery): void {
    for (const l of [...this.listeners]) {
      try {
        l(delivery);
      } catch {
        // A listener's failure is its own; the others still hear.
      }
    }
  }
}
