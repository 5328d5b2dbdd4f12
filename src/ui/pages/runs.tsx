import { useEffect, useRef, useState } from 'preact/hooks';
import type { ApiRun, ListRunsQuery, Priority, RunStatus } from '../../client/index.js';
import { DataTable, ErrorNote, SelectField, Loading, Section, StatusBadge } from '../components/common.js';
import { useSession } from '../context.js';
import { age, count, duration, usd } from '../format.js';
import { useCoalesced, useLoad, useNow } from '../hooks.js';
import { hrefOf } from '../router.js';
import { PRIORITIES, RUN_STATUSES } from '../../vocabulary/index.js';
import { NewRunForm } from './new-run.js';

/** The run list: filters, the runs (kept current over SSE) and, with `runs:write`, a new-run form. */
export function RunsPage() {
  const { client, can } = useSession();
  const [status, setStatus] = useState('');
  const [agent, setAgent] = useState('');
  const [priority, setPriority] = useState('');
  const agents = useLoad((signal) => client.listAgents({ signal }), [client]);
  const query: ListRunsQuery = {
    limit: 50,
    ...(status === '' ? {} : { status: [status as RunStatus] }),
    ...(agent === '' ? {} : { agent }),
    ...(priority === '' ? {} : { priority: priority as Priority }),
  };
  const runs = useLoad((signal) => client.listRuns(query, { signal }), [client, status, agent, priority]);
  const refresh = useCoalesced(runs.reload, 150);
  useRunChanges(refresh);
  const now = useNow();

  return (
    <>
      <h1>Runs</h1>
      {can('runs:write') ? (
        <NewRunForm agents={(agents.value ?? []).map((a) => a.name)} onCreated={refresh} />
      ) : null}
      <Section title="All runs" id="runs-title">
        <form class="filters" aria-label="Filter runs" onSubmit={(e) => e.preventDefault()}>
          <Select
            label="Status"
            id="filter-status"
            value={status}
            options={RUN_STATUSES}
            onChange={setStatus}
          />
          <Select
            label="Agent"
            id="filter-agent"
            value={agent}
            options={(agents.value ?? []).map((a) => a.name)}
            onChange={setAgent}
          />
          <Select
            label="Priority"
            id="filter-priority"
            value={priority}
            options={PRIORITIES}
            onChange={setPriority}
          />
        </form>
        <ErrorNote error={runs.error} />
        {runs.value === undefined ? <Loading what="runs" /> : <RunTable runs={runs.value.runs} now={now} />}
      </Section>
    </>
  );
}

/** Reads the list again on every change of a visible run (one event stream for all of them). */
function useRunChanges(refresh: () => void): void {
  const { client } = useSession();
  const [attempt, setAttempt] = useState(0);
  const refreshRef = useRef(refresh);
  refreshRef.current = refresh;
  useEffect(() => {
    const controller = new AbortController();
    let retry: ReturnType<typeof setTimeout> | undefined;
    void (async () => {
      try {
        // Read again once connected too: a change between the last read and the connection counts.
        const changes = client.runChanges({ signal: controller.signal, onOpen: () => refreshRef.current() });
        for await (const _change of changes) refreshRef.current();
      } catch {
        // Dropped: reconnect below.
      }
      if (controller.signal.aborted) return;
      // Changes may have been missed while it was down: read the list again, then reconnect.
      refreshRef.current();
      retry = setTimeout(() => setAttempt((n) => n + 1), 2000);
    })();
    return () => {
      controller.abort();
      clearTimeout(retry);
    };
  }, [client, attempt]);
}

/** A filter of the list: every option, or none (`all`). */
function Select(props: {
  label: string;
  id: string;
  value: string;
  options: readonly string[];
  onChange: (v: string) => void;
}) {
  return <SelectField {...props} any="all" show={(o) => o.replace('_', ' ')} />;
}

function RunTable({ runs, now }: { runs: ApiRun[]; now: number }) {
  if (runs.length === 0) return <p class="muted">No runs match.</p>;
  return (
    <DataTable
      label="Runs table"
      class="cards-on-phone"
      columns={[
        'Run',
        'Status',
        'Agent',
        'Strategy',
        'Priority',
        'Age',
        'Duration',
        { label: 'Tokens', numeric: true },
        { label: 'Cost', numeric: true },
      ]}
    >
      {runs.map((r) => (
        <tr key={r.id} data-run-id={r.id}>
          <td data-label="Run">
            <a href={hrefOf({ page: 'run', id: r.id })} class="mono">
              {r.id}
            </a>
          </td>
          <td data-label="Status">
            <StatusBadge status={r.status} />
          </td>
          <td data-label="Agent">{r.agent}</td>
          <td data-label="Strategy">{r.strategy}</td>
          <td data-label="Priority">{r.priority}</td>
          <td data-label="Age">{age(r.created_at, now)}</td>
          <td data-label="Duration">{duration(r.started_at, r.finished_at, now)}</td>
          <td class="num" data-label="Tokens">
            {count(r.usage.input_tokens + r.usage.output_tokens)}
          </td>
          <td class="num" data-label="Cost">
            {usd(r.usage.cost_usd)}
          </td>
        </tr>
      ))}
    </DataTable>
  );
}
