import { destination, pino, type DestinationStream, type Level, type Logger, type LoggerOptions } from 'pino';
import pinoPretty from 'pino-pretty';
import type { Config } from '../config/index.js';

/** The levels `server.log_level` and `LOG_LEVEL` accept. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Options of {@link createLogger}. */
export interface CreateLoggerOptions {
  /** The `name` field of every line (`skillplane`, `skillplane-worker`, …). */
  name: string;
  /** The environment read for `LOG_LEVEL` (default `process.env`). */
  env?: Record<string, string | undefined>;
  /** Write here instead of stdout (tests); JSON unless `pretty` is true. */
  destination?: DestinationStream;
  /** Human-readable lines; default: when the output (`fd`) is a terminal and no destination is given. */
  pretty?: boolean;
  /** Write to stdout (1, default) or stderr (2: commands whose stdout is their result). */
  fd?: 1 | 2;
  /** Used instead of `server.log_level` (`LOG_LEVEL` still wins). */
  level?: LogLevel;
}

function isLevel(value: string): value is LogLevel {
  return (LOG_LEVELS as readonly string[]).includes(value);
}

/**
 * The level a process logs at: `LOG_LEVEL` from the environment when it names a level (it wins,
 * so one run can be made verbose without editing the config), else `server.log_level`, else
 * `info`. An unknown `LOG_LEVEL` is ignored.
 */
export function resolveLogLevel(
  config: Pick<Config, 'server'> | undefined,
  env: Record<string, string | undefined> = process.env,
): LogLevel {
  const fromEnv = env.LOG_LEVEL?.trim().toLowerCase();
  if (fromEnv !== undefined && isLevel(fromEnv)) return fromEnv;
  return config?.server.log_level ?? 'info';
}

/**
 * The one logger of the `serve`, `worker` and `run` commands: pino JSON lines (what log shippers
 * and the tests read), pretty-printed by pino-pretty only when stdout is a terminal. Lines about a
 * run carry `run_id` and `trace_id` (and `span_id` for a step) through child loggers; see the
 * runtime.
 */
export function createLogger(config: Pick<Config, 'server'> | undefined, opts: CreateLoggerOptions): Logger {
  const level = resolveLogLevel(
    opts.level === undefined
      ? config
      : { server: { ...config?.server, log_level: opts.level } as Config['server'] },
    opts.env,
  );
  const options: LoggerOptions = { level, name: opts.name };
  const fd = opts.fd ?? 1;
  const terminal =
    opts.destination === undefined && (fd === 1 ? process.stdout : process.stderr).isTTY === true;
  const pretty = opts.pretty ?? terminal;
  if (pretty) {
    // A synchronous pretty stream in this thread: no transport worker to flush at exit.
    const stream = pinoPretty({
      colorize: terminal,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      sync: true,
      destination: (opts.destination ?? fd) as never,
    });
    return pino(options, stream);
  }
  return pino(options, opts.destination ?? destination({ fd, sync: fd === 2 }));
}

/** Whether a level name is one of {@link LOG_LEVELS} (`Level` of pino, or `silent`). */
export function isLogLevel(value: string): value is Level | 'silent' {
  return isLevel(value);
}
