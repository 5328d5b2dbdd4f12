import type { ModelBackendConfig } from '../config/index.js';
import { ModelClient } from './client.js';
import type { ModelClientOptions } from './client.js';
import { ModelNotFoundError } from './errors.js';
import { BackendProbe, type BackendHealth, type BackendProbeOptions } from './health.js';
import type { PriorityLimiterStats } from './limiter.js';

/**
 * One {@link ModelClient} (and so one concurrency limiter) per backend configured under
 * `models`. Built once at start-up; `close()` at shutdown aborts what is still in flight.
 */
export class ModelRegistry {
  private readonly clients = new Map<string, ModelClient>();
  private readonly aliases = new Map<string, string>();
  private readonly probe: BackendProbe;

  constructor(
    models: Record<string, ModelBackendConfig>,
    options: ModelClientOptions & { probe?: BackendProbeOptions } = {},
  ) {
    const { probe, ...clientOptions } = options;
    for (const [name, config] of Object.entries(models)) {
      for (const alias of config.aliases ?? []) if (!this.aliases.has(alias)) this.aliases.set(alias, name);
      // A shared limiter would merge the backends' capacities: each client gets its own.
      const { limiter: _ignored, ...perClient } = clientOptions;
      this.clients.set(name, new ModelClient(name, config, perClient));
    }
    this.probe = new BackendProbe(models, probe);
  }

  /**
   * Whether each backend answers `GET {base_url}/models` (with its `api_key`), in config order.
   * Results are reused for a few seconds (see {@link BackendProbe}); `fresh` probes again.
   */
  health(opts: { fresh?: boolean } = {}): Promise<BackendHealth[]> {
    return this.probe.check(opts);
  }

  /**
   * The backend a name means: a configured backend, one of a backend's `aliases` (the model ids
   * clients send, such as `llama3.1:8b`), or `auto` — the `default` backend (else the first).
   */
  backendOf(name: string): string | undefined {
    if (this.clients.has(name)) return name;
    const aliased = this.aliases.get(name);
    if (aliased !== undefined) return aliased;
    if (name === 'auto') return this.clients.has('default') ? 'default' : this.names()[0];
    return undefined;
  }

  /** The client of backend `name` (see {@link backendOf}); throws `model_not_found` when there is none. */
  get(name: string): ModelClient {
    const backend = this.backendOf(name);
    const client = backend === undefined ? undefined : this.clients.get(backend);
    if (client === undefined) throw new ModelNotFoundError(name, this.names());
    return client;
  }

  /** Whether a name means a configured backend (see {@link backendOf}). */
  has(name: string): boolean {
    return this.backendOf(name) !== undefined;
  }

  /** The configured backend names, in config order. */
  names(): string[] {
    return [...this.clients.keys()];
  }

  /** Limiter statistics per backend. */
  stats(): Record<string, PriorityLimiterStats> {
    return Object.fromEntries([...this.clients].map(([name, c]) => [name, c.stats()]));
  }

  /** Closes every client: queued calls are rejected and in-flight requests aborted. */
  close(): void {
    for (const client of this.clients.values()) client.close();
  }
}
