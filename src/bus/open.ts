import type { Config } from '../config/index.js';
import type { RunBus } from './base.js';
import { PgRunBus } from './pg-run-bus.js';
import { RedisRunBus } from './redis-run-bus.js';

/** Options of {@link openRunBus}. */
export interface OpenRunBusOptions {
  /** This node's id (the runtime's). */
  node: string;
  /** Told about connection failures (the bus recovers by itself). */
  onError?: (err: Error, driver: 'postgres' | 'redis') => void;
}

/**
 * Opens the bus the configuration calls for: with `workers.enabled`, Redis pub/sub on
 * `workers.broker_url` (channel `<workers.prefix>:runs`); else with a PostgreSQL store, LISTEN/NOTIFY
 * on `store.url` (channel from `store.schema`); else `undefined` — one node, nothing to carry.
 * Resolves once listening or after the first attempt failed (it keeps trying); never throws on an
 * unreachable server.
 */
export async function openRunBus(
  config: Pick<Config, 'workers' | 'store'>,
  opts: OpenRunBusOptions,
): Promise<RunBus | undefined> {
  if (config.workers.enabled) {
    const bus = new RedisRunBus({
      url: config.workers.broker_url,
      prefix: config.workers.prefix,
      node: opts.node,
      ...(opts.onError === undefined ? {} : { onError: (err: Error) => opts.onError?.(err, 'redis') }),
    });
    await bus.start();
    return bus;
  }
  if (config.store.driver === 'postgres') {
    const bus = new PgRunBus({
      ...(config.store.url === null ? {} : { url: config.store.url }),
      schema: config.store.schema,
      node: opts.node,
      ...(opts.onError === undefined ? {} : { onError: (err: Error) => opts.onError?.(err, 'postgres') }),
    });
    await bus.start();
    return bus;
  }
  return undefined;
}
