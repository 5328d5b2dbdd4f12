import type { Runtime } from '../agents/index.js';
import type { SkillplaneClient } from '../client/index.js';
import { isTerminalEvent } from '../vocabulary/index.js';
import type { RunEvent } from '../store/index.js';

/** Longest error message the live view prints; the rest is in `runs show` / `--json`. */
const MAX_MESSAGE_CHARS = 300;

/**
 * An error message fit for one terminal line: an HTML page (a proxy's error page) is replaced by
 * what precedes it and its size, a long message is cut.
 */
export function shortMessage(message: string): string {
  const html = /<!doctype html|<html[\s>]/i.exec(message);
  if (html !== null) {
    const before = message.slice(0, html.index).replace(/\s+/g, ' ').trim();
    const bytes = Buffer.byteLength(message.slice(html.index), 'utf8');
    return `${before === '' ? '' : `${before} `}(HTML page, ${bytes} bytes, not shown)`;
  }
  const one = message.replace(/\s+/g, ' ').trim();
  return one.length > MAX_MESSAGE_CHARS
    ? `${one.slice(0, MAX_MESSAGE_CHARS - 1)}… (${one.length} chars)`
    : one;
}

/**
 * Turns a run's events into live-view lines, one per event worth showing, prefixed by branch.
 * An error already printed (a retried step, then the run failing with the same error) is named by
 * its code only, so a long message appears once.
 */
export function createEventPrinter(write: (line: string) => void, prefix = ''): (e: RunEvent) => void {
  const printed = new Set<string>();
  const error = (err: { code?: string; message?: string } | undefined): string => {
    const code = err?.code ?? 'error';
    const message = shortMessage(err?.message ?? '');
    if (message === '') return code;
    const key = `${code}\u0000${message}`;
    if (printed.has(key)) return `${code} (same error as above)`;
    printed.add(key);
    return `${code} ${message}`;
  };
  const describe = (e: RunEvent): string | undefined => {
    const d = (e.data ?? {}) as Record<string, unknown>;
    const branch = typeof d.branch === 'string' && d.branch !== 'main' ? `[${d.branch}] ` : '';
    switch (e.type) {
      case 'run.created':
      case 'run.started':
      case 'run.resumed':
      case 'run.queued':
        return `· ${e.type.slice(4)}`;
      case 'step.started':
        return `${branch}… ${String(d.kind)} ${String(d.name)}`;
      case 'step.completed':
        return `${branch}✓ ${String(d.kind)} ${String(d.name)}`;
      case 'step.failed':
      case 'step.cancelled':
        return `${branch}✗ ${String(d.kind)} ${String(d.name)}: ${error(d.error as { code?: string } | undefined)}`;
      case 'approval.requested':
        return d.kind === 'run' || d.skill_id === ''
          ? `⏸ approval ${String(d.approval_id)} needed for the run to start`
          : `⏸ approval ${String(d.approval_id)} needed for ${String(d.skill_id)} (${(d.risk_tags as string[] | undefined)?.join(', ') ?? ''})`;
      case 'approval.decided':
        return `· approval ${String(d.approval_id)} ${String(d.status)} by ${String(d.decided_by)}`;
      case 'run.waiting_approval':
        return '⏸ waiting for approval';
      case 'run.completed':
        return '✓ completed';
      case 'run.failed':
        return `✗ failed: ${error(d.error as { code?: string } | undefined)}`;
      case 'run.cancelled':
        return '✗ cancelled';
      default:
        return undefined;
    }
  };
  return (e) => {
    const line = describe(e);
    if (line !== undefined) write(`${prefix}${line}`);
  };
}

/** Options of the followers: where to start, and whether to return at `run.waiting_approval`. */
export interface FollowOptions {
  afterSeq?: number;
  stopOnApproval?: boolean;
}

/**
 * Prints an in-process run's events as they happen until the run is terminal or waiting for
 * approval. Reads from the store, so nothing is missed. Returns the last event seq seen, to
 * continue from after an approval.
 */
export async function followRun(
  runtime: Runtime,
  runId: string,
  print: (e: RunEvent) => void,
  opts: FollowOptions = {},
): Promise<number> {
  let after = opts.afterSeq ?? 0;
  let wake: (() => void) | undefined;
  const unsubscribe = runtime.subscribe(runId, () => wake?.());
  try {
    for (;;) {
      const events = await runtime.listEvents(runId, after);
      for (const e of events) {
        after = e.seq;
        print(e);
        if (isTerminalEvent(e.type)) return after;
        if (e.type === 'run.waiting_approval' && opts.stopOnApproval !== false) return after;
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 250).unref();
      });
    }
  } finally {
    unsubscribe();
  }
}

/**
 * The same over the HTTP API: follows the run's event stream (resumed after a dropped
 * connection) until the run is terminal or waiting for approval; returns the last seq seen.
 */
export async function followRemoteRun(
  client: SkillplaneClient,
  runId: string,
  print: (e: RunEvent) => void,
  opts: FollowOptions = {},
): Promise<number> {
  let after = opts.afterSeq ?? 0;
  for await (const e of client.events(runId, { afterSeq: after })) {
    after = e.seq;
    print(e);
    if (e.type === 'run.waiting_approval' && opts.stopOnApproval !== false) break;
  }
  return after;
}
