import { useState } from 'preact/hooks';
import type { CreateRunBody, Priority } from '../../client/index.js';
import { ErrorNote, Section, SelectField } from '../components/common.js';
import { useSession } from '../context.js';
import { navigate } from '../router.js';
import { PRIORITIES } from '../../vocabulary/index.js';

const STRATEGIES = ['single', 'router', 'handoff', 'parallel_map'] as const;
type Strategy = (typeof STRATEGIES)[number];

/** The input as JSON when it parses as an object or array, else the text itself. */
function inputValue(text: string): unknown {
  const t = text.trim();
  if (t.startsWith('{') || t.startsWith('[')) {
    try {
      return JSON.parse(t) as unknown;
    } catch {
      return text;
    }
  }
  return text;
}

/** Starts a run (agent, strategy, input, priority; items for `parallel_map`) and opens its page. */
export function NewRunForm({ agents, onCreated }: { agents: string[]; onCreated: () => void }) {
  const { client } = useSession();
  const [agent, setAgent] = useState('');
  const [strategy, setStrategy] = useState<Strategy>('single');
  const [input, setInput] = useState('');
  const [items, setItems] = useState('');
  const [priority, setPriority] = useState<Priority>('normal');
  const [error, setError] = useState<unknown>(undefined);
  const [busy, setBusy] = useState(false);
  const chosen = agent === '' ? agents[0] : agent;

  const submit = async () => {
    setBusy(true);
    setError(undefined);
    const body: CreateRunBody = {
      ...(chosen === undefined ? {} : { agent: chosen }),
      strategy,
      input: inputValue(input),
      priority,
      ...(strategy === 'parallel_map'
        ? {
            items: items
              .split('\n')
              .map((s) => s.trim())
              .filter((s) => s !== ''),
          }
        : {}),
    };
    try {
      const run = await client.createRun(body);
      onCreated();
      navigate({ page: 'run', id: run.id });
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Section title="New run" id="new-run-title">
      <form
        class="new-run"
        onSubmit={(e) => {
          e.preventDefault();
          void submit();
        }}
      >
        <SelectField label="Agent" id="run-agent" value={chosen ?? ''} options={agents} onChange={setAgent} />
        <SelectField
          label="Strategy"
          id="run-strategy"
          value={strategy}
          options={STRATEGIES}
          onChange={(v) => setStrategy(v as Strategy)}
        />
        <SelectField
          label="Priority"
          id="run-priority"
          value={priority}
          options={PRIORITIES}
          onChange={(v) => setPriority(v as Priority)}
        />
        <div class="control wide">
          <label for="run-input">Input</label>
          <textarea
            id="run-input"
            rows={3}
            required
            value={input}
            onInput={(e) => setInput(e.currentTarget.value)}
            aria-describedby="run-input-help"
          />
          <small id="run-input-help" class="muted">
            Text, or JSON when it starts with {'{'} or [.
          </small>
        </div>
        {strategy === 'parallel_map' ? (
          <div class="control wide">
            <label for="run-items">Items (one per line)</label>
            <textarea
              id="run-items"
              rows={3}
              value={items}
              onInput={(e) => setItems(e.currentTarget.value)}
            />
          </div>
        ) : null}
        <ErrorNote error={error} />
        <div class="actions wide">
          <button type="submit" class="primary" disabled={busy || chosen === undefined}>
            Start run
          </button>
        </div>
      </form>
    </Section>
  );
}
