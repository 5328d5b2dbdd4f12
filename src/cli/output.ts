import { SkillplaneError, ValidationError, toSkillplaneError } from '../errors/index.js';

/** Writes a line to stdout. */
export function out(line = ''): void {
  process.stdout.write(`${line}\n`);
}

/** Writes JSON for scripts. */
export function outJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Renders rows as an aligned text table. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

/**
 * Prints an error the way a person wants to read it (never a stack trace unless SKILLPLANE_DEBUG),
 * or as JSON with `--json`, and returns the exit code.
 */
export function reportError(err: unknown, json: boolean): number {
  const e = err instanceof SkillplaneError ? err : toSkillplaneError(err);
  if (json) {
    process.stdout.write(`${JSON.stringify({ ok: false, error: e.toJSON() }, null, 2)}\n`);
  } else {
    process.stderr.write(`error [${e.code}]: ${e.message}\n`);
    if (e instanceof ValidationError) {
      for (const i of e.issues) {
        const where = [i.file, i.path === '' ? undefined : i.path].filter(Boolean).join(': ');
        process.stderr.write(`  - ${where === '' ? '' : `${where}: `}${i.message}\n`);
      }
    }
    if (process.env.SKILLPLANE_DEBUG && err instanceof Error && err.stack)
      process.stderr.write(`${err.stack}\n`);
  }
  return 1;
}
