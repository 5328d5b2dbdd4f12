import { BudgetExhaustedError } from '../../errors/index.js';
import type { RunEnvironment } from '../environment.js';
import type { RunExecution } from '../execution.js';
import { inputText, type RunRequest } from '../request.js';
import { runAgent } from '../agent-loop.js';
import { initialMessages, roleOverrides, type StrategyResult } from './common.js';

/**
 * `handoff`: the active agent may transfer control with a `transfer_to_<agent>` tool (one per
 * name in its `handoffs`); the next agent continues the same conversation. Bounded by
 * `max_handoff_depth`. With Opta role semantics (`options.opta_roles`), each role in `agents`
 * runs in turn on the previous role's output.
 */
export async function runHandoff(
  exec: RunExecution,
  env: RunEnvironment,
  req: RunRequest,
): Promise<StrategyResult> {
  if (req.options.opta_roles && req.agents !== undefined) return runRoleChain(exec, env, req);
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

async function runRoleChain(
  exec: RunExecution,
  env: RunEnvironment,
  req: RunRequest,
): Promise<StrategyResult> {
  let text = inputText(req.input);
  const outputs: Record<string, string> = {};
  for (const [i, name] of req.agents!.entries()) {
    const agent = env.agents.resolve(name);
    const outcome = await runAgent(exec, env, {
      agent,
      messages: [{ role: 'user', content: text }],
      branch: `role.${i}`,
      keyPrefix: `role${i}/${name}`,
      ...roleOverrides(req, name),
    });
    text = outcome.kind === 'answer' ? outcome.text : '';
    outputs[name] = text;
  }
  return { output: text, roles: outputs };
}
