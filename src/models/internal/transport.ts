/**
 * The model client's HTTP transport: undici's `request` (the engine under Node's own `fetch`,
 * without the WHATWG Request/Response/stream layers on top of it). A CPU profile of a fan-out
 * put ~25 % of the server's time in `fetch` (web streams, request cloning, transferable
 * objects); this path costs about a quarter of that per call (bench/README.md, docs/BENCHMARKS.md).
 *
 * It answers the narrow part of a `Response` the client reads ({@link HttpResponse}), so a test
 * can still hand the client a real `fetch`.
 */
import { Readable } from 'node:stream';
import { request } from 'undici';

/** What the model client reads of an HTTP answer (a WHATWG `Response` is one). */
export interface HttpResponse {
  readonly ok: boolean;
  readonly status: number;
  readonly headers: { get(name: string): string | null };
  /** The whole body as text. */
  text(): Promise<string>;
  /** The body as a web stream (for server-sent events); read it or `text()` once, not both. */
  readonly body: ReadableStream<Uint8Array> | null;
}

export interface HttpRequestInit {
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body?: string;
  signal?: AbortSignal;
}

/** A `fetch` narrowed to what the client needs; `globalThis.fetch` satisfies it. */
export type HttpFetch = (url: string, init: HttpRequestInit) => Promise<HttpResponse>;

type UndiciBody = Awaited<ReturnType<typeof request>>['body'];
type UndiciHeaders = Awaited<ReturnType<typeof request>>['headers'];

class UndiciResponse implements HttpResponse {
  readonly ok: boolean;
  readonly headers: { get(name: string): string | null };
  private web: ReadableStream<Uint8Array> | undefined;

  constructor(
    readonly status: number,
    headers: UndiciHeaders,
    private readonly raw: UndiciBody,
  ) {
    this.ok = status >= 200 && status < 300;
    this.headers = {
      get(name: string): string | null {
        const v = headers[name.toLowerCase()];
        if (v === undefined) return null;
        return Array.isArray(v) ? v.join(', ') : v;
      },
    };
  }

  text(): Promise<string> {
    return this.raw.text();
  }

  get body(): ReadableStream<Uint8Array> {
    this.web ??= Readable.toWeb(this.raw) as ReadableStream<Uint8Array>;
    return this.web;
  }
}

/**
 * The default transport: pooled keep-alive connections per origin (undici's global dispatcher),
 * no redirects followed (an inference API that redirects a POST is misconfigured), the caller's
 * signal aborting the exchange.
 */
export const undiciFetch: HttpFetch = async (url, init) => {
  const res = await request(url, {
    method: init.method,
    headers: init.headers,
    ...(init.body === undefined ? {} : { body: init.body }),
    ...(init.signal === undefined ? {} : { signal: init.signal }),
  });
  return new UndiciResponse(res.statusCode, res.headers, res.body);
};
