import { useEffect, useState } from 'preact/hooks';
import type { ApiRun, Approval, RunEvent } from '../../client/index.js';
import { ApprovalCard } from '../components/approval-card.js';
import {
  DataTable,
  ErrorNote,
  Field,
  JsonBlock,
  Loading,
  Section,
  StatusBadge,
} from '../components/common.js';
import { StepTree } from '../components/step-tree.js';
import { EventLog, StepTimeline } from '../components/timeline.js';
import { useSession } from '../context.js';
import { count, duration, usd } from '../format.js';
import { useCoalesced, useLoad, useNow } from '../hooks.js';

const ACTIVE = new Set<string>(['queued', 'running', 'waiting_approval']);

/** One run: status, usage against budget, trace, approvals, steps (tree and timeline), events, audit. */
export function RunPage({ id }: { id: string }) {
  const { client } = useSession();
  const run = useLoad((signal) => client.getRun(id, { signal }), [client, id]);
  const approvals = useLoad((signal) => client.listApprovals({ run_id: id }, { signal }), [client, id]);
  const events = useRunEvents(id, () => {
    run.reload();
    approvals.reload();
  });
  const now = useNow();

  if (run.value === undefined)
    return (
      <>
        <h1>
          Run <span class="mono">{id}</span>
        </h1>
        <ErrorNote error={run.error} />
        {run.error === undefined ? <Loading what="the run" /> : null}
      </>
    );
  const r = run.value;
  return (
    <>
      <h1>
        Run <span class="mono">{r.id}</span> <StatusBadge status={r.status} />
      </h1>
      <ErrorNote error={run.error} />
      <Summary run={r} events={events} now={now} onChanged={run.reload} />
      <Usage run={r} />
      {(approvals.value ?? []).length === 0 ? null : (
        <Section title="Approvals" id="run-approvals-title">
          <div class="approvals">
            {(approvals.value ?? []).map((a: Approval) => (
              <ApprovalCard key={a.id} approval={a} showRun={false} onDecided={approvals.reload} />
            ))}
          </div>
        </Section>
      )}
      {r.result === null && r.error === null ? null : (
        <Section title={r.error === null ? 'Result' : 'Error'} id="run-result-title">
          <JsonBlock label={r.error === null ? 'Result' : 'Error'} value={r.error ?? r.result} />
        </Section>
      )}
      <Section title="Steps" id="run-steps-title">
        <StepTree steps={r.steps ?? []} now={now} />
      </Section>
      <Section title="Timeline" id="run-timeline-title">
        <StepTimeline steps={r.steps ?? []} start={r.started_at ?? r.created_at} now={now} />
        <h3>Events</h3>
        <EventLog events={events} start={r.created_at} />
      </Section>
      {r.audit === undefined ? null : <Audit run={r} />}
    </>
  );
}

/** Follows the run's event stream (history first); every event asks for the run again. */
function useRunEvents(id: string, changed: () => void): RunEvent[] {
  const { client } = useSession();
  const [events, setEvents] = useState<RunEvent[]>([]);
  const refresh = useCoalesced(changed, 100);
  useEffect(() => {
    setEvents([]);
    const controller = new AbortController();
    void (async () => {
      try {
        for await (const e of client.events(id, { signal: controller.signal })) {
          setEvents((list) => [...list, e]);
          refresh();
        }
      } catch {
        // Aborted, or the stream gave up: the page still shows the run as last read.
      }
      if (!controller.signal.aborted) refresh();
    })();
    return () => controller.abort();
  }, [client, id, refresh]);
  return events;
}

function Summary(props: { run: ApiRun; events: RunEvent[]; now: number; onChanged: () => void }) {
  const { run, events, now } = props;
  const { client, can, who } = useSession();
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const resumes = events.filter((e) => e.type === 'run.resumed');
  const steps = run.steps ?? [];
  const lastResume = resumes[resumes.length - 1];
  const replayed =
    lastResume === undefined
      ? 0
      : steps.filter((s) => s.finished_at !== null && s.finished_at <= lastResume.at).length;
  const viewer = who.trace_viewer_url;
  const cancel = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await client.cancelRun(run.id);
      props.onChanged();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Section title="Summary" id="run-summary-title">
      <dl class="fields">
        <Field name="Agent">{run.agent}</Field>
        <Field name="Strategy">{run.strategy}</Field>
        <Field name="Priority">{run.priority}</Field>
        <Field name="Principal">{run.principal ?? '—'}</Field>
        <Field name="Created">{new Date(run.created_at).toLocaleString()}</Field>
        <Field name="Duration">{duration(run.started_at, run.finished_at, now)}</Field>
        <Field name="Trace id">
          {viewer === null ? (
            <span class="mono">{run.trace_id}</span>
          ) : (
            <a class="mono" href={viewer.replace('{trace_id}', encodeURIComponent(run.trace_id))}>
              {run.trace_id}
            </a>
          )}
        </Field>
        <Field name="Checkpoint">step {run.checkpoint}</Field>
      </dl>
      {lastResume === undefined ? null : (
        <p class="note" role="note">
          Resumed {resumes.length === 1 ? 'once' : `${resumes.length} times`}; last on node{' '}
          {String((lastResume.data as { node?: unknown } | null)?.node ?? '?')} at{' '}
          {new Date(lastResume.at).toLocaleTimeString()}, after {replayed} completed step
          {replayed === 1 ? '' : 's'} (replayed from the store, not run again).
        </p>
      )}
      {ACTIVE.has(run.status) && can('runs:write') ? (
        <div class="actions">
          <button type="button" class="danger" disabled={busy} onClick={() => void cancel()}>
            Cancel run
          </button>
        </div>
      ) : null}
      {ACTIVE.has(run.status) ? (
        <p class="muted live" role="status">
          Live: this page follows the run’s events.
        </p>
      ) : null}
      <ErrorNote error={error} />
    </Section>
  );
}

function Budget(props: { id: string; label: string; used: number; limit: number | null; show: string }) {
  return (
    <div class="budget">
      <label for={props.id}>{props.label}</label>
      {props.limit === null ? (
        <span>
          {props.show} <span class="muted">(no budget)</span>
        </span>
      ) : (
        <>
          <meter id={props.id} min={0} max={props.limit} value={props.used} high={props.limit * 0.8} />
          <span>
            {props.show} of {props.id === 'budget-cost' ? usd(props.limit) : count(props.limit)}
          </span>
        </>
      )}
    </div>
  );
}

function Usage({ run }: { run: ApiRun }) {
  const tokens = run.usage.input_tokens + run.usage.output_tokens;
  return (
    <Section title="Usage and budget" id="run-usage-title">
      <div class="budgets">
        <Budget
          id="budget-steps"
          label="Steps"
          used={run.usage.steps}
          limit={run.limits.max_steps}
          show={count(run.usage.steps)}
        />
        <Budget
          id="budget-tokens"
          label="Tokens"
          used={tokens}
          limit={run.limits.token_budget}
          show={`${count(tokens)} (${count(run.usage.input_tokens)} in, ${count(run.usage.output_tokens)} out)`}
        />
        <Budget
          id="budget-cost"
          label="Cost"
          used={run.usage.cost_usd}
          limit={run.limits.cost_budget_usd}
          show={usd(run.usage.cost_usd)}
        />
      </div>
    </Section>
  );
}

function Audit({ run }: { run: ApiRun }) {
  const entries = run.audit ?? [];
  return (
    <Section title="Audit" id="run-audit-title">
      {entries.length === 0 ? (
        <p class="muted">No audit entries.</p>
      ) : (
        <DataTable label="Audit entries" columns={['At', 'Who', 'Action', 'Target']}>
          {entries.map((e) => (
            <tr key={e.id}>
              <td>{new Date(e.at).toLocaleTimeString()}</td>
              <td>{e.principal ?? 'system'}</td>
              <td class="mono">{e.action}</td>
              <td class="mono">{e.target ?? '—'}</td>
            </tr>
          ))}
        </DataTable>
      )}
    </Section>
  );
}
