import {
  ApprovalRequiredError,
  BudgetExhaustedError,
  SkillplaneError,
  toSkillplaneError,
} from '../errors/index.js';
import type { AgentDefinition } from '../config/index.js';
import type { ChatMessage, ChatResult, ToolDefinition } from '../models/index.js';
import type { Skill } from '../skills/index.js';
import { formatTraceparent, SpanKind } from '../tracing/index.js';
import type { RunEnvironment } from './environment.js';
import type { RunExecution, StepSpec } from './execution.js';
import { skillPatternMatches } from './definitions.js';

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

/** Thrown to stop a run until a human decides on an approval; the runtime suspends the run. */
export class SuspendForApproval extends SkillplaneError {
  constructor(
    readonly approvalId: string,
    skillId: string,
  ) {
    super('waiting_approval', `waiting for approval ${approvalId} to run ${skillId}`, {
      data: { approval_id: approvalId, skill_id: skillId },
    });
  }
}

/** The request was denied (or the approval expired): the run fails with `approval_denied`. */
export class ApprovalDeniedError extends SkillplaneError {
  constructor(approvalId: string, skillId: string, status: string, reason: string | null) {
    super(
      'approval_denied',
      `approval ${approvalId} for ${skillId} was ${status}${reason ? `: ${reason}` : ''}`,
      {
        data: { approval_id: approvalId, skill_id: skillId, status },
      },
    );
  }
}

const MAX_TOOL_RESULT_CHARS = 32_000;

/** The skills matching `patterns` (ids, ranges or `ns/*`) among the registry's latest versions. */
function skillsMatching(env: RunEnvironment, patterns: string[]): Map<string, Skill> {
  const out = new Map<string, Skill>();
  for (const p of patterns) {
    if (!p.includes('*')) {
      const s = env.skills.tryResolve(p);
      if (s !== undefined) out.set(s.id, s);
      continue;
    }
    for (const s of env.skills.listLatest()) if (skillPatternMatches(p, s.id)) out.set(s.id, s);
  }
  return out;
}

/**
 * The skills an agent may call: its patterns over the registry's latest versions. `only`
 * (Opta-LMX's `role_tools`) narrows that set and never widens it: a request cannot give an
 * agent a skill its definition does not grant.
 */
export function agentSkills(env: RunEnvironment, agent: AgentDefinition, only?: string[]): Skill[] {
  if (agent.skills.length === 0) return [];
  const granted = skillsMatching(env, agent.skills);
  const allowed = only === undefined ? granted : skillsMatching(env, only);
  return [...granted.values()].filter(
    (s) => allowed.has(s.id) && (s.manifest.kind !== 'prompt' || s.source !== 'agent-skill'),
  );
}

/**
 * The skills of `only` that resolve to a skill `agent` is not granted (for a clear refusal at
 * submission instead of a silent narrowing).
 */
export function skillsOutsideGrant(env: RunEnvironment, agent: AgentDefinition, only: string[]): string[] {
  const granted = agent.skills.length === 0 ? new Map<string, Skill>() : skillsMatching(env, agent.skills);
  return [...skillsMatching(env, only).keys()].filter((id) => !granted.has(id)).sort();
}

function toolFor(skill: Skill): ToolDefinition {
  return {
    type: 'function',
    function: {
      name: skill.toolName,
      description: skill.manifest.description,
      parameters: skill.inputSchema,
    },
  };
}

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

/** Errors a model should see as a tool result (it can correct itself) instead of failing the run. */
const TOOL_LEVEL_ERRORS = new Set([
  'input_invalid',
  'output_invalid',
  'permission_denied',
  'skill_failed',
  'not_found',
  'timeout',
  'validation_failed',
]);

/** Passing skill failures: retried by the journal, then reported to the model if they persist. */
const RETRIED_SKILL_ERRORS = new Set(['skill_crashed', 'executor_closed']);

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

async function callSkill(
  exec: RunExecution,
  env: RunEnvironment,
  p: {
    skill: Skill | undefined;
    call: { id: string; name: string; arguments: string };
    key: string;
    branch: string;
    agent: string;
  },
): Promise<unknown> {
  const { skill, call, key } = p;
  if (skill === undefined)
    return { error: { code: 'not_found', message: `no tool named ${call.name} is available` } };
  let args: unknown;
  try {
    args = call.arguments.trim() === '' ? {} : JSON.parse(call.arguments);
  } catch {
    return { error: { code: 'input_invalid', message: `arguments of ${call.name} are not valid JSON` } };
  }
  // Model output is hostile: limits first, before the arguments are journaled or validated.
  try {
    env.skills.checkInput(skill, args);
  } catch (err) {
    return { error: toSkillplaneError(err).toJSON() };
  }

  // Policy first: an approval-required skill stops the run before anything is dispatched.
  let approval: { id: string; approved_by: string } | undefined;
  try {
    env.skills.check(skill);
  } catch (err) {
    if (!(err instanceof ApprovalRequiredError)) return { error: toSkillplaneError(err).toJSON() };
    const found = await env.approvals.forStep(exec.run.id, key);
    if (found === undefined) {
      const created = await env.approvals.request(exec.run, {
        stepKey: key,
        skill,
        args,
        riskTags: env.skills.riskTags(skill),
      });
      throw new SuspendForApproval(created.id, skill.id);
    }
    if (found.status === 'pending') throw new SuspendForApproval(found.id, skill.id);
    if (found.status !== 'approved')
      throw new ApprovalDeniedError(found.id, skill.id, found.status, found.reason);
    approval = { id: found.id, approved_by: found.decided_by ?? 'unknown' };
  }

  // Risk tags are the union over every loaded version of the id.
  const risky = env.skills.riskTags(skill).length > 0;
  const notRepeatable = risky ? 'risk_tagged' : skill.manifest.idempotent ? undefined : 'not_idempotent';
  const spec: StepSpec = {
    key,
    kind: 'skill',
    name: skill.ref,
    input: args,
    branch: p.branch,
    agent: p.agent,
    maxRetries: env.config.agents.max_step_retries,
    // A skill whose repeated call is not harmless is never retried nor re-run after a crash.
    ...(notRepeatable === undefined ? {} : { notRepeatable }),
    span: {
      name: `execute_tool ${skill.id}`,
      attributes: {
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': skill.id,
        'gen_ai.tool.call.id': call.id,
        'gen_ai.agent.name': p.agent,
      },
    },
  };
  try {
    return await exec.step(spec, async (signal, attempt, spanId, seq) => {
      try {
        const r = await env.skills.invoke({
          skill,
          input: args,
          door: 'run',
          signal,
          principal: exec.run.principal,
          runId: exec.run.id,
          stepKey: key,
          // Stable across retries and re-runs after a crash (same seq); attempt counts them.
          idempotencyKey: `${exec.run.id}:${seq}`,
          attempt,
          traceparent: formatTraceparent(exec.run.trace_id, spanId),
          ...(exec.run.tracestate === null ? {} : { tracestate: exec.run.tracestate }),
          ...(approval === undefined ? {} : { approval }),
          // The skill's ctx.logger: the run's lines, with this step's span.
          ...(exec.logger === undefined ? {} : { logger: exec.logger.child({ span_id: spanId }) }),
          // A call on the worker plane reports its progress into the run's stream.
          onProgress: (progress) => exec.progress(spec, seq, progress),
        });
        return { output: r.output };
      } catch (err) {
        const e = toSkillplaneError(err);
        if (signal.aborted || !TOOL_LEVEL_ERRORS.has(e.code)) throw e;
        // Recorded as a completed step holding the error, so a resumed run does not call it again.
        return { output: { error: e.toJSON() }, attributes: { 'error.type': e.code } };
      }
    });
  } catch (err) {
    const e = toSkillplaneError(err);
    // Only the skill's own failures (after any retries) go back to the model; cancellation,
    // budgets, an interrupted step, a lost lease or a store outage stop the run instead.
    if (!exec.signal.aborted && (TOOL_LEVEL_ERRORS.has(e.code) || RETRIED_SKILL_ERRORS.has(e.code))) {
      return { error: e.toJSON() };
    }
    throw e;
  }
}
