// One agent's loop: model turns as journal steps, tool calls through the skills, transfers, and
// the limits that end it.
import { BudgetExhaustedError } from '../errors/index.js';
import type { AgentDefinition } from '../config/index.js';
import type { ChatMessage, ChatResult, ToolDefinition } from '../models/index.js';
import { formatTraceparent, SpanKind } from '../tracing/index.js';
import { agentSkills, toolFor } from './agent-skills.js';
import type { RunEnvironment } from './environment.js';
import type { RunExecution } from './execution.js';
import { callSkill } from './skill-call.js';

// Where the strategies, the run executor and submission import them from.
export { skillsOutsideGrant } from './agent-skills.js';
export { ApprovalDeniedError, SuspendForApproval } from './skill-call.js';

/** A tool that ends the agent's turn and hands control elsewhere (handoff or route). */
export interface TransferTool {
  name: string;
  description: string;
  target: string;
}

/** How an agent's loop ended. */
export type AgentOutcome =
  | { kind: 'answer'; text: string; messages: ChatMessage[] }
  | { kind: 'transfer'; target: string; tool: string; messages: ChatMessage[] };

const MAX_TOOL_RESULT_CHARS = 32_000;

function estimateTokens(messages: ChatMessage[], tools: ToolDefinition[]): number {
  let chars = 0;
  for (const m of messages) chars += (typeof m.content === 'string' ? m.content.length : 0) + 16;
  for (const t of tools) chars += JSON.stringify(t).length;
  // Input estimate plus a modest allowance for the answer.
  return Math.ceil(chars / 4) + 256;
}

function toolResultText(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > MAX_TOOL_RESULT_CHARS ? `${text.slice(0, MAX_TOOL_RESULT_CHARS)}…[truncated]` : text;
}

/** What the model returned for one turn, as stored in the journal. */
interface ModelTurn {
  content: string | null;
  tool_calls: { id: string; name: string; arguments: string }[];
  finish_reason: string | null;
  model: string;
  /** The model's reasoning (`<think>` blocks, `reasoning_content`), kept apart from the answer. */
  reasoning?: string | null;
  /** The answer was cut off (`finish_reason: length`). */
  truncated?: boolean;
}

/**
 * One agent's loop: call the model with the agent's skills (and transfer tools) as tools, run the
 * tool calls through policy and the skill runner, feed the results back, repeat until the model
 * answers, transfers, or a limit is reached. Every model call and skill call is a journal step.
 */
export async function runAgent(
  exec: RunExecution,
  env: RunEnvironment,
  params: AgentParams,
): Promise<AgentOutcome> {
  // One `invoke_agent` span per loop (per execution: a resumed run's loop gets a new one).
  return exec.inSpan(
    `invoke_agent ${params.agent.name}`,
    {
      'gen_ai.operation.name': 'invoke_agent',
      'gen_ai.agent.name': params.agent.name,
      'skillplane.step.branch': params.branch,
    },
    (view) => agentLoop(view, env, params),
  );
}

/** What {@link runAgent} is given. */
interface AgentParams {
  agent: AgentDefinition;
  messages: ChatMessage[];
  branch: string;
  keyPrefix: string;
  transfers?: TransferTool[];
  /** Narrows the agent's skills to these (Opta role_tools); never widens them. */
  extraSkills?: string[];
  systemPrompt?: string;
  model?: string;
}

async function agentLoop(
  exec: RunExecution,
  env: RunEnvironment,
  params: AgentParams,
): Promise<AgentOutcome> {
  const { agent, branch, keyPrefix } = params;
  const skills = agentSkills(env, agent, params.extraSkills);
  const byTool = new Map(skills.map((s) => [s.toolName, s]));
  const transfers = new Map((params.transfers ?? []).map((t) => [t.name, t]));
  const tools: ToolDefinition[] = [
    ...skills.map(toolFor),
    ...[...transfers.values()].map((t) => ({
      type: 'function' as const,
      function: { name: t.name, description: t.description, parameters: { type: 'object', properties: {} } },
    })),
  ];
  const system = params.systemPrompt ?? agent.instructions;
  const messages: ChatMessage[] =
    params.messages[0]?.role === 'system'
      ? [...params.messages]
      : [{ role: 'system', content: system }, ...params.messages];
  const backend = env.models.get(params.model ?? agent.model);
  const maxTurns = agent.max_steps ?? env.config.agents.max_steps_per_run;

  for (let turn = 0; turn < maxTurns; turn++) {
    const estimatedTokens = estimateTokens(messages, tools);
    const modelTurn = await exec.step<ModelTurn>(
      {
        key: `${keyPrefix}/t${turn}/model`,
        kind: 'model',
        name: backend.model,
        agent: agent.name,
        input: {
          agent: agent.name,
          turn,
          messages: messages.length,
          tools: tools.map((t) => t.function.name),
        },
        branch,
        maxRetries: env.config.agents.max_step_retries,
        estimatedTokens,
        estimatedCostUsd: backend.estimateCost(estimatedTokens, 256),
        span: {
          name: `chat ${backend.model}`,
          kind: SpanKind.CLIENT,
          attributes: {
            'gen_ai.operation.name': 'chat',
            // Every backend speaks the OpenAI chat completions wire.
            'gen_ai.provider.name': 'openai',
            'gen_ai.request.model': backend.model,
            'gen_ai.agent.name': agent.name,
          },
        },
      },
      async (signal, _attempt, spanId) => {
        const result: ChatResult = await backend.chat(
          {
            messages,
            ...(tools.length > 0 ? { tools } : {}),
            ...(agent.temperature === undefined ? {} : { temperature: agent.temperature }),
          },
          {
            signal,
            priority: exec.run.priority,
            traceparent: formatTraceparent(exec.run.trace_id, spanId),
            ...(exec.run.tracestate === null ? {} : { tracestate: exec.run.tracestate }),
          },
        );
        return {
          output: {
            content: result.message.content,
            tool_calls: result.message.tool_calls.map((c) => ({
              id: c.id,
              name: c.name,
              arguments: c.arguments,
            })),
            finish_reason: result.finish_reason,
            model: result.model,
            ...(result.reasoning === null ? {} : { reasoning: result.reasoning }),
            ...(result.truncated ? { truncated: true } : {}),
          },
          usage: {
            input_tokens: result.usage.input_tokens,
            output_tokens: result.usage.output_tokens,
            cost_usd: result.cost_usd,
          },
          attributes: {
            'gen_ai.response.model': result.model,
            'gen_ai.response.finish_reasons': [result.finish_reason ?? 'unknown'],
          },
        };
      },
    );

    if (modelTurn.truncated === true) {
      exec.warn({
        code: 'truncated',
        message: `the answer of ${agent.name} (turn ${turn}) was cut off by the model's length limit`,
        step_key: `${keyPrefix}/t${turn}/model`,
        agent: agent.name,
      });
    }
    if (modelTurn.tool_calls.length === 0) {
      const text = modelTurn.content ?? '';
      messages.push({ role: 'assistant', content: text });
      return { kind: 'answer', text, messages };
    }
    messages.push({
      role: 'assistant',
      content: modelTurn.content,
      tool_calls: modelTurn.tool_calls.map((c) => ({
        id: c.id,
        type: 'function',
        function: { name: c.name, arguments: c.arguments },
      })),
    });

    for (let j = 0; j < modelTurn.tool_calls.length; j++) {
      const call = modelTurn.tool_calls[j]!;
      const key = `${keyPrefix}/t${turn}/call${j}`;
      const transfer = transfers.get(call.name);
      if (transfer !== undefined) {
        messages.push({ role: 'tool', tool_call_id: call.id, content: `transferred to ${transfer.target}` });
        return { kind: 'transfer', target: transfer.target, tool: call.name, messages };
      }
      const result = await callSkill(exec, env, {
        skill: byTool.get(call.name),
        call,
        key,
        branch,
        agent: agent.name,
      });
      messages.push({ role: 'tool', tool_call_id: call.id, content: toolResultText(result) });
    }
  }
  throw new BudgetExhaustedError(
    `agent ${agent.name} reached its max_steps (${maxTurns}) without answering`,
    {
      limit: 'max_steps',
      agent: agent.name,
    },
  );
}
