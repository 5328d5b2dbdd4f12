import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { RequestHandlerExtra } from '@modelcontextprotocol/sdk/shared/protocol.js';
import {
  CallToolRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  ReadResourceRequestSchema,
} from '@modelcontextprotocol/sdk/types.js';
import type {
  CallToolResult,
  GetPromptResult,
  ServerNotification,
  ServerRequest,
  Tool,
} from '@modelcontextprotocol/sdk/types.js';
import { grantApproval } from '../access/index.js';
import type { EdgePorts } from '../ports/index.js';
import { toSkillplaneError, type SkillplaneError } from '../errors/index.js';
import type { Skill } from '../skills/types.js';
import { parseTraceparent } from '../tracing/index.js';
import { AGENT_TOOLS, agentToolScope, callAgentTool, isAgentTool } from './agent-tools.js';
import { describeError, errorResult, okResult, type McpCallContext } from './results.js';
import {
  hasObjectOutput,
  promptFor,
  readSkillResource,
  renderPrompt,
  resourceFor,
  toolFor,
} from './skill-docs.js';

/** JSON-RPC error code of a resource that does not exist (MCP spec). */
const RESOURCE_NOT_FOUND = -32002;

/** What the MCP server supports: tools, prompts and resources, each with list-changed notifications. */
export const MCP_CAPABILITIES = {
  tools: { listChanged: true },
  prompts: { listChanged: true },
  resources: { listChanged: true },
} as const;

/** The extra argument the SDK passes to request handlers. */
export type McpRequestExtra = RequestHandlerExtra<ServerRequest, ServerNotification>;

/** A scope checked for an MCP operation. */
export type McpScope = 'runs:read' | 'runs:write' | 'skills:read' | 'skills:execute';

/** What {@link createMcpServer} needs. */
export interface McpServerDeps {
  ports: EdgePorts;
  /**
   * Checks `scope` for the HTTP request that carried the message and returns the principal;
   * throws a `SkillplaneError` (`unauthorized` / `forbidden`) when it is not granted.
   */
  authorize(extra: McpRequestExtra, scope: McpScope): { name: string; scopes: string[] };
  /** Server version reported at initialize. */
  version?: string;
}

const INSTRUCTIONS =
  'skillplane exposes its skills as tools (tool and workflow skills), prompts (prompt skills) and ' +
  'documentation resources (skill://<id>@<version>). Risk-tagged skills need a human approval: a ' +
  'principal holding approvals:write may give it with `_meta: {approved: true}` on the call; otherwise ' +
  'start an agent run with agents__start_run and have it approved through the approvals API.';

function isRunnableTool(skill: Skill): boolean {
  return skill.manifest.kind === 'tool' || skill.manifest.kind === 'workflow';
}

/** Trace context from `params._meta.traceparent`, else the HTTP headers; invalid values are dropped. */
function traceOf(
  meta: Record<string, unknown> | undefined,
  extra: McpRequestExtra,
): { traceparent?: string; tracestate?: string } {
  const header = (name: string): string | undefined => {
    const v = extra.requestInfo?.headers[name];
    return Array.isArray(v) ? v[0] : v;
  };
  const fromMeta = typeof meta?.traceparent === 'string';
  const traceparent = fromMeta ? (meta?.traceparent as string) : header('traceparent');
  const tracestateRaw = fromMeta ? meta?.tracestate : header('tracestate');
  const tracestate = typeof tracestateRaw === 'string' ? tracestateRaw : undefined;
  if (parseTraceparent(traceparent, tracestate) === undefined) return {};
  return { traceparent: traceparent!, ...(tracestate === undefined ? {} : { tracestate }) };
}

/** The message of a skill error for an MCP caller, with guidance for approvals. */
function skillErrorMessage(skill: Skill, e: SkillplaneError): string {
  if (e.code === 'approval_required') {
    return (
      `approval_required: ${e.message}. MCP never runs risk-tagged skills: approve the call through ` +
      `the REST API (POST /v1/skills/${encodeURIComponent(skill.id)}/execute with an approval) or ` +
      'start an agent run (agents__start_run) and approve its pending step via /v1/approvals.'
    );
  }
  return `${e.code}: ${describeError(e)}`;
}

function mcpErrorFrom(e: SkillplaneError): McpError {
  const code =
    e.code === 'input_invalid' || e.code === 'not_found' || e.code === 'approval_required'
      ? ErrorCode.InvalidParams
      : e.code === 'forbidden' || e.code === 'unauthorized' || e.code === 'permission_denied'
        ? ErrorCode.InvalidRequest
        : ErrorCode.InternalError;
  return new McpError(code, `${e.code}: ${describeError(e)}`, { code: e.code });
}

/**
 * Builds one MCP server (one per session) over the skill registry and the runtime, with low-level
 * handlers so the skills' JSON Schemas pass through untouched. Every call goes through
 * `ports.skills.invoker` (policy, approval, limits, deadline, audit) or `app.runtime`.
 */
export function createMcpServer(deps: McpServerDeps): Server {
  const { ports } = deps;
  const registry = ports.skills.registry;
  const server = new Server(
    { name: 'skillplane', version: deps.version ?? '0.1.0' },
    { capabilities: MCP_CAPABILITIES, instructions: INSTRUCTIONS },
  );
  const agentsEnabled = ports.config.agents.enabled;

  /** Authorizes a listing or read; failures are protocol errors. */
  const need = (extra: McpRequestExtra, scope: McpScope) => {
    try {
      return deps.authorize(extra, scope);
    } catch (err) {
      throw mcpErrorFrom(toSkillplaneError(err));
    }
  };

  server.setRequestHandler(ListToolsRequestSchema, (_req, extra) => {
    need(extra, 'skills:read');
    const tools: Tool[] = registry
      .list({ latestOnly: true })
      .filter((s) => isRunnableTool(s) && !isAgentTool(s.toolName))
      .map(toolFor);
    if (agentsEnabled) tools.push(...AGENT_TOOLS);
    return { tools };
  });

  server.setRequestHandler(CallToolRequestSchema, async (req, extra): Promise<CallToolResult> => {
    const { name } = req.params;
    const args = req.params.arguments ?? {};
    const trace = traceOf(req.params._meta, extra);
    const scope: McpScope = isAgentTool(name) ? agentToolScope(name) : 'skills:execute';
    const skill = isAgentTool(name) ? undefined : registry.get(name);
    if (!isAgentTool(name) && (skill === undefined || !isRunnableTool(skill)))
      throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
    let caller: { name: string; scopes: string[] };
    try {
      caller = deps.authorize(extra, scope);
    } catch (err) {
      const e = toSkillplaneError(err);
      return errorResult(`${e.code}: ${e.message}`, e.code);
    }
    const ctx: McpCallContext = {
      principal: caller.name,
      scopes: caller.scopes,
      signal: extra.signal,
      ...trace,
    };
    if (isAgentTool(name)) {
      if (!agentsEnabled) throw new McpError(ErrorCode.InvalidParams, `Unknown tool: ${name}`);
      return callAgentTool(ports, name, args, ctx);
    }
    try {
      const meta = req.params._meta as { approved?: unknown; approval_reason?: unknown } | undefined;
      const approval = grantApproval(
        caller,
        meta?.approved === true,
        typeof meta?.approval_reason === 'string' ? meta.approval_reason : undefined,
      );
      const r = await ports.skills.invoker.invoke({
        skill: skill!,
        input: args,
        door: 'mcp',
        principal: caller.name,
        signal: extra.signal,
        ...(approval === undefined ? {} : { approval }),
        ...trace,
      });
      return okResult(r.output, hasObjectOutput(skill!));
    } catch (err) {
      const e = toSkillplaneError(err);
      return errorResult(skillErrorMessage(skill!, e), e.code);
    }
  });

  server.setRequestHandler(ListPromptsRequestSchema, (_req, extra) => {
    need(extra, 'skills:read');
    return { prompts: registry.list({ latestOnly: true, kind: 'prompt' }).map(promptFor) };
  });

  server.setRequestHandler(GetPromptRequestSchema, async (req, extra): Promise<GetPromptResult> => {
    const principal = need(extra, 'skills:read').name;
    const skill = registry.get(req.params.name);
    if (skill === undefined || skill.manifest.kind !== 'prompt')
      throw new McpError(ErrorCode.InvalidParams, `Unknown prompt: ${req.params.name}`);
    try {
      return await renderPrompt(ports.skills.invoker, skill, req.params.arguments ?? {}, {
        door: 'mcp',
        principal,
        signal: extra.signal,
        ...traceOf(req.params._meta, extra),
      });
    } catch (err) {
      throw mcpErrorFrom(toSkillplaneError(err));
    }
  });

  server.setRequestHandler(ListResourcesRequestSchema, (_req, extra) => {
    need(extra, 'skills:read');
    return { resources: registry.list().map(resourceFor) };
  });

  server.setRequestHandler(ReadResourceRequestSchema, async (req, extra) => {
    need(extra, 'skills:read');
    const { uri } = req.params;
    const contents = await readSkillResource(registry, uri);
    if (contents === undefined) throw new McpError(RESOURCE_NOT_FOUND, `Resource not found: ${uri}`, { uri });
    return { contents: [contents] };
  });

  return server;
}
