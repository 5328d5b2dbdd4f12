import type { ApiStep } from '../../client/index.js';
import { duration } from '../format.js';
import { JsonBlock, StatusBadge } from './common.js';

/** Sibling steps of one parent, by branch, in the order each branch first appears. */
function byBranch(steps: ApiStep[]): { branch: string; steps: ApiStep[] }[] {
  const groups = new Map<string, ApiStep[]>();
  for (const s of steps) groups.set(s.branch, [...(groups.get(s.branch) ?? []), s]);
  return [...groups].map(([branch, list]) => ({ branch, steps: list }));
}

/** What a route step chose: the agent its output names. */
function choiceOf(step: ApiStep): string | undefined {
  const out = step.output;
  if (typeof out === 'string') return out;
  if (typeof out === 'object' && out !== null) {
    const o = out as Record<string, unknown>;
    const by = typeof o.by === 'string' ? ` (by ${o.by})` : '';
    for (const k of ['agent', 'chosen', 'target', 'to']) if (typeof o[k] === 'string') return `${o[k]}${by}`;
  }
  return undefined;
}

/** Who a handoff step passed the conversation from and to. */
function handoffOf(step: ApiStep): string | undefined {
  const out = step.output as { from?: unknown; to?: unknown } | null;
  if (typeof out !== 'object' || out === null || typeof out.to !== 'string') return undefined;
  return `${typeof out.from === 'string' ? out.from : '?'} → ${out.to}`;
}

function StepCard({ step, now }: { step: ApiStep; now: number }) {
  const choice =
    step.kind === 'route'
      ? `chose ${choiceOf(step) ?? '?'}`
      : step.kind === 'handoff'
        ? handoffOf(step)
        : undefined;
  return (
    <details class={`step step-${step.status}`} data-step-seq={step.seq} data-branch={step.branch}>
      <summary>
        <span class="badge kind">{step.kind}</span> <span class="mono">{step.name}</span>{' '}
        <StatusBadge status={step.status} />
        {step.attempt > 1 ? <span class="badge retry">retry: attempt {step.attempt}</span> : null}
        {choice === undefined ? null : <span class="choice">{choice}</span>}
        <span class="muted"> · {duration(step.started_at, step.finished_at, now)}</span>
        {step.agent === null ? null : <span class="muted"> · {step.agent}</span>}
      </summary>
      <div class="step-body">
        <p class="muted">
          Step {step.seq}
          {step.parent_seq === null ? '' : ` of step ${step.parent_seq}`}, branch {step.branch}, started{' '}
          {new Date(step.started_at).toLocaleTimeString()}
        </p>
        <JsonBlock label="Input" value={step.input} />
        <JsonBlock label="Output" value={step.output} />
        {step.error === null ? null : <JsonBlock label="Error" value={step.error} />}
      </div>
    </details>
  );
}

function Level({
  steps,
  children,
  parentBranch,
  now,
}: {
  steps: ApiStep[];
  children: Map<number, ApiStep[]>;
  parentBranch: string;
  now: number;
}) {
  const groups = byBranch(steps);
  const own = groups.filter((g) => g.branch === parentBranch || groups.length === 1);
  const others = groups.filter((g) => !own.includes(g));
  const list = (items: ApiStep[], branch: string) => (
    <ol class="steps">
      {items.map((s) => (
        <li key={s.seq}>
          <StepCard step={s} now={now} />
          {children.has(s.seq) ? (
            <Level steps={children.get(s.seq) ?? []} children={children} parentBranch={branch} now={now} />
          ) : null}
        </li>
      ))}
    </ol>
  );
  return (
    <>
      {own.map((g) => (
        <div key={g.branch}>{list(g.steps, g.branch)}</div>
      ))}
      {others.length === 0 ? null : (
        <div class="branches" role="group" aria-label="Parallel branches">
          {others.map((g) => (
            <section class="branch" key={g.branch} aria-label={`Branch ${g.branch}`} data-branch={g.branch}>
              <h4>{g.branch}</h4>
              {list(g.steps, g.branch)}
            </section>
          ))}
        </div>
      )}
    </>
  );
}

/** A run's steps as a tree: children under their parent, parallel branches side by side. */
export function StepTree({ steps, now }: { steps: ApiStep[]; now: number }) {
  if (steps.length === 0) return <p class="muted">No steps yet.</p>;
  const children = new Map<number, ApiStep[]>();
  const roots: ApiStep[] = [];
  const seqs = new Set(steps.map((s) => s.seq));
  for (const s of steps) {
    if (s.parent_seq === null || !seqs.has(s.parent_seq)) roots.push(s);
    else children.set(s.parent_seq, [...(children.get(s.parent_seq) ?? []), s]);
  }
  return (
    <div class="tree">
      <Level steps={roots} children={children} parentBranch="main" now={now} />
    </div>
  );
}
