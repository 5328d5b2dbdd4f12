import type { Command } from 'commander';
import {
  SkillplaneClient,
  type ApiRun,
  type Approval,
  type CreateRunBody,
  type RunEvent,
  type RunStatus,
} from '../client/index.js';
import { ValidationError } from '../errors/index.js';
import { out, outJson, reportError, table } from './output.js';

/** Flags every remote command takes. */
interface RemoteFlags {
  url?: string;
  key?: string;
  json?: boolean;
}

interface SubmitFlags extends RemoteFlags {
  input: string;
  strategy?: string;
  agents?: string;
  priority?: string;
  idempotencyKey?: string;
  wait?: string;
}

const DEFAULT_URL = 'http://127.0.0.1:8787';

function remote(cmd: Command): Command {
  return cmd
    .option('--url <url>', `server URL (default: $SKILLPLANE_URL or ${DEFAULT_URL})`)
    .option('--key <key>', 'API key (default: $SKILLPLANE_API_KEY)')
    .option('--json', 'machine-readable output');
}

function clientFor(flags: RemoteFlags): SkillplaneClient {
  const apiKey = flags.key ?? process.env.SKILLPLANE_API_KEY;
  return new SkillplaneClient({
    baseUrl: flags.url ?? process.env.SKILLPLANE_URL ?? DEFAULT_URL,
    ...(apiKey === undefined || apiKey === '' ? {} : { apiKey }),
    ...(process.env.USER === undefined ? {} : { userId: `cli:${process.env.USER}` }),
  });
}

/** Runs a command body; errors are printed with their code and set the exit code. */
function action<A extends string[], F extends RemoteFlags>(
  body: (args: A, flags: F) => Promise<number | void>,
) {
  return async (...args: unknown[]): Promise<void> => {
    // commander passes (...positionals, flags, command)
    const flags = args[args.length - 2] as F;
    try {
      const code = await body(args.slice(0, -2) as A, flags);
      if (typeof code === 'number') process.exitCode = code;
    } catch (err) {
      process.exitCode = reportError(err, flags.json === true);
    }
  };
}

function positiveNumber(value: string, flag: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0)
    throw new ValidationError(`${flag} must be a non-negative number`, [
      { path: flag.replace(/^--/, ''), message: `got ${value}` },
    ]);
  return n;
}

function short(value: unknown, max = 60): string {
  const s =
    typeof value === 'string' ? value : value === null || value === undefined ? '' : JSON.stringify(value);
  const one = s.replace(/\s+/g, ' ').trim();
  return one.length > max ? `${one.slice(0, max - 1)}…` : one;
}

function resultText(run: ApiRun): string {
  const result = run.result as { output?: unknown } | null;
  if (result === null || result === undefined) return '';
  return typeof result.output === 'string' ? result.output : JSON.stringify(result, null, 2);
}

function printRun(run: ApiRun): void {
  out(`run ${run.id}`);
  out(`  agent     ${run.agent} (${run.strategy}, ${run.priority})`);
  out(`  status    ${run.status}`);
  out(`  created   ${run.created_at}${run.finished_at === null ? '' : `, finished ${run.finished_at}`}`);
  out(
    `  usage     ${run.usage.steps} steps, ${run.usage.input_tokens}+${run.usage.output_tokens} tokens, $${run.usage.cost_usd.toFixed(6)}`,
  );
  if (run.error !== null) out(`  error     [${run.error.code}] ${run.error.message}`);
  if (run.steps !== undefined && run.steps.length > 0) {
    out('');
    out(
      table(
        ['SEQ', 'BRANCH', 'KIND', 'NAME', 'STATUS'],
        run.steps.map((s) => [String(s.seq), s.branch, s.kind, s.name, s.status]),
      ),
    );
  }
  const text = resultText(run);
  if (text !== '') {
    out('');
    out(text);
  }
}

function describeEvent(e: RunEvent): string {
  const d = (e.data ?? {}) as Record<string, unknown>;
  const err = d.error as { code?: string; message?: string } | undefined;
  const parts = [
    typeof d.branch === 'string' && d.branch !== 'main' ? `[${d.branch}]` : '',
    typeof d.kind === 'string' ? d.kind : '',
    typeof d.name === 'string' ? d.name : '',
    typeof d.approval_id === 'string' ? `approval ${d.approval_id}` : '',
    typeof d.skill_id === 'string' ? d.skill_id : '',
    typeof d.status === 'string' ? String(d.status) : '',
    err === undefined ? '' : `${err.code ?? ''} ${err.message ?? ''}`,
  ].filter((p) => p !== '');
  return `${String(e.seq).padStart(4)}  ${e.at}  ${e.type.padEnd(22)} ${parts.join(' ')}`.trimEnd();
}

function approvalRows(list: Approval[]): string[][] {
  return list.map((a) => [a.id, a.run_id, a.skill_id, a.risk_tags.join(','), a.status, short(a.args, 40)]);
}

/** `skillplane runs …`, `skillplane approvals …` and `skillplane submit` against a running server. */
export function registerRemoteCommands(program: Command): void {
  const runs = program.command('runs').description('list, inspect, follow and cancel runs on a server');

  remote(runs.command('list'))
    .description('list runs, newest first')
    .option('--status <list>', 'only these statuses (comma-separated)')
    .option('--agent <name>', 'only this agent')
    .option('--limit <n>', 'page size', '20')
    .option('--cursor <cursor>', 'the next_cursor of a previous page')
    .action(
      action<[], RemoteFlags & { status?: string; agent?: string; limit: string; cursor?: string }>(
        async (_args, f) => {
          const page = await clientFor(f).listRuns({
            ...(f.status === undefined
              ? {}
              : { status: f.status.split(',').map((s) => s.trim()) as RunStatus[] }),
            ...(f.agent === undefined ? {} : { agent: f.agent }),
            limit: positiveNumber(f.limit, '--limit'),
            ...(f.cursor === undefined ? {} : { cursor: f.cursor }),
          });
          if (f.json === true) return outJson(page);
          out(
            table(
              ['ID', 'AGENT', 'STRATEGY', 'STATUS', 'STEPS', 'CREATED'],
              page.runs.map((r) => [
                r.id,
                r.agent,
                r.strategy,
                r.status,
                String(r.usage.steps),
                r.created_at,
              ]),
            ),
          );
          if (page.next_cursor !== null) out(`\nmore: --cursor ${page.next_cursor}`);
        },
      ),
    );

  remote(runs.command('show <id>'))
    .description('one run with its steps, usage and result')
    .action(
      action<[string], RemoteFlags>(async ([id], flags) => {
        const run = await clientFor(flags).getRun(id);
        if (flags.json === true) return outJson(run);
        printRun(run);
      }),
    );

  remote(runs.command('cancel <id>'))
    .description('cancel a run (every branch)')
    .action(
      action<[string], RemoteFlags>(async ([id], flags) => {
        const run = await clientFor(flags).cancelRun(id);
        if (flags.json === true) return outJson(run);
        out(`run ${run.id} ${run.status}`);
      }),
    );

  remote(runs.command('events <id>'))
    .description("follow a run's events until it ends (resumes after a dropped connection)")
    .option('--after <seq>', 'start after this event seq', '0')
    .action(
      action<[string], RemoteFlags & { after: string }>(async ([id], flags) => {
        const client = clientFor(flags);
        const after = positiveNumber(flags.after, '--after');
        let last: RunEvent | undefined;
        for await (const e of client.events(id, { afterSeq: after })) {
          last = e;
          // One JSON object per line (NDJSON), so a script can follow the stream.
          if (flags.json === true) process.stdout.write(`${JSON.stringify(e)}\n`);
          else out(describeEvent(e));
        }
        return last?.type === 'run.completed' || last === undefined ? 0 : 1;
      }),
    );

  const approvals = program.command('approvals').description('list and decide approvals on a server');

  remote(approvals.command('list'))
    .description('approvals (pending by default)')
    .option('--status <status>', 'pending | approved | denied | expired', 'pending')
    .option('--run <id>', 'only this run')
    .option('--limit <n>', 'how many', '50')
    .action(
      action<[], RemoteFlags & { status: string; run?: string; limit: string }>(async (_args, f) => {
        const list = await clientFor(f).listApprovals({
          status: f.status as Approval['status'],
          ...(f.run === undefined ? {} : { run_id: f.run }),
          limit: positiveNumber(f.limit, '--limit'),
        });
        if (f.json === true) return outJson({ approvals: list });
        out(table(['ID', 'RUN', 'SKILL', 'RISK', 'STATUS', 'ARGS'], approvalRows(list)));
      }),
    );

  for (const [name, decision] of [
    ['approve', 'approve'],
    ['deny', 'deny'],
  ] as const) {
    remote(approvals.command(`${name} <id>`))
      .description(`${name} a pending approval`)
      .option('--reason <text>', 'why (kept in the audit trail)')
      .action(
        action<[string], RemoteFlags & { reason?: string }>(async ([id], flags) => {
          const reason = flags.reason;
          const a = await clientFor(flags).decideApproval(id, {
            decision,
            ...(reason === undefined ? {} : { reason }),
          });
          if (flags.json === true) return outJson(a);
          out(`approval ${a.id} ${a.status} by ${a.decided_by ?? 'unknown'} (run ${a.run_id})`);
        }),
      );
  }

  remote(program.command('submit <agent>'))
    .description('create a run on a server (and wait for it with --wait)')
    .requiredOption('-i, --input <text>', 'the request')
    .option('-s, --strategy <name>', 'single | router | handoff | parallel_map')
    .option('--agents <names>', 'comma-separated agents (router candidates, parallel_map fan-out)')
    .option('--priority <p>', 'interactive | normal | batch')
    .option('--idempotency-key <key>', 'the same key and body return the same run')
    .option('--wait <sec>', 'wait up to this many seconds for the run to settle')
    .action(
      action<[string], SubmitFlags>(async ([agent], f) => {
        const body: CreateRunBody = {
          agent,
          input: f.input,
          ...(f.strategy === undefined ? {} : { strategy: f.strategy as CreateRunBody['strategy'] }),
          ...(f.agents === undefined
            ? {}
            : {
                agents: f.agents
                  .split(',')
                  .map((s) => s.trim())
                  .filter(Boolean),
              }),
          ...(f.priority === undefined ? {} : { priority: f.priority as CreateRunBody['priority'] }),
        };
        const wait = f.wait === undefined ? undefined : positiveNumber(f.wait, '--wait');
        const run = await clientFor(f).createRun(body, {
          ...(f.idempotencyKey === undefined ? {} : { idempotencyKey: f.idempotencyKey }),
          ...(wait === undefined ? {} : { wait }),
        });
        if (f.json === true) outJson(run);
        else if (wait === undefined) out(`run ${run.id} ${run.status}`);
        else printRun(run);
        if (wait === undefined) return 0;
        return run.status === 'completed' ? 0 : run.status === 'waiting_approval' ? 3 : 1;
      }),
    );
}
