import { InvalidArgumentError, Option, type Command } from 'commander';
import { PRIORITIES, STRATEGIES } from '../agents/index.js';

/**
 * Option builders shared by the commands, so every enum-like flag is checked against its one list
 * (commander refuses another value with the allowed ones, exit code 2) and every number or list
 * is parsed the same way.
 */

/** An option whose value must be one of `choices`. */
export function choiceOption(
  flags: string,
  description: string,
  choices: readonly string[],
  defaultValue?: string,
): Option {
  const option = new Option(flags, description).choices(choices);
  return defaultValue === undefined ? option : option.default(defaultValue);
}

/** `--strategy`, checked against the runtime's strategies. */
export function strategyOption(defaultValue?: string): Option {
  return choiceOption('-s, --strategy <name>', 'how the run is driven', STRATEGIES, defaultValue);
}

/** `--priority`, checked against the scheduler's classes. */
export function priorityOption(defaultValue?: string): Option {
  return choiceOption('--priority <p>', 'scheduling class', PRIORITIES, defaultValue);
}

/** A parser of a non-negative number (`--limit`, `--wait`, `--after`, `--timeout`). */
export function nonNegativeNumber(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0)
    throw new InvalidArgumentError('expected a non-negative number.');
  return n;
}

/** A parser of a comma-separated list whose every element must be one of `choices`. */
export function choiceList(choices: readonly string[]): (value: string) => string[] {
  return (value) => {
    const list = value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    const bad = list.filter((s) => !choices.includes(s));
    if (list.length === 0 || bad.length > 0)
      throw new InvalidArgumentError(
        `${bad.length > 0 ? `${bad.join(', ')} is not allowed. ` : ''}Allowed choices are ${choices.join(', ')} (comma-separated).`,
      );
    return list;
  };
}

/** A parser of a comma-separated list of names (`--agents a,b`). */
export function nameList(value: string): string[] {
  return value
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

/**
 * `--items`, repeatable: a value that is a JSON array adds its elements, any other value adds
 * itself as one string item (`--items '["a","b"]'` or `--items a --items b`).
 */
export function collectItems(value: string, previous: unknown[] | undefined): unknown[] {
  const items = previous ?? [];
  if (value.trimStart().startsWith('[')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(value);
    } catch (err) {
      throw new InvalidArgumentError(`not a valid JSON array: ${(err as Error).message}`);
    }
    if (!Array.isArray(parsed)) throw new InvalidArgumentError('expected a JSON array.');
    return [...items, ...(parsed as unknown[])];
  }
  return [...items, value];
}

/** The `--items`/`--reducer`/`--no-fail-fast` flags of `run` and `submit`, and how they map. */
export interface FanOutFlags {
  agents?: string[];
  items?: unknown[];
  reducer?: string;
  failFast?: boolean;
  timeout?: number;
}

/** The request fields both `run` and `submit` build from {@link FanOutFlags}. */
export function fanOutFields(flags: FanOutFlags): {
  agents?: string[];
  items?: unknown[];
  limits?: { timeout_sec: number };
  options: { fail_fast: boolean; reducer?: string };
} {
  return {
    ...(flags.agents === undefined ? {} : { agents: flags.agents }),
    ...(flags.items === undefined ? {} : { items: flags.items }),
    ...(flags.timeout === undefined ? {} : { limits: { timeout_sec: flags.timeout } }),
    options: {
      fail_fast: flags.failFast !== false,
      ...(flags.reducer === undefined ? {} : { reducer: flags.reducer }),
    },
  };
}

/** A parser of a server URL (`--url`): absolute, http or https. */
export function serverUrl(value: string): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new InvalidArgumentError('expected an http(s) URL such as http://127.0.0.1:8787.');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new InvalidArgumentError('expected an http(s) URL such as http://127.0.0.1:8787.');
  return value;
}

/**
 * The options that shape a run, shared by `run` (in-process) and `submit` (over the API) so the
 * two take the same flags: input, strategy, agents, parallel_map items/reducer/fail-fast,
 * priority, timeout.
 */
export function runShapeOptions(
  command: Command,
  defaults: { strategy?: string; priority?: string } = {},
): Command {
  return command
    .requiredOption('-i, --input <text>', 'the request')
    .addOption(strategyOption(defaults.strategy))
    .option('--agents <names>', 'comma-separated agents (router candidates, parallel_map fan-out)', nameList)
    .option(
      '--items <item>',
      'parallel_map: one branch per item (a JSON array, or repeat the flag)',
      collectItems,
    )
    .option('--reducer <agent>', 'parallel_map: the agent that merges the branches')
    .option('--no-fail-fast', 'parallel_map: let the other branches finish when one fails')
    .addOption(priorityOption(defaults.priority))
    .option('--timeout <sec>', 'run timeout in seconds', nonNegativeNumber);
}
