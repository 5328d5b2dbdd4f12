import type { Runtime } from '../agents/index.js';
import { isTerminalEvent } from '../vocabulary/index.js';
import type { RunEvent } from '../store/index.js';

function describe(e: RunEvent): string | undefined {
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
    case 'step.cancelled': {
      const err = d.error as { code?: string; message?: string } | undefined;
      return `${branch}✗ ${String(d.kind)} ${String(d.name)}: ${err?.code ?? ''} ${err?.message ?? ''}`;
    }
    case 'approval.requested':
      return `⏸ approval ${String(d.approval_id)} needed for ${String(d.skill_id)} (${(d.risk_tags as string[] | undefined)?.join(', ') ?? ''})`;
    case 'approval.decided':
      return `· approval ${String(d.approval_id)} ${String(d.status)} by ${String(d.decided_by)}`;
    case 'run.waiting_approval':
      return '⏸ waiting for approval';
    case 'run.completed':
      return '✓ completed';
    case 'run.failed': {
      const err = d.error as { code?: string; message?: string } | undefined;
      return `✗ failed: ${err?.code ?? ''} ${err?.message ?? ''}`;
    }
    case 'run.cancelled':
      return '✗ cancelled';
    default:
      return undefined;
  }
}

/**
 * Prints a run's events as they happen, one line each, prefixed by branch, until the run is
 * terminal or waiting for approval. Reads from the store, so nothing is missed. Returns the last
 * event seq seen, to continue from after an approval.
 */
export async function followRun(
  runtime: Runtime,
  runId: string,
  write: (line: string) => void,
  opts: { prefix?: string; stopOnApproval?: boolean; afterSeq?: number } = {},
): Promise<number> {
  let after = opts.afterSeq ?? 0;
  let wake: (() => void) | undefined;
  const unsubscribe = runtime.subscribe(runId, () => wake?.());
  try {
    for (;;) {
      const events = await runtime.listEvents(runId, after);
      for (const e of events) {
        after = e.seq;
        const line = describe(e);
        if (line !== undefined) write(`${opts.prefix ?? ''}${line}`);
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
