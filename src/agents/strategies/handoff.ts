import { BudgetExhaustedError } from '../../errors/index.js';
import type { RunEnvironment } from '../environment.js';
import type { RunExecution } from '../execution.js';
import type { RunRequest } from '../request.js';
import { runAgent } from '../agent-loop.js';
import { agentOverrides, initialMessages, type StrategyResult } from './common.js';

/**
 * `handoff`: the active agent may transfer control with a `transfer_to_<agent>` tool (one per
 * name in its `handoffs`); the next agent continues the same conversation. Bounded by
 * `max_handoff_depth`.
 */
export async function runHandoff(
  exec: RunExecution,
  env: RunEnvironment,
  req: RunRequest,
): Promise<StrategyResult> {
  let current = env.agents.resolve(req.agent ?? req.agents![0]!);
  let messages = initialMessages(req.input);
  const path = [current.name];
  for (let depth = 0; ; depth++) {
    const transfers = current.handoffs.map((name) => ({
      name: `transfer_to_${name}`,
      description:
        `Hand the conversation to agent ${name}: ${env.agents.get(name)?.description ?? ''}`.trim(),
      target: name,
    }));
    const outcome = await runAgent(exec, env, {
      agent: current,
      messages,
      branch: 'main',
      keyPrefix: `h${depth}/${current.name}`,
      transfers,
      ...agentOverrides(req, current.name),
    });
    if (outcome.kind === 'answer') return { output: outcome.text, agent: current.name, handoffs: path };
    if (depth + 1 > exec.run.limits.max_handoff_depth) {
      throw new BudgetExhaustedError(`run reached max_handoff_depth (${exec.run.limits.max_handoff_depth})`, {
        limit: 'max_handoff_depth',
        path: [...path, outcome.target],
      });
    }
    await exec.step(
      {
        key: `h${depth}/handoff`,
        kind: 'handoff',
        name: outcome.target,
        input: { from: current.name },
        branch: 'main',
        maxRetries: 1, // bookkeeping with no side effect: safe to redo
      },
      async () => ({ output: { from: current.name, to: outcome.target } }),
    );
    current = env.agents.resolve(outcome.target);
    path.push(current.name);
    // The next agent sees the conversation without the previous agent's system prompt.
    messages = outcome.messages.filter((m) => m.role !== 'system');
  }
}
