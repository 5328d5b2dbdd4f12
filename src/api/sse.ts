import type { FastifyReply, FastifyRequest } from 'fastify';
import { isTerminalEvent } from '../vocabulary/index.js';
import type { RunNotification } from '../agents/index.js';
import type { RunsPort } from '../ports/index.js';
import { SkillplaneError } from '../errors/index.js';
import type { RunEvent } from '../store/index.js';

/** Event types after which a run's stream ends. */
const PAGE = 500;

/** One run followed by a stream, from `afterSeq` on. */
export interface StreamTarget {
  runId: string;
  afterSeq: number;
  /** The run is already terminal: end once its history is sent even without a terminal event. */
  terminal: boolean;
}

export interface SseOptions {
  heartbeatMs: number;
  /** Several runs on one stream: an event's id is `run_a:seq,run_b:seq` (every run's position). */
  multiplexed: boolean;
  /** Who opens the stream: counted against `server.max_sse_streams_per_principal`. */
  principal: string;
  /**
   * Frames to write after each batch of a run's events (Opta-LMX's `run.update` and
   * `run.completed`); they carry no `id:`, so `Last-Event-ID` resumes on our events alone.
   */
  after?: (runId: string, ended: boolean) => Promise<string>;
}

/** Caps of open SSE streams (`server.max_sse_streams`, `server.max_sse_streams_per_principal`). */
export interface SseLimits {
  maxStreams: number;
  maxPerPrincipal: number;
}

/** `Retry-After` of a refused stream: streams end with their runs, so soon is reasonable. */
const STREAM_RETRY_MS = 5_000;

/** The open streams of a server, so shutdown can end them, and their caps. */
export class SseHub {
  private readonly streams = new Set<() => void>();
  private readonly perPrincipal = new Map<string, number>();
  private reserved = 0;
  private closing = false;

  constructor(
    private readonly limits: SseLimits = {
      maxStreams: Number.POSITIVE_INFINITY,
      maxPerPrincipal: Number.POSITIVE_INFINITY,
    },
  ) {}

  /**
   * Reserves a stream for `principal`, or throws `too_many_streams` (429, `Retry-After`) when the
   * server or the principal is at its cap. Returns the release (idempotent).
   */
  admit(principal: string): () => void {
    // A request that was past the shutdown guard when the streams were closed opens none.
    if (this.closing) throw new SkillplaneError('shutting_down', 'server is shutting down');
    const own = this.perPrincipal.get(principal) ?? 0;
    const scope =
      this.reserved >= this.limits.maxStreams
        ? 'server'
        : own >= this.limits.maxPerPrincipal
          ? 'principal'
          : undefined;
    if (scope !== undefined) {
      const limit = scope === 'server' ? this.limits.maxStreams : this.limits.maxPerPrincipal;
      throw new SkillplaneError(
        'too_many_streams',
        scope === 'server'
          ? `the server has ${limit} open event streams, its limit; retry later`
          : `principal ${principal} has ${limit} open event streams, its limit; close one or retry later`,
        { data: { limit, scope, retry_after_ms: STREAM_RETRY_MS } },
      );
    }
    this.reserved += 1;
    this.perPrincipal.set(principal, own + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.reserved -= 1;
      const n = (this.perPrincipal.get(principal) ?? 1) - 1;
      if (n <= 0) this.perPrincipal.delete(principal);
      else this.perPrincipal.set(principal, n);
    };
  }

  add(close: () => void): () => void {
    this.streams.add(close);
    return () => this.streams.delete(close);
  }

  /** Ends every open stream and refuses new ones (server shutdown). */
  closeAll(): void {
    this.closing = true;
    for (const close of [...this.streams]) close();
  }

  get size(): number {
    return this.streams.size;
  }
}

function format(event: RunEvent, id: string): string {
  return `id: ${id}\nevent: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`;
}

/** An open Server-Sent Events response, counted by its hub until it closes. */
export interface SseStream {
  /** Writes a frame (nothing once closed). */
  write(text: string): void;
  readonly closed: boolean;
  /** Ends the response and releases its place (idempotent). */
  close(): void;
  /** Runs `fn` when the stream closes: by {@link close}, the client leaving or shutdown. */
  onClose(fn: () => void): void;
}

/**
 * Opens an SSE response on `reply`: reserves the principal's place in `hub` first (a refusal is
 * a plain 429 problem, nothing written yet), then takes over the raw response with the stream's
 * headers (and those already set on the reply), a `retry:` hint and a heartbeat comment every
 * `heartbeatMs` (`onHeartbeat` then runs too). The one place the API starts a stream.
 */
export function openSse(
  reply: FastifyReply,
  hub: SseHub,
  principal: string,
  heartbeatMs: number,
  onHeartbeat?: () => void,
): SseStream {
  const release = hub.admit(principal);
  const raw = reply.raw;
  const closers: (() => void)[] = [];
  let closed = false;
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(reply.getHeaders())) if (v !== undefined) headers[k] = String(v);
  reply.hijack();
  raw.writeHead(200, {
    ...headers,
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
  });
  raw.write(`retry: 2000\n\n`);
  const heartbeat = setInterval(() => {
    if (closed) return;
    raw.write(`: heartbeat ${new Date().toISOString()}\n\n`);
    onHeartbeat?.();
  }, heartbeatMs);
  heartbeat.unref();
  const stream: SseStream = {
    write(text) {
      if (!closed) raw.write(text);
    },
    get closed() {
      return closed;
    },
    close() {
      if (closed) return;
      closed = true;
      clearInterval(heartbeat);
      for (const fn of closers) fn();
      unregister();
      release();
      raw.end();
    },
    onClose(fn) {
      if (closed) fn();
      else closers.push(fn);
    },
  };
  const unregister = hub.add(() => stream.close());
  raw.on('close', () => stream.close());
  // A client that left while the request was authorised or the run looked up: its `close` has
  // already fired and would never reach the listener above.
  if (raw.destroyed || reply.request.raw.destroyed) stream.close();
  return stream;
}

/**
 * Streams the events of one or more runs as Server-Sent Events: history after each target's
 * `afterSeq`, then live events. Live notifications (`runtime.on('run')`) only trigger a read from
 * the store after the last seq sent, so there is no gap and no duplicate. Ends after every run's
 * terminal event, on client disconnect or on {@link SseHub.closeAll}. Throws `too_many_streams`
 * (before the stream starts) when the hub's caps are reached.
 */
export function streamEvents(
  request: FastifyRequest,
  reply: FastifyReply,
  runtime: RunsPort,
  hub: SseHub,
  targets: StreamTarget[],
  options: SseOptions,
): void {
  const cursors = new Map(targets.map((t) => [t.runId, { ...t, done: false, pumping: false, again: false }]));
  // A multiplexed event's id carries every run's position, so Last-Event-ID resumes all of them.
  const positions = (): string => [...cursors.values()].map((c) => `${c.runId}:${c.afterSeq}`).join(',');

  // Refused (429) before anything is written, so the client gets a plain problem document.
  // The heartbeat is a safety net under the notifications too: a message another node sent that
  // never arrived (a bus outage) delays the stream by one heartbeat at most, never for ever.
  const stream = openSse(reply, hub, options.principal, options.heartbeatMs, () => {
    for (const runId of cursors.keys()) pump(runId).catch(fail);
  });

  const pump = async (runId: string): Promise<void> => {
    const c = cursors.get(runId);
    if (c === undefined || c.done || stream.closed) return;
    if (c.pumping) {
      c.again = true;
      return;
    }
    c.pumping = true;
    try {
      do {
        c.again = false;
        for (;;) {
          const events = await runtime.listEvents(runId, c.afterSeq, PAGE);
          for (const e of events) {
            if (stream.closed) return;
            c.afterSeq = e.seq;
            stream.write(format(e, options.multiplexed ? positions() : String(e.seq)));
            if (isTerminalEvent(e.type)) c.done = true;
          }
          if (events.length > 0 && options.after !== undefined) {
            const extra = await options.after(runId, c.done);
            if (stream.closed) return;
            if (extra !== '') stream.write(extra);
          }
          if (events.length < PAGE || c.done) break;
        }
        if (c.terminal) c.done = true;
      } while (c.again && !c.done && !stream.closed);
    } finally {
      c.pumping = false;
    }
    if ([...cursors.values()].every((x) => x.done)) stream.close();
  };

  const fail = (err: unknown): void => {
    if (stream.closed) return;
    request.log.warn({ err }, 'event stream failed');
    stream.write(
      `event: error\ndata: ${JSON.stringify({ code: 'stream_failed', message: 'event stream failed' })}\n\n`,
    );
    stream.close();
  };

  const onRun = (n: RunNotification): void => {
    if (cursors.has(n.runId)) pump(n.runId).catch(fail);
  };
  try {
    // Subscribe before the first read: a notification in between only causes one more read.
    for (const runId of cursors.keys()) stream.onClose(runtime.subscribe(runId, onRun));
  } catch (err) {
    // The response is already the stream's: end it rather than leave it (and its place) open.
    stream.close();
    throw err;
  }
  for (const runId of cursors.keys()) pump(runId).catch(fail);
}

/** Parses the `Last-Event-ID` of a single-run stream (the seq); garbage is ignored. */
export function parseLastEventId(value: string | undefined): { seq: number } | undefined {
  if (value === undefined || !/^\d+$/.test(value.trim())) return undefined;
  return { seq: Number(value.trim()) };
}

/** Parses the `Last-Event-ID` of a multiplexed stream (`run_a:3,run_b:7`) into positions. */
export function parseMultiplexedEventId(value: string | undefined): Map<string, number> {
  const out = new Map<string, number>();
  for (const part of (value ?? '').split(',')) {
    const m = /^(.+):(\d+)$/.exec(part.trim());
    if (m !== null) out.set(m[1]!, Number(m[2]));
  }
  return out;
}
