import type { RunEnvironment } from '../environment.js';
import type { RunExecution } from '../execution.js';
import { inputText, type RunRequest } from '../request.js';
import { runAgent } from '../agent-loop.js';
import { agentOverrides, initialMessages, type StrategyResult } from './common.js';

/**
 * `sequence`: the agents in `agents` run one after another. With `pass_output` (default) each
 * agent's answer is the next agent's input (a pipeline); without it every agent answers the
 * original input. The result is the last answer, with every agent's answer in `outputs`.
 */
export async function runSequence(
  exec: RunExecution,
  env: RunEnvironment,
  req: RunRequest,
): Promise<StrategyResult> {
  const outputs: Record<string, string> = {};
  let text = inputText(req.input);
  for (const [i, name] of req.agents!.entries()) {
    const outcome = await runAgent(exec, env, {
      agent: env.agents.resolve(name),
      messages: req.options.pass_output ? [{ role: 'user', content: text }] : initialMessages(req.input),
      // The journal keys of the role chains this strategy replaces, so their runs resume exactly.
      branch: `role.${i}`,
      keyPrefix: `role${i}/${name}`,
      ...agentOverrides(req, name),
    });
    text = outcome.kind === 'answer' ? outcome.text : '';
    outputs[name] = text;
  }
  return { output: text, outputs };
}
