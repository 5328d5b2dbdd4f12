import type { ModelBackend, WorkersStatus } from '../../client/index.js';
import { DataTable, ErrorNote, Field, Loading, Section, StatusBadge } from '../components/common.js';
import { useSession } from '../context.js';
import { age } from '../format.js';
import { useEvery, useLoad, useNow } from '../hooks.js';
import { PRIORITIES } from '../../vocabulary/index.js';

/** Scheduler slots and queues, model backends and their limiters, the worker plane. */
export function WorkersPage() {
  const { client } = useSession();
  const workers = useLoad((signal) => client.workers({ signal }), [client]);
  const backends = useLoad((signal) => client.modelBackends({ signal }), [client]);
  useEvery(() => {
    workers.reload();
    backends.reload();
  }, 2000);
  const now = useNow();
  return (
    <>
      <h1>Workers and queues</h1>
      <ErrorNote error={workers.error ?? backends.error} />
      {workers.value === undefined ? <Loading what="the scheduler" /> : <Scheduler status={workers.value} />}
      <Section title="Model backends" id="backends-title">
        {backends.value === undefined ? <Loading what="backends" /> : <Backends list={backends.value} />}
      </Section>
      {workers.value === undefined ? null : <Plane status={workers.value} now={now} />}
    </>
  );
}

function Scheduler({ status }: { status: WorkersStatus }) {
  const s = status.scheduler;
  return (
    <Section title="Scheduler" id="scheduler-title">
      <dl class="fields">
        <Field name="Node">
          <span class="mono">{status.node_id}</span>
        </Field>
        <Field name="Slots in use">
          <meter
            id="slots"
            min={0}
            max={s.max_concurrent}
            value={s.running}
            aria-label="Scheduler slots in use"
          />{' '}
          {s.running} of {s.max_concurrent}
        </Field>
        {PRIORITIES.map((p) => (
          <Field key={p} name={`Queued (${p})`}>
            {s.queued[p] ?? 0}
          </Field>
        ))}
      </dl>
      <p class="muted">{status.description}</p>
    </Section>
  );
}

function Backends({ list }: { list: ModelBackend[] }) {
  return (
    <DataTable
      label="Model backends table"
      columns={[
        'Backend',
        'Model',
        'URL',
        { label: 'In flight', numeric: true },
        ...PRIORITIES.map((p) => ({ label: `Waiting (${p})`, numeric: true as const })),
      ]}
    >
      {list.map((b) => (
        <tr key={b.name}>
          <td>{b.name}</td>
          <td class="mono">{b.model}</td>
          <td class="mono">{b.base_url}</td>
          <td class="num">
            {b.in_flight} / {b.capacity}
          </td>
          {PRIORITIES.map((p) => (
            <td class="num" key={p}>
              {b.waiting[p]}
            </td>
          ))}
        </tr>
      ))}
    </DataTable>
  );
}

function Plane({ status, now }: { status: WorkersStatus; now: number }) {
  if (!status.enabled)
    return (
      <Section title="Worker plane" id="plane-title">
        <p>The worker plane is off: every skill runs in this process.</p>
      </Section>
    );
  return (
    <Section title="Worker plane" id="plane-title">
      <dl class="fields">
        <Field name="Broker">
          <span class="mono">{status.broker ?? '—'}</span>
        </Field>
        <Field name="Health">
          {status.health === undefined
            ? '—'
            : status.health.ok
              ? 'ok'
              : `down: ${status.health.reason ?? ''}`}
        </Field>
      </dl>
      <h3>Workers</h3>
      {status.workers.length === 0 ? (
        <p class="muted">No worker has sent a heartbeat.</p>
      ) : (
        <ul class="plain">
          {status.workers.map((w) => (
            <li key={w.id}>
              <span class="mono">{w.id}</span> <StatusBadge status={w.alive ? w.state : 'gone'} /> {w.host}{' '}
              pid {w.pid}, {w.in_flight}/{w.concurrency} busy, last heartbeat {age(w.last_heartbeat, now)} ago
            </li>
          ))}
        </ul>
      )}
      <h3>Queues</h3>
      <ul class="plain">
        {status.queues.map((q) => (
          <li key={q.name}>
            <span class="mono">{q.name}</span>: {q.waiting} waiting, {q.active} active, {q.delayed} delayed,{' '}
            {q.dead} dead
          </li>
        ))}
      </ul>
    </Section>
  );
}
