import { useState } from 'preact/hooks';
import type { Approval } from '../../client/index.js';
import { ApprovalCard } from '../components/approval-card.js';
import { ErrorNote, Loading, Section } from '../components/common.js';
import { useSession } from '../context.js';
import { useEvery, useLoad } from '../hooks.js';
import { hrefOf } from '../router.js';

/** The pending queue; deciding one shows the decision here and on its run's page. */
export function ApprovalsPage() {
  const { client, can } = useSession();
  const pending = useLoad((signal) => client.listApprovals({ status: 'pending' }, { signal }), [client]);
  const [decided, setDecided] = useState<Approval[]>([]);
  useEvery(pending.reload, 3000);
  const list = pending.value ?? [];
  return (
    <>
      <h1>Approvals</h1>
      {can('approvals:write') ? null : (
        <p class="note" role="note">
          This key may not decide approvals (it lacks the <span class="mono">approvals:write</span> scope).
        </p>
      )}
      <Section title="Pending" id="pending-title">
        <ErrorNote error={pending.error} />
        {pending.value === undefined ? (
          <Loading what="approvals" />
        ) : list.length === 0 ? (
          <p class="muted">Nothing waits for a decision.</p>
        ) : (
          <div class="approvals">
            {list.map((a) => (
              <ApprovalCard
                key={a.id}
                approval={a}
                onDecided={(d) => {
                  setDecided((prev) => [d, ...prev]);
                  pending.reload();
                }}
              />
            ))}
          </div>
        )}
      </Section>
      {decided.length === 0 ? null : (
        <Section title="Decided just now" id="decided-title">
          <ul class="plain" aria-live="polite">
            {decided.map((d) => (
              <li key={d.id}>
                <span class="mono">{d.skill_id || 'run'}</span> {d.status} —{' '}
                <a href={hrefOf({ page: 'run', id: d.run_id })}>see run {d.run_id}</a>
              </li>
            ))}
          </ul>
        </Section>
      )}
    </>
  );
}
