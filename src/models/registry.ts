import type { ModelBackendConfig } from '../config/index.js';
import { ModelClient } from './client.js';
import type { ModelClientOptions } from './client.js';
import { ModelNotFoundError } from './errors.js';
import type { PriorityLimiterStats } from './limiter.js';

/**
 * One {@link ModelClient} (and so one concurrency limiter) per backend configured under
 * `models`. Built once at start-up; `close()` at shutdown aborts what is still in flight.
 */
export class ModelRegistry {
  private readonly clients = new Map<string, ModelClient>();

  constructor(models: Record<string, ModelBackendConfig>, options: ModelClientOptions = {}) {
    for (const [name, config] of Object.entries(models)) {
      // A shared limiter would merge the backends' capacities: each client gets its own.
      const { limiter: _ignored, ...perClient } = options;
      this.clients.set(name, new ModelClient(name, config, perClient));
    }
  }

  /** The client of backend `name`; throws `model_not_found` when there is none. */
  get(name: string): ModelClient {
    const client = this.clients.get(name);
    if (client === undefined) throw new ModelNotFoundError(name, this.names());
    return client;
  }

  /** Whether a backend of that name is configured. */
  has(name: string): boolean {
    return this.clients.has(name);
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
