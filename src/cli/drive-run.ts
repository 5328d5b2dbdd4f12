import { createInterface } from 'node:readline/promises';
import { isTerminal, type RunStatus } from '../vocabulary/index.js';

/** A pending approval as the CLI shows it. */
export interface PendingApproval {
  id: string;
  /** Empty for a run-level approval (the whole run waits to be allowed to start). */
  skill_id: string;
  args: unknown;
}

/**
 * What {@link driveRun} needs of a run, in-process (`skillplane run`) or over HTTP
 * (`skillplane submit --follow`); both print the same lines and end with the same status.
 */
export interface RunHandle {
  /** Prints events after `afterSeq` until the run is terminal or waits for approval; the last seq. */
  follow(afterSeq: number): Promise<number>;
  status(): Promise<RunStatus>;
  pendingApprovals(): Promise<PendingApproval[]>;
  /** Decides one approval as the caller (its principal is the key's, or the CLI user's). */
  decide(approvalId: string, approve: boolean): Promise<void>;
}

/** Options of {@link driveRun}. */
export interface DriveOptions {
  runId: string;
  /** Approve every approval the run asks for. */
  approveAll?: boolean;
  /** Ask on the terminal when stdin is one (default: `process.stdin.isTTY`). */
  interactive?: boolean;
  write: (line: string) => void;
}

async function ask(question: string): Promise<boolean> {
  const rl = createInterface({ input: process.stdin, output: process.stdout });
  try {
    return /^y(es)?$/i.test((await rl.question(question)).trim());
  } finally {
    rl.close();
  }
}

/**
 * Follows a run to its end, deciding its approvals on the way: all approved with `approveAll`,
 * asked for on a terminal, else the run is left waiting. Returns the status it ended in
 * (terminal, or `waiting_approval` when nobody here could decide).
 */
export async function driveRun(run: RunHandle, opts: DriveOptions): Promise<RunStatus> {
  const interactive = opts.interactive ?? process.stdin.isTTY === true;
  let seen = 0;
  for (;;) {
    seen = await run.follow(seen);
    const status = await run.status();
    if (isTerminal(status)) return status;
    // Decided by someone else meanwhile (or not yet waiting): keep following.
    if (status !== 'waiting_approval') continue;
    for (const a of await run.pendingApprovals()) {
      let approve = opts.approveAll === true;
      if (!approve && interactive)
        approve = await ask(
          `approve ${a.skill_id === '' ? 'the run' : a.skill_id} with ${JSON.stringify(a.args)}? [y/N] `,
        );
      else if (!approve) {
        opts.write(
          `run ${opts.runId} waits for approval ${a.id}; decide it with \`skillplane approvals approve ${a.id}\` (or deny), or rerun with --approve-all`,
        );
        return 'waiting_approval';
      }
      opts.write(`${approve ? 'approving' : 'denying'} ${a.id}`);
      await run.decide(a.id, approve);
    }
  }
}
