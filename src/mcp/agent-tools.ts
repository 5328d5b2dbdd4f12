import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import type { EdgePorts } from '../ports/index.js';
import { PRIORITIES, STRATEGIES } from '../agents/index.js';
import type { RunRequestInput } from '../agents/index.js';
import { canSeeRun, visibilityPolicy } from '../access/index.js';
import { NotFoundError, toSkillplaneError } from '../errors/index.js';
import type { Run } from '../store/index.js';
import { runSummary } from '../interop/index.js';
import { describeError, errorResult, okResult, type McpCallContext } from './results.js';

/** Names of the agents tools. */
export const AGENT_TOOL_NAMES = ['agents__start_run', 'agents__get_run', 'agents__cancel_run'] as const;
/** One agents tool name. */
export type AgentToolName = (typeof AGENT_TOOL_NAMES)[number];

/** Longest `wait_sec` honoured by `agents__get_run`. */
export const MAX_WAIT_SEC = 60;

const runIdInput = { type: 'string', minLength: 1, description: 'The run id (`run_…`).' };

const runView = {
  type: 'object',
  required: ['run_id', 'status'],
  properties: {
    run_id: { type: 'string' },
    status: { type: 'string' },
  },
};

/** The MCP tool descriptors of the agents tool set. */
export const AGENT_TOOLS: readonly Tool[] = [
  {
    name: 'agents__start_run',
    title: 'Start an agent run',
    description:
      'Starts an agent run (single agent, router, handoff or parallel_map) and returns its id; ' +
      'poll it with agents__get_run.',
    inputSchema: {
      type: 'object',
      required: ['input'],
      additionalProperties: false,
      properties: {
        agent: { type: 'string', description: 'The agent to run (the first or router agent).' },
        agents: { type: 'array', items: { type: 'string' }, description: 'Candidate or fan-out agents.' },
        strategy: { type: 'string', enum: [...STRATEGIES], default: 'single' },
        input: {
          description: 'The task: a string, or chat messages.',
          anyOf: [
            { type: 'string' },
            {
              type: 'array',
              minItems: 1,
              items: {
                type: 'object',
                required: ['role', 'content'],
                properties: {
                  role: { type: 'string', enum: ['system', 'user', 'assistant'] },
                  content: { type: 'string' },
                },
              },
            },
          ],
        },
        items: { type: 'array', description: 'parallel_map: one branch per item.' },
        priority: { type: 'string', enum: [...PRIORITIES], default: 'normal' },
      },
    },
    outputSchema: runView as Tool['outputSchema'],
    annotations: {
      title: 'Start an agent run',
      readOnlyHint: false,
      destructiveHint: false,
      idempotentHint: false,
      openWorldHint: true,
    },
  },
  {
    name: 'agents__get_run',
    title: 'Get an agent run',
    description:
      'Returns the status, result, error and usage of a run; with wait_sec, waits up to that many ' +
      `seconds (at most ${MAX_WAIT_SEC}) for it to finish or stop for an approval.`,
    inputSchema: {
      type: 'object',
      required: ['run_id'],
      additionalProperties: false,
      properties: {
        run_id: runIdInput,
        wait_sec: { type: 'number', minimum: 0, maximum: MAX_WAIT_SEC },
      },
    },
    outputSchema: runView as Tool['outputSchema'],
    annotations: { title: 'Get an agent run', readOnlyHint: true, openWorldHint: false },
  },
  {
    name: 'agents__cancel_run',
    title: 'Cancel an agent run',
    description: 'Cancels a queued, running or waiting run, reaching every branch.',
    inputSchema: {
      type: 'object',
      required: ['run_id'],
      additionalProperties: false,
      properties: { run_id: runIdInput },
    },
    outputSchema: runView as Tool['outputSchema'],
    annotations: {
      title: 'Cancel an agent run',
      readOnlyHint: false,
      destructiveHint: true,
      idempotentHint: true,
      openWorldHint: false,
    },
  },
];

/** True when `name` is one of the agents tools. */
export function isAgentTool(name: string): name is AgentToolName {
  return (AGENT_TOOL_NAMES as readonly string[]).includes(name);
}

/** The scope an agents tool needs. */
export function agentToolScope(name: AgentToolName): 'runs:read' | 'runs:write' {
  return name === 'agents__get_run' ? 'runs:read' : 'runs:write';
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const START_FIELDS = ['agent', 'agents', 'strategy', 'input', 'items', 'priority'] as const;

/** A run the caller may see (the API's visibility rule); `not_found` otherwise, as for a missing one. */
async function visibleRun(ports: EdgePorts, runId: string, ctx: McpCallContext): Promise<Run> {
  const run = await ports.runs.getRun(runId);
  if (!canSeeRun({ name: ctx.principal, scopes: ctx.scopes }, run, visibilityPolicy(ports.config)))
    throw new NotFoundError('run', runId);
  return run;
}

/**
 * Runs one agents tool. Failures (unknown agent, invalid request, unknown run, full queue, …)
 * are `isError` results carrying the error code.
 */
export async function callAgentTool(
  ports: EdgePorts,
  name: AgentToolName,
  args: unknown,
  ctx: McpCallContext,
): Promise<CallToolResult> {
  if (!isObject(args)) return errorResult('arguments must be an object', 'input_invalid');
  const runId = typeof args.run_id === 'string' ? args.run_id : undefined;
  try {
    switch (name) {
      case 'agents__start_run': {
        const extra = Object.keys(args).filter((k) => !(START_FIELDS as readonly string[]).includes(k));
        if (extra.length > 0) return errorResult(`unknown argument(s): ${extra.join(', ')}`, 'input_invalid');
        const request = Object.fromEntries(
          START_FIELDS.filter((k) => args[k] !== undefined).map((k) => [k, args[k]]),
        ) as unknown as RunRequestInput;
        const { run } = await ports.runs.submit(request, {
          principal: ctx.principal,
          ...(ctx.traceparent === undefined ? {} : { traceparent: ctx.traceparent }),
          ...(ctx.tracestate === undefined ? {} : { tracestate: ctx.tracestate }),
        });
        return okResult({ run_id: run.id, status: run.status }, true);
      }
      case 'agents__get_run': {
        if (runId === undefined) return errorResult('run_id is required', 'input_invalid');
        const waitSec =
          typeof args.wait_sec === 'number' ? Math.min(Math.max(args.wait_sec, 0), MAX_WAIT_SEC) : 0;
        const seen = await visibleRun(ports, runId, ctx);
        const run =
          waitSec > 0
            ? await ports.runs.wait(runId, { timeoutMs: waitSec * 1000, signal: ctx.signal })
            : seen;
        return okResult(runSummary(run), true);
      }
      case 'agents__cancel_run': {
        if (runId === undefined) return errorResult('run_id is required', 'input_invalid');
        await visibleRun(ports, runId, ctx);
        const run = await ports.runs.cancel(runId, ctx.principal);
        return okResult({ run_id: run.id, status: run.status }, true);
      }
    }
  } catch (err) {
    const e = toSkillplaneError(err);
    return errorResult(`${e.code}: ${describeError(e)}`, e.code);
  }
}
