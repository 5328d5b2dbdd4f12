import { useState } from 'preact/hooks';
import type { ExecuteSkillResult, SkillSummary } from '../../client/index.js';
import { ErrorNote, JsonBlock } from '../components/common.js';
import { useSession } from '../context.js';

/** "Try it": executes the skill with a JSON input, for keys with `skills:execute`. */
export function TrySkill({ skill }: { skill: SkillSummary }) {
  const { client, can } = useSession();
  const [input, setInput] = useState('{}');
  const [approve, setApprove] = useState(false);
  const [result, setResult] = useState<ExecuteSkillResult | undefined>(undefined);
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  if (!can('skills:execute')) return null;
  const base = `try-${skill.ref.replace(/[^A-Za-z0-9_-]/g, '-')}`;
  const mayApprove = can('approvals:write');

  const run = async () => {
    setBusy(true);
    setError(undefined);
    setResult(undefined);
    try {
      const parsed = JSON.parse(input) as unknown;
      setResult(
        await client.executeSkill(skill.ref, parsed, approve ? { approval: { approved: true } } : {}),
      );
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <details class="try">
      <summary>Try {skill.ref}</summary>
      <form
        onSubmit={(e) => {
          e.preventDefault();
          void run();
        }}
      >
        {skill.requires_approval ? (
          <p class="note" role="note">
            Approval-gated ({skill.risk_tags.join(', ')}): it runs only when approved
            {mayApprove ? '.' : ', and this key may not approve.'}
          </p>
        ) : null}
        <label for={`${base}-input`}>Input (JSON)</label>
        <textarea
          id={`${base}-input`}
          rows={4}
          value={input}
          onInput={(e) => setInput(e.currentTarget.value)}
        />
        {skill.requires_approval && mayApprove ? (
          <label class="check">
            <input type="checkbox" checked={approve} onChange={(e) => setApprove(e.currentTarget.checked)} />{' '}
            I approve this call
          </label>
        ) : null}
        <div class="actions">
          <button type="submit" class="primary" disabled={busy}>
            Execute
          </button>
        </div>
        <ErrorNote error={error} />
        {result === undefined ? null : <JsonBlock label="Output" value={result.output} />}
      </form>
    </details>
  );
}
