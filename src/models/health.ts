import type { ModelBackendConfig } from '../config/index.js';
import { describeNetworkFailure } from '../errors/index.js';

/** Why a backend did not answer its probe. */
export type BackendDownReason = 'connection_refused' | 'unreachable' | 'timeout' | 'http_status';

/** What one probe of a backend's `GET {base_url}/models` found. */
export interface BackendHealth {
  /** The backend's key under `models`. */
  backend: string;
  ok: boolean;
  /** The HTTP status, when the server answered at all. */
  status?: number;
  /** Why it is down (absent when `ok`). */
  reason?: BackendDownReason;
  /** A short human explanation (`connection refused`, `HTTP 401 Unauthorized`, `no answer within 2 s`). */
  detail?: string;
  /** How long the probe took. */
  latency_ms: number;
}

/** Options of a {@link BackendProbe}. */
export interface BackendProbeOptions {
  /** Deadline of each probe (default 2 000 ms). */
  timeoutMs?: number;
  /** How long a result is reused: readiness checks must not turn into a request flood (default 5 000 ms). */
  cacheMs?: number;
  /** The fetch implementation; default the global one. */
  fetch?: typeof fetch;
  /** Clock for the cache; default `Date.now`. */
  now?: () => number;
}

/** `GET {base_url}/models` with the backend's key; never throws. */
export async function probeBackend(
  name: string,
  config: Pick<ModelBackendConfig, 'base_url' | 'api_key'>,
  opts: { timeoutMs?: number; fetch?: typeof fetch } = {},
): Promise<BackendHealth> {
  const timeoutMs = opts.timeoutMs ?? 2_000;
  const started = performance.now();
  const elapsed = () => Math.round(performance.now() - started);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (config.api_key !== null && config.api_key !== '') headers.authorization = `Bearer ${config.api_key}`;
  const signal = AbortSignal.timeout(timeoutMs);
  try {
    const res = await (opts.fetch ?? fetch)(`${config.base_url.replace(/\/+$/, '')}/models`, {
      headers,
      signal,
      redirect: 'manual',
    });
    // The body is not needed; cancel it so the connection is freed.
    await res.body?.cancel().catch(() => undefined);
    if (res.ok) return { backend: name, ok: true, status: res.status, latency_ms: elapsed() };
    const text = res.statusText === '' ? '' : ` ${res.statusText}`;
    return {
      backend: name,
      ok: false,
      status: res.status,
      reason: 'http_status',
      detail: `GET /models answered HTTP ${res.status}${text}`,
      latency_ms: elapsed(),
    };
  } catch (err) {
    if (signal.aborted)
      return {
        backend: name,
        ok: false,
        reason: 'timeout',
        detail: `no answer to GET /models within ${timeoutMs} ms`,
        latency_ms: elapsed(),
      };
    const why = describeNetworkFailure(err);
    return {
      backend: name,
      ok: false,
      reason: why.errno === 'ECONNREFUSED' ? 'connection_refused' : 'unreachable',
      detail: why.errno === undefined ? `cannot connect: ${why.reason}` : why.reason,
      latency_ms: elapsed(),
    };
  }
}

/**
 * Probes every configured backend at once, reusing the last results for `cacheMs` and sharing one
 * probe between callers that ask while it runs, so `/readyz` polled hard costs the backends one
 * request per backend per `cacheMs` at most.
 */
export class BackendProbe {
  private readonly timeoutMs: number;
  private readonly cacheMs: number;
  private readonly now: () => number;
  private last: { at: number; results: BackendHealth[] } | undefined;
  private running: Promise<BackendHealth[]> | undefined;

  constructor(
    private readonly backends: Record<string, Pick<ModelBackendConfig, 'base_url' | 'api_key'>>,
    private readonly opts: BackendProbeOptions = {},
  ) {
    this.timeoutMs = opts.timeoutMs ?? 2_000;
    this.cacheMs = opts.cacheMs ?? 5_000;
    this.now = opts.now ?? Date.now;
  }

  /** The health of every backend, in config order (cached for `cacheMs`; `fresh` probes again). */
  check(opts: { fresh?: boolean } = {}): Promise<BackendHealth[]> {
    if (opts.fresh !== true && this.last !== undefined && this.now() - this.last.at < this.cacheMs)
      return Promise.resolve(this.last.results);
    if (this.running !== undefined) return this.running;
    const probes = Object.entries(this.backends).map(([name, config]) =>
      probeBackend(name, config, {
        timeoutMs: this.timeoutMs,
        ...(this.opts.fetch === undefined ? {} : { fetch: this.opts.fetch }),
      }),
    );
    this.running = Promise.all(probes).then((results) => {
      this.last = { at: this.now(), results };
      this.running = undefined;
      return results;
    });
    return this.running;
  }
}
