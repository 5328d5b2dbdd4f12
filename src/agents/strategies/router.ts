import type { AgentDefinition } from '../../config/index.js';
import { ValidationError } from '../../errors/index.js';
import type { RunEnvironment } from '../environment.js';
import type { RunExecution } from '../execution.js';
import { inputText, type RunRequest } from '../request.js';
import { runAgent } from '../agent-loop.js';
import { agentOverrides, initialMessages, type StrategyResult } from './common.js';

function routerAgentFor(candidates: AgentDefinition[], base: AgentDefinition | undefined): AgentDefinition {
  const list = candidates
    .map((c) => `- ${c.name}: ${c.description || c.instructions.slice(0, 160)}`)
    .join('\n');
  return {
    name: base?.name ?? 'router',
    description: 'Routes a request to the best agent.',
    model: base?.model ?? candidates[0]!.model,
    instructions: `${base?.instructions ?? 'You route requests.'}\n\nPick the one agent best suited to the user's request and call its route_to_<agent> tool. Do not answer the request yourself.\n\nAgents:\n${list}`,
    skills: [],
    handoffs: [],
    max_steps: base?.max_steps ?? 3,
  };
}

/**
 * `router`: picks one agent and delegates the request to it. By rules (`options.routes`, first
 * regex matching the input) or by a router agent choosing among `agents` with `route_to_<agent>`
 * tools.
 */
export async function runRouter(
  exec: RunExecution,
  env: RunEnvironment,
  req: RunRequest,
): Promise<StrategyResult> {
  const text = inputText(req.input);
  let target: string | undefined;
  let by: 'rule' | 'agent' = 'rule';
  if (req.options.routes !== undefined) {
    for (const rule of req.options.routes) {
      let re: RegExp;
      try {
        re = new RegExp(rule.match, 'i');
      } catch {
        throw new ValidationError(`invalid route pattern ${rule.match}`, [
          { path: 'options.routes', message: 'not a valid regular expression' },
        ]);
      }
      if (re.test(text)) {
        target = rule.agent;
        break;
      }
    }
  }
  if (target === undefined) {
    const candidates = (req.agents ?? []).map((n) => env.agents.resolve(n));
    const base = req.agent === undefined ? undefined : env.agents.resolve(req.agent);
    if (candidates.length === 0) {
      if (base === undefined)
        throw new ValidationError('router needs agents', [{ path: 'agents', message: 'no candidates' }]);
      target = base.name; // a router agent with no candidates simply answers
    } else if (candidates.length === 1) {
      target = candidates[0]!.name;
    } else {
      by = 'agent';
      const router = routerAgentFor(candidates, base);
      const outcome = await runAgent(exec, env, {
        agent: router,
        messages: initialMessages(req.input),
        branch: 'main',
        keyPrefix: `route/${router.name}`,
        transfers: candidates.map((c) => ({
          name: `route_to_${c.name}`,
          description: `Route to ${c.name}. ${c.description}`,
          target: c.name,
        })),
      });
      if (outcome.kind === 'answer') {
        // The router answered instead of routing: fall back to the first candidate.
        target = candidates[0]!.name;
      } else {
        target = outcome.target;
      }
    }
  }
  const chosen = target;
  await exec.step(
    {
      key: 'route',
      kind: 'route',
      name: chosen,
      input: { by },
      branch: 'main',
      maxRetries: 1 /* no side effect */,
    },
    async () => ({ output: { agent: chosen, by } }),
  );
  const agent = env.agents.resolve(chosen);
  const outcome = await runAgent(exec, env, {
    agent,
    messages: initialMessages(req.input),
    branch: 'main',
    keyPrefix: `routed/${agent.name}`,
    ...agentOverrides(req, agent.name),
  });
  return { output: outcome.kind === 'answer' ? outcome.text : '', agent: agent.name, routed_by: by };
}
