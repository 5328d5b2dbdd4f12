import { ValidationError } from '../errors/index.js';
import { configSchema, type Config } from './schema.js';

/**
 * A setting the schema accepts but this version does not act on yet. Said loudly at start-up, so
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

const DEFAULTS = configSchema.parse({});

/**
 * Refuses settings that would mislead if accepted: `workers.enabled: true` asks for the BullMQ
 * worker plane, which does not exist yet, so `execution: worker` skills would quietly run in this
 * process instead. Throws a `ValidationError` with code `config_unsupported`.
 */
export function assertSupported(config: Config, sourceOf: SourceOf): void {
  if (config.workers.enabled) {
    const source = sourceOf(['workers', 'enabled']);
    throw new ValidationError(
      `workers.enabled: true (from ${source}) is not supported yet: this version has no worker plane`,
      [
        {
          ...(source.startsWith('SKILLPLANE_') ? {} : { file: source }),
          path: 'workers.enabled',
          message:
            'the BullMQ worker plane is not implemented yet, so nothing would run on workers; ' +
            'set workers.enabled: false (skills with `execution: worker` are then refused at load, ' +
            'every other skill runs in this process)',
        },
      ],
      'config_unsupported',
    );
  }
}

/**
 * Settings that are accepted but have no effect yet: `tracing.otlp_endpoint` (no spans are
 * exported) and `workers.broker_url` / `workers.result_backend` (no worker plane).
 */
export function configWarnings(
  config: Config,
  sourceOf: SourceOf = () => 'the configuration',
): ConfigWarning[] {
  const out: ConfigWarning[] = [];
  const warn = (path: string[], message: string) =>
    out.push({ code: 'config_no_effect', key: path.join('.'), source: sourceOf(path), message });
  if (config.tracing.otlp_endpoint !== null)
    warn(
      ['tracing', 'otlp_endpoint'],
      'tracing.otlp_endpoint has no effect yet: this version exports no OpenTelemetry spans (runs still carry trace ids)',
    );
  for (const key of ['broker_url', 'result_backend'] as const) {
    if (config.workers[key] !== DEFAULTS.workers[key])
      warn(
        ['workers', key],
        `workers.${key} has no effect yet: this version has no worker plane and connects to no broker`,
      );
  }
  return out;
}
