import { useState } from 'preact/hooks';
import type { Approval } from '../../client/index.js';
import { useSession } from '../context.js';
import { age } from '../format.js';
import { hrefOf } from '../router.js';
import { ErrorNote, JsonBlock, StatusBadge, Tags } from './common.js';

/**
 * One approval: the skill, its arguments, risk tags and run; with `approvals:write` and while
 * pending, approve or deny with a reason.
 */
export function ApprovalCard({
  approval,
  onDecided,
  showRun = true,
}: {
  approval: Approval;
  onDecided: (a: Approval) => void;
  showRun?: boolean;
}) {
  const { client, can } = useSession();
  const [reason, setReason] = useState('');
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const title = approval.skill_id === '' ? 'the whole run' : approval.skill_id;
  const headingId = `approval-${approval.id}`;

  const decide = async (decision: 'approve' | 'deny') => {
    setBusy(true);
    setError(undefined);
    try {
      const decided = await client.decideApproval(approval.id, {
        decision,
        ...(reason.trim() === '' ? {} : { reason: reason.trim() }),
      });
      onDecided(decided);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <article class="approval" aria-labelledby={headingId} data-approval-id={approval.id}>
      <h3 id={headingId}>
        <span class="mono">{title}</span> <StatusBadge status={approval.status} />
      </h3>
      <dl class="fields">
        {showRun ? (
          <div class="field">
            <dt>Run</dt>
            <dd>
              <a class="mono" href={hrefOf({ page: 'run', id: approval.run_id })}>
                {approval.run_id}
              </a>
            </dd>
          </div>
        ) : null}
        <div class="field">
          <dt>Risk tags</dt>
          <dd>
            <Tags tags={approval.risk_tags} kind="risk" />
          </dd>
        </div>
        <div class="field">
          <dt>Requested</dt>
          <dd>{age(approval.created_at)} ago</dd>
        </div>
        {approval.status === 'pending' ? null : (
          <div class="field">
            <dt>Decided by</dt>
            <dd>
              {approval.decided_by ?? 'system'}
              {approval.reason === null ? '' : `: “${approval.reason}”`}
            </dd>
          </div>
        )}
      </dl>
      <JsonBlock label="Arguments" value={approval.args} />
      {approval.status === 'pending' && can('approvals:write') ? (
        <form class="decide" onSubmit={(e) => e.preventDefault()}>
          <label for={`reason-${approval.id}`}>Reason (optional)</label>
          <input
            id={`reason-${approval.id}`}
            value={reason}
            onInput={(e) => setReason(e.currentTarget.value)}
          />
          <div class="actions">
            <button type="button" class="primary" disabled={busy} onClick={() => void decide('approve')}>
              Approve
            </button>
            <button type="button" class="danger" disabled={busy} onClick={() => void decide('deny')}>
              Deny
            </button>
          </div>
          <ErrorNote error={error} />
        </form>
      ) : null}
    </article>
  );
}
