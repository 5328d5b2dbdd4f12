// The HTTP plumbing of the client: the base URL, the headers every request carries (API key,
// user id, extra headers), and a JSON request that turns failures into client errors.
import { apiErrorFrom, describeNetworkFailure, SkillplaneConnectionError } from './errors.js';

/** Options of the client (`SkillplaneClient`). */
export interface SkillplaneClientOptions {
  /** The server, e.g. `http://127.0.0.1:8787` (a trailing `/` is ignored). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** The principal when the server's auth is open (`x-user-id`). */
  userId?: string;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
  /** Headers added to every request. */
  headers?: Record<string, string>;
}

/** Sends the client's requests to one server. */
export class ClientTransport {
  readonly baseUrl: string;
  private readonly apiKey: string | undefined;
  private readonly userId: string | undefined;
  readonly fetchImpl: typeof fetch;
  private readonly extraHeaders: Record<string, string>;

  constructor(options: SkillplaneClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.userId = options.userId;
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.extraHeaders = options.headers ?? {};
  }

  /** The absolute URL of an API path. */
  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  /** Every request's headers, plus `extra`. */
  headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      ...this.extraHeaders,
      ...(this.apiKey === undefined ? {} : { authorization: `Bearer ${this.apiKey}` }),
      ...(this.userId === undefined ? {} : { 'x-user-id': this.userId }),
      ...extra,
    };
  }

  /** Sends one request and parses its JSON answer; non-2xx and network failures throw client errors. */
  async json<T>(
    method: string,
    path: string,
    init: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal | undefined } = {},
  ): Promise<T> {
    const headers = this.headers({ accept: 'application/json', ...init.headers });
    let body: string | undefined;
    if (init.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.body);
    } else if (method === 'POST') {
      // Fastify refuses an empty body with a JSON content type; send an empty object instead.
      headers['content-type'] = 'application/json';
      body = '{}';
    }
    let res: Response;
    try {
      res = await this.fetchImpl(this.url(path), {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
        ...(init.signal === undefined ? {} : { signal: init.signal }),
      });
    } catch (err) {
      init.signal?.throwIfAborted();
      const why = describeNetworkFailure(err);
      throw new SkillplaneConnectionError(`${method} ${this.url(path)} failed: ${why.reason}`, err, {
        url: this.baseUrl,
        ...why,
      });
    }
    if (!res.ok) throw await apiErrorFrom(res);
    return (await res.json()) as T;
  }
}
