import { InvalidArgumentError, type Command } from 'commander';
import type { AuditEntry, ListAuditQuery } from '../client/index.js';
import { out, outJson, table } from './output.js';
import { action, clientFor, remote, short, type RemoteFlags } from './remote-commands.js';

interface AuditFlags extends RemoteFlags {
  run?: string;
  principal?: string;
  action?: string;
  target?: string;
  since?: string;
  until?: string;
  limit: number;
  cursor?: string;
}

/** A parser of `--limit`: an integer from 1 to 1000 (the server's bounds). */
function auditLimit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000)
    throw new InvalidArgumentError('expected an integer from 1 to 1000.');
  return n;
}

/** A parser of `--since` / `--until`: an ISO-8601 time, passed on normalised to UTC. */
function isoTime(value: string): string {
  const ms = Date.parse(value);
  if (!/^\d{4}-\d{2}-\d{2}T/.test(value) || Number.isNaN(ms))
    throw new InvalidArgumentError('expected an ISO-8601 time, e.g. 2026-12-01T09:00:00Z.');
  return new Date(ms).toISOString();
}

/** The few details of an entry worth a column, by action. */
function detail(e: AuditEntry): string {
  const d = e.data ?? {};
  const parts: string[] = [];
  const add = (key: string, label = key) => {
    const v = d[key];
    if (v !== undefined && v !== null)
      parts.push(`${label}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  };
  if (e.action === 'skill.execute') {
    add('door');
    parts.push(d.ok === true ? 'ok' : `failed:${String(d.code ?? '')}`);
    add('approved_by');
    add('input');
  } else if (e.action === 'auth.failure') {
    add('status');
    add('method');
    add('source');
    add('scope');
    add('suppressed');
  } else {
    for (const key of Object.keys(d)) add(key);
  }
  return short(parts.join(' '), 80);
}

/** `skillplane audit`: the audit trail of a server, filtered, newest first. */
export function registerAuditCommand(program: Command): void {
  remote(program.command('audit'))
    .description('who did what on a server: the audit trail, newest first (scope audit:read)')
    .option('--run <id>', 'only entries of this run')
    .option('--principal <name>', 'only entries by this principal')
    .option('--action <action>', 'only this action (run.create, approval.decide, skill.execute, …)')
    .option('--target <target>', 'only entries about this target (run, approval or skill id, route)')
    .option('--since <iso>', 'only entries at or after this time', isoTime)
    .option('--until <iso>', 'only entries before this time', isoTime)
    .option('--limit <n>', 'how many (1-1000)', auditLimit, 50)
    .option('--cursor <cursor>', 'the next page (printed after a full page)')
    .action(
      action<[], AuditFlags>(async (_args, f) => {
        const query: ListAuditQuery = {
          ...(f.run === undefined ? {} : { run_id: f.run }),
          ...(f.principal === undefined ? {} : { principal: f.principal }),
          ...(f.action === undefined ? {} : { action: f.action }),
          ...(f.target === undefined ? {} : { target: f.target }),
          ...(f.since === undefined ? {} : { since: f.since }),
          ...(f.until === undefined ? {} : { until: f.until }),
          ...(f.cursor === undefined ? {} : { cursor: f.cursor }),
          limit: f.limit,
        };
        const page = await clientFor(f).audit(query);
        if (f.json === true) return outJson(page);
        if (page.entries.length === 0) return out('no audit entries');
        out(
          table(
            ['AT', 'PRINCIPAL', 'ACTION', 'TARGET', 'RUN', 'DETAIL'],
            page.entries.map((e) => [
              e.at,
              e.principal ?? '-',
              e.action,
              short(e.target ?? '-', 40),
              e.run_id ?? '-',
              detail(e),
            ]),
          ),
        );
        if (page.next_cursor !== null) out(`\nmore: skillplane audit … --cursor ${page.next_cursor}`);
      }),
    );
}
