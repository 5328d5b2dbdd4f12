import type { RunEnvironment } from '../environment.js';
import type { RunExecution } from '../execution.js';
import type { RunRequest } from '../request.js';
import { runAgent } from '../agent-loop.js';
import { initialMessages, type StrategyResult } from './common.js';

/** `single`: one agent loop over the input. */
export async function runSingle(
  exec: RunExecution,
  env: RunEnvironment,
  req: RunRequest,
): Promise<StrategyResult> {
  const agent = env.agents.resolve(req.agent ?? req.agents![0]!);
  const outcome = await runAgent(exec, env, {
    agent,
    messages: initialMessages(req.input),
    branch: 'main',
    keyPrefix: agent.name,
  });
  // A single agent has no transfer tools, so the outcome is always an answer.
  return { output: outcome.kind === 'answer' ? outcome.text : '', agent: agent.name };
}
