import { InvalidArgumentError, type Command } from 'commander';
import type { DeadLetter, WorkersStatus } from '../client/index.js';
import { EXIT } from './exit-codes.js';
import { out, outJson, table } from './output.js';
import { action, clientFor, remote, short, type RemoteFlags } from './remote-commands.js';

/** A parser of `--limit` for dead letters: an integer from 1 to 500 (the server's bounds). */
function deadLetterLimit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 500)
    throw new InvalidArgumentError('expected an integer from 1 to 500.');
  return n;
}

function printStatus(s: WorkersStatus): void {
  if (!s.enabled) {
    out(`executor  ${s.executor} (node ${s.node_id})`);
    out(s.description);
    return;
  }
  const health = s.health;
  const broker =
    health === undefined
      ? ''
      : health.ok
        ? `up since ${health.since}`
        : `DOWN since ${health.since}: ${health.reason ?? 'unknown'}`;
  out(`executor  ${s.executor} (node ${s.node_id})`);
  out(`broker    ${s.broker ?? ''} ${broker}`.trimEnd());
  out('');
  if (s.workers.length === 0) out('no workers seen in the last hour (start one with `skillplane worker`)');
  else
    out(
      table(
        ['WORKER', 'HOST', 'PID', 'STATE', 'ALIVE', 'QUEUES', 'JOBS', 'DONE', 'FAILED', 'LAST HEARTBEAT'],
        s.workers.map((w) => [
          w.id,
          w.host,
          String(w.pid),
          w.state,
          w.alive ? 'yes' : 'no',
          w.queues.join(','),
          `${w.in_flight}/${w.concurrency}`,
          String(w.jobs_done),
          String(w.jobs_failed),
          w.last_heartbeat,
        ]),
      ),
    );
  if (s.queues.length === 0) return;
  out('');
  out(
    table(
      ['QUEUE', 'WAITING', 'ACTIVE', 'DELAYED', 'FAILED', 'COMPLETED', 'DEAD'],
      s.queues.map((q) => [
        q.name,
        ...[q.waiting, q.active, q.delayed, q.failed, q.completed, q.dead].map(String),
      ]),
    ),
  );
}

function deadLetterRows(list: DeadLetter[]): string[][] {
  return list.map((d) => [
    d.id,
    d.queue,
    d.skill,
    d.run_id === null ? '-' : `${d.run_id}${d.step_seq === null ? '' : `#${d.step_seq}`}`,
    String(d.attempts),
    d.failed_at,
    String(d.redrives.length),
    short(`[${d.error.code}] ${d.error.message}`, 60),
  ]);
}

/**
 * `skillplane workers` (the worker plane's status; exit 1 while its broker is down),
 * `skillplane workers dead-letters` and `skillplane workers retry <id>`, against a running server.
 */
export function registerWorkersCommands(program: Command): void {
  const workers = program
    .command('workers')
    .description('the worker plane on a server: workers, queues, dead letters');

  remote(workers.command('status', { isDefault: true }))
    .description(
      "workers, queue depths and the broker's health (the default; exit 1 while the broker is down)",
    )
    .action(
      action<[], RemoteFlags>(async (_args, flags) => {
        const status = await clientFor(flags).workers();
        if (flags.json === true) outJson(status);
        else printStatus(status);
        return status.enabled && status.health?.ok !== true ? EXIT.failed : EXIT.ok;
      }),
    );

  remote(workers.command('dead-letters'))
    .description('jobs that failed for good, newest first')
    .option('--queue <name>', 'only this queue (default: every configured queue)')
    .option('--limit <n>', 'how many (1-500)', deadLetterLimit, 50)
    .action(
      action<[], RemoteFlags & { queue?: string; limit: number }>(async (_args, f) => {
        const list = await clientFor(f).deadLetters({
          ...(f.queue === undefined ? {} : { queue: f.queue }),
          limit: f.limit,
        });
        if (f.json === true) return outJson({ dead_letters: list });
        if (list.length === 0) return out('no dead letters');
        out(
          table(
            ['ID', 'QUEUE', 'SKILL', 'RUN', 'ATTEMPTS', 'FAILED AT', 'RETRIES', 'ERROR'],
            deadLetterRows(list),
          ),
        );
      }),
    );

  remote(workers.command('retry <id>'))
    .description("queue a dead letter's job again (scope admin; recorded in the audit trail)")
    .action(
      action<[string], RemoteFlags>(async ([id], flags) => {
        const r = await clientFor(flags).retryDeadLetter(id);
        if (flags.json === true) return outJson(r);
        out(
          `dead letter ${r.dead_letter.id} queued again as job ${r.job_id} (${r.dead_letter.skill} on ${r.dead_letter.queue})`,
        );
      }),
    );
}
