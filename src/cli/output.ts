import { SkillplaneError, ValidationError, toSkillplaneError } from '../errors/index.js';
import { EXIT } from './exit-codes.js';

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

/** The hint printed when the server cannot be reached. */
function unreachableMessage(e: SkillplaneError): string {
  const url = typeof e.data?.url === 'string' ? e.data.url : 'the configured URL';
  const reason = typeof e.data?.reason === 'string' ? ` (${e.data.reason})` : '';
  return (
    `cannot reach the skillplane server at ${url}${reason} — is it running? ` +
    'start it with `npm start` or `skillplane serve`, or pass --url / set SKILLPLANE_URL'
  );
}

/**
 * Prints an error the way a person wants to read it (never a stack trace unless SKILLPLANE_DEBUG),
 * or as JSON with `--json`, and returns the exit code ({@link EXIT}: `unreachable` when the server
 * cannot be reached, else `failed`).
 */
export function reportError(err: unknown, json: boolean): number {
  let e = err instanceof SkillplaneError ? err : toSkillplaneError(err);
  const unreachable = e.code === 'connection_failed';
  if (unreachable)
    e = new SkillplaneError(e.code, unreachableMessage(e), {
      ...(e.data === undefined ? {} : { data: e.data }),
      cause: e,
    });
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
  return unreachable ? EXIT.unreachable : EXIT.failed;
}
