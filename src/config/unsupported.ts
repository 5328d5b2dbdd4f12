import type { Config } from './schema.js';

/**
 * A setting the schema accepts but this version does not act on. Said loudly at start-up, so
 * nobody believes it works.
 */
export interface ConfigWarning {
  /** Stable code: `config_no_effect`. */
  code: 'config_no_effect';
  /** The dotted key, e.g. `tracing.otlp_endpoint`. */
  key: string;
  /** Where the value came from: the file, an env variable, an explicit override. */
  source: string;
  message: string;
}

/** Names where the value at a key came from (the file, `SKILLPLANE_…`, an override, the defaults). */
export type SourceOf = (path: readonly string[]) => string;

/**
 * Settings that are accepted but have no effect: a `workers.result_backend` other than
 * `workers.broker_url` (Opta-LMX's Celery setting: BullMQ keeps results in the broker).
 */
export function configWarnings(
  config: Config,
  sourceOf: SourceOf = () => 'the configuration',
): ConfigWarning[] {
  const out: ConfigWarning[] = [];
  const warn = (path: string[], message: string) =>
    out.push({ code: 'config_no_effect', key: path.join('.'), source: sourceOf(path), message });
  if (config.workers.result_backend !== null && config.workers.result_backend !== config.workers.broker_url)
    warn(
      ['workers', 'result_backend'],
      'workers.result_backend has no effect: BullMQ keeps job results in the broker (workers.broker_url)',
    );
  return out;
}
