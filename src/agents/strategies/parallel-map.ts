import { toSkillplaneError } from '../../errors/index.js';
import type { RunEnvironment } from '../environment.js';
import type { RunExecution } from '../execution.js';
import { inputText, type RunRequest } from '../request.js';
import { runAgent, SuspendForApproval } from '../agent-loop.js';
import { mapWithConcurrency } from '../semaphore.js';
import { agentOverrides, initialMessages, itemText, type StrategyResult } from './common.js';

/** A branch's answer, or the approval it waits for. */
type BranchResult = { text: string } | { suspended: SuspendForApproval };

interface Branch {
  label: string;
  agent: string;
  messages: ReturnType<typeof initialMessages>;
}

/**
 * `parallel_map`: fans out one branch per item (run by `agent`) or per agent in `agents`, with
 * at most `max_parallelism` branches of this run in flight, then reduces by a reducer agent or
 * by concatenation. With `fail_fast` (default) the first failed branch cancels its siblings;
 * without it failures are collected per branch.
 */
export async function runParallelMap(
  exec: RunExecution,
  env: RunEnvironment,
  req: RunRequest,
): Promise<StrategyResult> {
  const prompt = inputText(req.input);
  const branches: Branch[] =
    req.items !== undefined
      ? req.items.map((item, i) => ({
          label: `item.${i}`,
          agent: req.agent ?? req.agents![0]!,
          messages: [{ role: 'user' as const, content: `${prompt}\n\nItem:\n${itemText(item)}` }],
        }))
      : req.agents!.map((name) => ({ label: name, agent: name, messages: initialMessages(req.input) }));
  for (const b of branches) env.agents.resolve(b.agent);

  const cap = Math.max(1, env.config.agents.max_parallel_agents);
  const limit = Math.min(req.options.max_parallelism ?? cap, cap);
  const results = await mapWithConcurrency(
    branches,
    limit,
    async (branch, i, signal): Promise<BranchResult> => {
      const outcome = await runAgent(exec.withSignal(signal), env, {
        agent: env.agents.resolve(branch.agent),
        messages: branch.messages,
        branch: `map.${i}`,
        keyPrefix: `map${i}/${branch.agent}`,
        // Per-agent settings of this run (system prompt, model, narrowed skills).
        ...agentOverrides(req, branch.agent),
      }).catch((err: unknown) => {
        // Waiting for approval is not a failure: the siblings go on and finish their steps.
        if (err instanceof SuspendForApproval) return err;
        throw err;
      });
      if (outcome instanceof SuspendForApproval) return { suspended: outcome };
      return { text: outcome.kind === 'answer' ? outcome.text : '' };
    },
    { signal: exec.signal, failFast: req.options.fail_fast },
  );
  // A branch waiting for approval suspends the whole run once every branch has settled; on
  // resume the finished branches replay from the journal.
  for (const r of results) if (r.ok && 'suspended' in r.value) throw r.value.suspended;
  const settled = results.map((r, i) => ({
    label: branches[i]!.label,
    agent: branches[i]!.agent,
    ...(r.ok
      ? { ok: true as const, output: 'text' in r.value ? r.value.text : '' }
      : { ok: false as const, error: toSkillplaneError(r.error).toJSON() }),
  }));

  const byLabel: Record<string, string | null> = {};
  for (const s of settled) byLabel[s.label] = s.ok ? s.output : null;

  if (req.options.reducer !== undefined) {
    const reducer = env.agents.resolve(req.options.reducer);
    const outcome = await runAgent(exec, env, {
      agent: reducer,
      messages: [
        {
          role: 'user',
          content: `${prompt}\n\nCombine these results into one answer:\n${JSON.stringify(
            settled.map((s) => ({
              label: s.label,
              ...(s.ok ? { output: s.output } : { error: s.error.message }),
            })),
            null,
            2,
          )}`,
        },
      ],
      branch: 'reduce',
      keyPrefix: `reduce/${reducer.name}`,
    });
    return {
      output: outcome.kind === 'answer' ? outcome.text : '',
      branches: settled,
      outputs: byLabel,
    };
  }
  const output = settled
    .map((s) => `## ${s.label}\n${s.ok ? s.output : `error: ${s.error.message}`}`)
    .join('\n\n');
  return { output, branches: settled, outputs: byLabel };
}
