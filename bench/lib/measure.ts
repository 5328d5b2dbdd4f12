/**
 * Helpers every benchmark shares: command-line arguments, percentiles, a closed-loop driver, a
 * resource sampler, a table printer and the no-op tool skill. Benchmarks import from here instead
 * of writing their own (bench/README.md).
 */
import { execFile } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

const exec = promisify(execFile);

/** The value after `--name` on the command line, else `fallback`. */
export function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  const v = i === -1 ? undefined : process.argv[i + 1];
  return v ?? fallback;
}

/** {@link arg} as a number. */
export function numArg(name: string, fallback: number): number {
  const v = Number(arg(name, String(fallback)));
  if (!Number.isFinite(v)) throw new Error(`--${name} must be a number`);
  return v;
}

/** The `p` quantile (0–1, nearest rank) of ascending `sorted`; NaN when empty. */
export function pct(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? Number.NaN;
}

/** A full garbage collection (so one row's garbage is not charged to the next). */
export const gc: () => void = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();

/** Runs `n` jobs with `window` outstanding at a time; returns each job's latency (ms). */
export async function closedLoop(
  n: number,
  window: number,
  one: (i: number) => Promise<boolean>,
): Promise<{ latencies: Float64Array; ms: number; ok: number }> {
  const latencies = new Float64Array(n);
  let next = 0;
  let ok = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: Math.min(window, n) }, async () => {
      while (next < n) {
        const i = next++;
        const s = performance.now();
        if (await one(i)) ok++;
        latencies[i] = performance.now() - s;
      }
    }),
  );
  return { latencies, ms: performance.now() - t0, ok };
}

/** Polls `fn` every 100 ms until it holds; throws naming `what` after `timeoutMs`. */
export async function waitFor(fn: () => Promise<boolean>, what: string, timeoutMs = 600_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * Samples RSS every 50 ms (calling `onTick` each time), the event-loop delay, and this process's
 * child processes every second.
 */
export class Sampler {
  private peakRss = 0;
  private peakChildren = 0;
  private readonly timer: NodeJS.Timeout;
  private readonly childTimer: NodeJS.Timeout;
  private readonly loop = monitorEventLoopDelay({ resolution: 10 });

  constructor(onTick: () => void = () => undefined) {
    this.loop.enable();
    const tick = () => {
      this.peakRss = Math.max(this.peakRss, process.memoryUsage.rss());
      onTick();
    };
    tick();
    this.timer = setInterval(tick, 50);
    const children = () => {
      exec('pgrep', ['-c', '-P', String(process.pid)]).then(
        (r) => (this.peakChildren = Math.max(this.peakChildren, Number(r.stdout.trim()))),
        () => undefined,
      );
    };
    children();
    this.childTimer = setInterval(children, 1000);
  }

  stop(): { peakRssMb: number; loopP99Ms: number; peakChildren: number } {
    clearInterval(this.timer);
    clearInterval(this.childTimer);
    this.loop.disable();
    this.peakRss = Math.max(this.peakRss, process.memoryUsage.rss());
    return {
      peakRssMb: Math.round(this.peakRss / 1048576),
      loopP99Ms: Math.round(this.loop.percentile(99) / 1e5) / 10,
      peakChildren: this.peakChildren,
    };
  }
}

/**
 * Formats rows (the first is the header) as aligned columns: the first `left` columns padded on
 * the right, the others on the left; a rule under the header when `rule`.
 */
export function table(rows: string[][], opts: { left?: number; rule?: boolean } = {}): string {
  const left = opts.left ?? 1;
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const line = (r: string[]) =>
    r.map((v, c) => (c < left ? v.padEnd(widths[c]!) : v.padStart(widths[c]!))).join('  ');
  const out = rows.map(line);
  if (opts.rule === true) out.splice(1, 0, widths.map((w) => '-'.repeat(w)).join('  '));
  return out.join('\n');
}

/** Writes the `tool` skill `id` (1.0.0) to `<dir>/skills/noop`: returns `{ok: true, n}`. */
export function writeNoopSkill(
  dir: string,
  id = 'bench/noop',
  inputSchema = '{type: object, properties: {n: {type: integer}}}',
): void {
  const d = join(dir, 'skills', 'noop');
  mkdirSync(d, { recursive: true });
  writeFileSync(
    join(d, 'skill.yaml'),
    `skill_id: ${id}\nversion: 1.0.0\nkind: tool\ndescription: Returns its input.\nentry: ./index.mjs\n` +
      `input_schema: ${inputSchema}\n`,
  );
  writeFileSync(join(d, 'index.mjs'), 'export default async (input) => ({ ok: true, n: input.n ?? 0 });\n');
}

/**
 * The suite's size: `--quick` (the whole suite in under a minute), `--tiny` (what `npm test`
 * runs: completes and prints sane numbers, nothing timed), else the full sizes.
 */
export type BenchMode = 'full' | 'quick' | 'tiny';
export const MODE: BenchMode = process.argv.includes('--tiny')
  ? 'tiny'
  : process.argv.includes('--quick')
    ? 'quick'
    : 'full';

/** The value for {@link MODE}. */
export function sized<T>(full: T, quick: T, tiny: T): T {
  return MODE === 'tiny' ? tiny : MODE === 'quick' ? quick : full;
}

/** The `index`-th positional argument (0 = first after the script) as a number, else `fallback`. */
export function positional(index: number, fallback: number): number {
  const v = process.argv.slice(2).filter((a, i, all) => !a.startsWith('-') && !all[i - 1]?.startsWith('--'))[
    index
  ];
  if (v === undefined) return fallback;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`argument ${index + 1} must be a number, got "${v}"`);
  return n;
}

/** One line of the suite's table (bench/run-all.mjs): our figure, the floor's, the ratio. */
export interface SummaryRow {
  scenario: string;
  ours: number;
  /** The same work with nothing of ours, measured in the same invocation; null when there is none. */
  floor: number | null;
  /** ours / floor for rates (higher is better), floor / ours for times; null without a floor. */
  ratio: number | null;
  unit: string;
  /** What the figure should reach, in words (`≥ 0.9×`, `≤ 50 ms`). */
  target?: string;
  /** Whether it does (absent when there is no target). */
  met?: boolean;
}

/**
 * A {@link SummaryRow}. `lowerIsBetter` for times (the ratio is then floor / ours, so 1 means
 * "as fast as the floor" either way). `target` is a ratio (`{ ratio: 0.9 }`) or a bound on our
 * figure (`{ max: 50 }` / `{ min: 5000 }`).
 */
export function summaryRow(
  scenario: string,
  ours: number,
  floor: number | null,
  unit: string,
  opts: { lowerIsBetter?: boolean; target?: { ratio: number } | { max: number } | { min: number } } = {},
): SummaryRow {
  const round = (v: number) => (Math.abs(v) >= 100 ? Math.round(v) : Math.round(v * 100) / 100);
  const ratio =
    floor === null || !Number.isFinite(floor) || !Number.isFinite(ours) || ours === 0 || floor === 0
      ? null
      : Math.round((opts.lowerIsBetter === true ? floor / ours : ours / floor) * 100) / 100;
  const row: SummaryRow = {
    scenario,
    ours: round(ours),
    floor: floor === null ? null : round(floor),
    ratio,
    unit,
  };
  const t = opts.target;
  if (t !== undefined) {
    if ('ratio' in t) {
      row.target = `≥ ${t.ratio}× floor`;
      row.met = ratio !== null && ratio >= t.ratio;
    } else if ('max' in t) {
      row.target = `≤ ${t.max} ${unit}`;
      row.met = ours <= t.max;
    } else {
      row.target = `≥ ${t.min} ${unit}`;
      row.met = ours >= t.min;
    }
  }
  return row;
}

/**
 * Prints the benchmark's last line: one JSON object with `bench`, `mode`, the `summary` rows
 * bench/run-all.mjs tabulates, and the benchmark's own details.
 */
export function emitResult(bench: string, summary: SummaryRow[], details: Record<string, unknown>): void {
  console.log(JSON.stringify({ bench, mode: MODE, summary, ...details }));
}
