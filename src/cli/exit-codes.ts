import type { RunStatus } from '../vocabulary/index.js';

/**
 * The exit codes of every `skillplane` command, defined once. `run`, `submit --wait`,
 * `submit --follow` and `runs events` end with the code of the run's status; other commands exit
 * 0 on success and 1 on an error. The README's CLI section lists the same table.
 */
export const EXIT = {
  /** The command succeeded; the run completed. */
  ok: 0,
  /** The run failed, or the command failed (refused request, invalid config, a skill error). */
  failed: 1,
  /** The command line is wrong: unknown command or option, an option value out of its choices. */
  usage: 2,
  /** The run is waiting for an approval (nobody decided it on the CLI). */
  waitingApproval: 3,
  /** The run was cancelled. */
  cancelled: 4,
  /** The server could not be reached (nothing listens at the URL, DNS, reset). */
  unreachable: 5,
  /** `submit --wait N`: the run was still queued or running after N seconds. */
  notSettled: 6,
} as const;

/** One of {@link EXIT}'s values. */
export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** The exit code a run in `status` ends a command with. */
export function exitCodeForStatus(status: RunStatus): ExitCode {
  switch (status) {
    case 'completed':
      return EXIT.ok;
    case 'failed':
      return EXIT.failed;
    case 'waiting_approval':
      return EXIT.waitingApproval;
    case 'cancelled':
      return EXIT.cancelled;
    case 'queued':
    case 'running':
      return EXIT.notSettled;
  }
}
