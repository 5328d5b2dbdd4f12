import type { Command } from 'commander';
import {
  SkillplaneClient,
  type ApiRun,
  type Approval,
  type CreateRunBody,
  type RunEvent,
  type RunStatus,
} from '../client/index.js';
import { SkillplaneError } from '../errors/index.js';
import { APPROVAL_STATUSES, RUN_STATUSES } from '../vocabulary/index.js';
import { driveRun, type RunHandle } from './drive-run.js';
import { EXIT, exitCodeForStatus } from './exit-codes.js';
import { createEventPrinter, followRemoteRun } from './live-view.js';
import {
  choiceList,
  choiceOption,
  runShapeOptions,
  fanOutFields,
  nonNegativeNumber,
  serverUrl,
} from './options.js';
import { cliUser } from './context.js';
import { out, outJson, reportError, table } from './output.js';

/** Flags every remote command takes. */
export interface RemoteFlags {
  url?: string;
  key?: string;
  json?: boolean;
}

interface SubmitFlags extends RemoteFlags {
  input: string;
  strategy?: string;
  agents?: string[];
  items?: unknown[];
  reducer?: string;
  failFast?: boolean;
  timeout?: number;
  priority?: string;
  idempotencyKey?: string;
  wait?: number;
  follow?: boolean;
  approveAll?: boolean;
}

const DEFAULT_URL = 'http://127.0.0.1:8787';

/** Adds the flags every remote command takes (`--url`, `--key`, `--json`). */
export function remote(cmd: Command): Command {
  return cmd
    .option('--url <url>', `server URL (default: $SKILLPLANE_URL or ${DEFAULT_URL})`, serverUrl)
    .option('--key <key>', 'API key (default: $SKILLPLANE_API_KEY)')
    .option('--json', 'machine-readable output');
}

/** The API client of a remote command's flags (`$SKILLPLANE_URL`, `$SKILLPLANE_API_KEY`). */
export function clientFor(flags: RemoteFlags): SkillplaneClient {
  const apiKey = flags.key ?? process.env.SKILLPLANE_API_KEY;
  const envUrl = process.env.SKILLPLANE_URL;
  let baseUrl = flags.url ?? DEFAULT_URL;
  if (flags.url === undefined && envUrl !== undefined && envUrl !== '') {
    try {
      baseUrl = serverUrl(envUrl);
    } catch (err) {
      throw new SkillplaneError('invalid_option', `SKILLPLANE_URL=${envUrl}: ${(err as Error).message}`);
    }
  }
  return new SkillplaneClient({
    baseUrl,
    ...(apiKey === undefined || apiKey === '' ? {} : { apiKey }),
    userId: `cli:${cliUser()}`,
  });
}

/** Runs a command body; errors are printed with their code and set the exit code. */
export function action<A extends string[], F extends RemoteFlags>(
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

/** A value on one line, at most `max` characters. */
export function short(value: unknown, max = 60): string {
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
  // A run-level approval (no skill) gates the whole run; its args name the agents and the input.
  const subject = (a: Approval) => (a.skill_id === '' ? '(whole run)' : a.skill_id);
  return list.map((a) => [a.id, a.run_id, subject(a), a.risk_tags.join(','), a.status, short(a.args, 40)]);
}

/** The remote side of {@link driveRun}: the run over the HTTP API, decisions as the caller's key. */
function remoteRun(client: SkillplaneClient, runId: string, print: (e: RunEvent) => void): RunHandle {
  return {
    follow: (afterSeq) => followRemoteRun(client, runId, print, { afterSeq }),
    status: async () => (await client.getRun(runId)).status,
    pendingApprovals: () => client.listApprovals({ run_id: runId, status: 'pending' }),
    decide: async (id, approve) => {
      await client.decideApproval(id, {
        decision: approve ? 'approve' : 'deny',
        reason: 'decided on the CLI (submit --follow)',
      });
    },
  };
}

/** `skillplane runs …`, `skillplane approvals …` and `skillplane submit` against a running server. */
export function registerRemoteCommands(program: Command): void {
  const runs = program.command('runs').description('list, inspect, follow and cancel runs on a server');

  remote(runs.command('list'))
    .description('list runs, newest first')
    .option(
      '--status <list>',
      `only these statuses (comma-separated: ${RUN_STATUSES.join(', ')})`,
      choiceList(RUN_STATUSES),
    )
    .option('--agent <name>', 'only this agent')
    .option('--limit <n>', 'page size', nonNegativeNumber, 20)
    .option('--cursor <cursor>', 'the next_cursor of a previous page')
    .action(
      action<[], RemoteFlags & { status?: RunStatus[]; agent?: string; limit: number; cursor?: string }>(
        async (_args, f) => {
          const page = await clientFor(f).listRuns({
            ...(f.status === undefined ? {} : { status: f.status }),
            ...(f.agent === undefined ? {} : { agent: f.agent }),
            limit: f.limit,
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
    .option('--after <seq>', 'start after this event seq', nonNegativeNumber, 0)
    .action(
      action<[string], RemoteFlags & { after: number }>(async ([id], flags) => {
        const client = clientFor(flags);
        for await (const e of client.events(id, { afterSeq: flags.after })) {
          // One JSON object per line (NDJSON), so a script can follow the stream.
          if (flags.json === true) process.stdout.write(`${JSON.stringify(e)}\n`);
          else out(describeEvent(e));
        }
        return exitCodeForStatus((await client.getRun(id)).status);
      }),
    );

  const approvals = program.command('approvals').description('list and decide approvals on a server');

  remote(approvals.command('list'))
    .description('approvals (pending by default)')
    .addOption(choiceOption('--status <status>', 'only this status', APPROVAL_STATUSES, 'pending'))
    .option('--run <id>', 'only this run')
    .option('--limit <n>', 'how many', nonNegativeNumber, 50)
    .action(
      action<[], RemoteFlags & { status: Approval['status']; run?: string; limit: number }>(
        async (_args, f) => {
          const list = await clientFor(f).listApprovals({
            status: f.status,
            ...(f.run === undefined ? {} : { run_id: f.run }),
            limit: f.limit,
          });
          if (f.json === true) return outJson({ approvals: list });
          out(table(['ID', 'RUN', 'SKILL', 'RISK', 'STATUS', 'ARGS'], approvalRows(list)));
        },
      ),
    );

  for (const decision of ['approve', 'deny'] as const) {
    remote(approvals.command(`${decision} <id>`))
      .description(`${decision} a pending approval (recorded as the API key's principal)`)
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

  runShapeOptions(
    remote(program.command('submit <agent>')).description(
      'create a run on a server; --wait for it to settle or --follow its live view',
    ),
  )
    .option('--idempotency-key <key>', 'the same key and body return the same run')
    .option('--wait <sec>', 'wait up to this many seconds for the run to settle', nonNegativeNumber)
    .option('--follow', "print the run's steps live until it ends (like `skillplane run`)")
    .option('--approve-all', 'approve every approval the run asks for, as your key (implies --follow)')
    .action(
      action<[string], SubmitFlags>(async ([agent], f) => {
        const body: CreateRunBody = {
          agent,
          input: f.input,
          ...(f.strategy === undefined ? {} : { strategy: f.strategy as CreateRunBody['strategy'] }),
          ...(f.priority === undefined ? {} : { priority: f.priority as CreateRunBody['priority'] }),
          ...fanOutFields(f),
        };
        const client = clientFor(f);
        const run = await client.createRun(body, {
          ...(f.idempotencyKey === undefined ? {} : { idempotencyKey: f.idempotencyKey }),
          ...(f.wait === undefined || f.follow === true ? {} : { wait: f.wait }),
        });
        if (f.follow === true || f.approveAll === true) return followSubmitted(client, run, f);
        if (f.json === true) outJson(run);
        else if (f.wait === undefined) out(`run ${run.id} ${run.status}`);
        else printRun(run);
        return f.wait === undefined ? EXIT.ok : exitCodeForStatus(run.status);
      }),
    );
}

/** `submit --follow`: the live view of `skillplane run`, over the API; the run's exit code. */
async function followSubmitted(client: SkillplaneClient, run: ApiRun, f: SubmitFlags): Promise<number> {
  const write = f.json === true ? () => undefined : (l: string) => out(l);
  if (f.json !== true) out(`run ${run.id} (${run.strategy}, ${run.priority})`);
  const status = await driveRun(remoteRun(client, run.id, createEventPrinter(write)), {
    runId: run.id,
    write,
    ...(f.approveAll === undefined ? {} : { approveAll: f.approveAll }),
  });
  const settled = await client.getRun(run.id);
  if (f.json === true) outJson(settled);
  else if (status === 'completed') {
    const text = resultText(settled);
    if (text !== '') out(`\n${text}`);
    out(
      `\nusage: ${settled.usage.steps} steps, ${settled.usage.input_tokens}+${settled.usage.output_tokens} tokens, $${settled.usage.cost_usd.toFixed(6)}`,
    );
  }
  return exitCodeForStatus(status);
}
