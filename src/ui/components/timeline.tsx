import type { ApiStep, RunEvent } from '../../client/index.js';
import { humanMs } from '../format.js';
import { StatusBadge } from './common.js';

/** Percent of `span` that `ms` is, bounded to 0..100. */
function pct(ms: number, span: number): number {
  return Math.min(100, Math.max(0, (ms / span) * 100));
}

/** Each step as a bar on the run's time axis (an SVG bar per row: no inline styles under the CSP). */
export function StepTimeline({ steps, start, now }: { steps: ApiStep[]; start: string; now: number }) {
  if (steps.length === 0) return null;
  const t0 = Date.parse(start);
  const end = Math.max(
    ...steps.map((s) => (s.finished_at === null ? now : Date.parse(s.finished_at))),
    t0 + 1,
  );
  const span = end - t0;
  return (
    <ol class="gantt" aria-label="Step timeline">
      {steps.map((s) => {
        const from = Date.parse(s.started_at) - t0;
        const to = (s.finished_at === null ? now : Date.parse(s.finished_at)) - t0;
        const x = pct(from, span);
        const w = Math.max(0.5, pct(to, span) - x);
        return (
          <li key={s.seq}>
            <span class="gantt-label">
              <span class="mono">
                {s.seq}. {s.name}
              </span>{' '}
              <span class="muted">
                {s.branch === 'main' ? '' : `[${s.branch}] `}+{humanMs(from)}, {humanMs(to - from)}
              </span>
            </span>
            <svg class="gantt-bar" width="100%" height="10" aria-hidden="true" focusable="false">
              <rect class={`bar-${s.status}`} x={`${x}%`} width={`${w}%`} y="1" height="8" rx="2" />
            </svg>
          </li>
        );
      })}
    </ol>
  );
}

function describe(e: RunEvent): string {
  const d = (e.data ?? {}) as Record<string, unknown>;
  const parts: string[] = [];
  for (const k of ['name', 'kind', 'branch', 'node', 'approval_id', 'status', 'decided_by'])
    if (typeof d[k] === 'string' && d[k] !== '') parts.push(`${k} ${String(d[k])}`);
  const error = d.error as { code?: string } | undefined;
  if (error?.code !== undefined) parts.push(`error ${error.code}`);
  return parts.join(', ');
}

/** The run's events in order; a resume is marked where it happened. */
export function EventLog({ events, start }: { events: RunEvent[]; start: string }) {
  if (events.length === 0) return <p class="muted">No events yet.</p>;
  const t0 = Date.parse(start);
  return (
    <ol class="events" aria-label="Run events">
      {events.map((e) => (
        <li key={e.seq} class={e.type === 'run.resumed' ? 'resumed' : undefined}>
          <span class="mono muted">+{humanMs(Date.parse(e.at) - t0)}</span>{' '}
          {e.type === 'run.resumed' ? <strong>Resumed here</strong> : null} <span class="mono">{e.type}</span>{' '}
          {e.type.startsWith('run.') && e.type !== 'run.resumed' && e.type !== 'run.created' ? (
            <StatusBadge status={e.type.slice(4)} />
          ) : null}{' '}
          <span class="muted">{describe(e)}</span>
        </li>
      ))}
    </ol>
  );
}
