import { performance } from 'node:perf_hooks';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { grantApproval } from '../../access/index.js';
import { toSkillplaneError } from '../../errors/index.js';
import {
  isCallOutcome,
  optaArguments,
  optaCallResult,
  optaEmptyBodySchema,
  optaFailure,
  optaPrompt,
  optaPromptGetBodySchema,
  optaPromptName,
  optaResource,
  optaResourceReadBodySchema,
  optaTool,
  optaToolCallBodySchema,
  type OptaPromptGetBody,
} from '../../interop/opta-mcp.js';
import {
  MCP_CAPABILITIES,
  SKILL_URI_PREFIX,
  promptFor,
  readSkillResource,
  renderPrompt,
  resourceFor,
  toolFor,
} from '../../mcp/index.js';
import type { Skill } from '../../skills/index.js';
import { authorize } from '../auth.js';
import { clientGone, header, traceContext, type ApiContext } from '../context.js';
import { statusForCode } from '../errors.js';
import { jsonLimitError, requestJsonLimits } from '../guards.js';

/** Opta's `/v1/skills/mcp/…` paths and its MCP-spec `POST /mcp/…` twins (beside JSON-RPC `/mcp`). */
export const OPTA_MCP_PATHS = {
  tools: '/v1/skills/mcp/tools',
  call: '/v1/skills/mcp/call',
  prompts: ['/v1/skills/mcp/prompts', '/mcp/prompts/list'],
  promptGet: ['/v1/skills/mcp/prompts/get', '/mcp/prompts/get'],
  resources: ['/v1/skills/mcp/resources', '/mcp/resources/list'],
  resourceRead: '/mcp/resources/read',
  capabilities: ['/v1/skills/mcp/capabilities', '/mcp/capabilities'],
} as const;

/*
 * Not in the OpenAPI document: Opta-LMX's protocol, kept for its clients (the document names our
 * own MCP door). Errors are still problem documents with our `code`.
 */
const hidden = { hide: true } as const;

/**
 * Opta-LMX's REST MCP adapter over our owners: tools from the registry (latest versions), calls
 * through `ports.skills.invoker` exactly as `POST /v1/skills/:id/execute` makes them (door `mcp`),
 * prompts and documentation resources as our MCP server renders and reads them. Listing needs
 * `skills:read`, a call `skills:execute` (approving one also `approvals:write`).
 */
export const optaMcpRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (fastify, { ctx }) => {
  const { skills, config } = ctx.ports;
  const jsonLimits = requestJsonLimits(config);
  const find = (name: string): Skill | undefined => skills.registry.get(name);

  // Opta's `list_changed_at`: when this server last saw the catalogue change (or started).
  let listChangedAt = new Date().toISOString();
  const onChanged = () => {
    listChangedAt = new Date().toISOString();
  };
  skills.registry.on('skills.changed', onChanged);
  fastify.addHook('onClose', async () => {
    skills.registry.off('skills.changed', onChanged);
  });

  fastify.get(OPTA_MCP_PATHS.tools, { schema: hidden }, async (request) => {
    authorize(request, 'skills:read');
    const tools = skills.registry
      .list({ latestOnly: true })
      .map((skill) => optaTool(skill, toolFor(skill), find));
    return { tools, list_changed_at: listChangedAt };
  });

  fastify.post(
    OPTA_MCP_PATHS.call,
    { schema: { ...hidden, body: optaToolCallBodySchema } },
    async (request, reply) => {
      const principal = authorize(request, 'skills:execute');
      const body = request.body;
      const input = optaArguments(body.arguments);
      if (typeof body.arguments === 'string') {
        const tooBig = jsonLimitError(input, jsonLimits, 'arguments (JSON text)');
        if (tooBig !== undefined) throw tooBig;
      }
      const skill = skills.registry.resolve(body.name);
      const requiresApproval = skills.policy.approvalTags(skill).length > 0;
      const idempotencyKey = header(request, 'idempotency-key');
      const started = performance.now();
      const gone = clientGone(reply);
      try {
        const grant = grantApproval(
          principal,
          body.approved === true,
          'approved: true on the Opta MCP adapter',
        );
        const result = await skills.invoker.invoke({
          skill,
          input,
          door: 'mcp',
          principal: principal.name,
          signal: gone.signal,
          ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
          ...(grant === undefined ? {} : { approval: grant }),
          ...traceContext(request),
        });
        return optaCallResult(skill, { output: result.output }, result.durationMs, requiresApproval);
      } catch (raw) {
        const err = toSkillplaneError(raw, 'skill_failed');
        if (!isCallOutcome(err, statusForCode(err.code))) throw err;
        return optaCallResult(skill, { error: err }, performance.now() - started, requiresApproval);
      } finally {
        gone.dispose();
      }
    },
  );

  const listPrompts = async (request: FastifyRequest) => {
    authorize(request, 'skills:read');
    const prompts = skills.registry
      .list({ latestOnly: true, kind: 'prompt' })
      .map((skill) => optaPrompt(optaPromptName(skill, find), promptFor(skill)));
    return { ok: true, prompts };
  };

  const getPrompt = async (request: FastifyRequest<{ Body: OptaPromptGetBody }>, reply: FastifyReply) => {
    const principal = authorize(request, 'skills:read');
    const { name } = request.body;
    const skill = find(name);
    if (skill === undefined) return optaFailure('messages', 'not_found', `unknown prompt: ${name}`);
    if (skill.manifest.kind !== 'prompt')
      return optaFailure('messages', 'not_a_prompt_skill', `${name} is not a prompt skill`);
    const gone = clientGone(reply);
    try {
      const rendered = await renderPrompt(skills.invoker, skill, request.body.arguments ?? {}, {
        door: 'mcp',
        principal: principal.name,
        signal: gone.signal,
        ...traceContext(request),
      });
      return { ok: true, messages: rendered.messages, error: null, code: null };
    } catch (raw) {
      const err = toSkillplaneError(raw, 'skill_failed');
      // Wrong or missing arguments are Opta's "rendering failed", not a refused request.
      if (err.code !== 'input_invalid' && !isCallOutcome(err, statusForCode(err.code))) throw err;
      return optaFailure('messages', err.code, `prompt rendering failed: ${err.message}`);
    } finally {
      gone.dispose();
    }
  };

  const listResources = async (request: FastifyRequest) => {
    authorize(request, 'skills:read');
    return { ok: true, resources: skills.registry.list().map((skill) => optaResource(resourceFor(skill))) };
  };

  const capabilities = async (request: FastifyRequest) => {
    authorize(request, 'skills:read');
    return { ok: true, capabilities: MCP_CAPABILITIES };
  };

  const [promptsV1, promptsMcp] = OPTA_MCP_PATHS.prompts;
  fastify.get(promptsV1, { schema: hidden }, listPrompts);
  fastify.post(promptsMcp, { schema: { ...hidden, body: optaEmptyBodySchema } }, listPrompts);
  for (const url of OPTA_MCP_PATHS.promptGet)
    fastify.post(url, { schema: { ...hidden, body: optaPromptGetBodySchema } }, getPrompt);

  const [resourcesV1, resourcesMcp] = OPTA_MCP_PATHS.resources;
  fastify.get(resourcesV1, { schema: hidden }, listResources);
  fastify.post(resourcesMcp, { schema: { ...hidden, body: optaEmptyBodySchema } }, listResources);
  fastify.post(
    OPTA_MCP_PATHS.resourceRead,
    { schema: { ...hidden, body: optaResourceReadBodySchema } },
    async (request) => {
      authorize(request, 'skills:read');
      const { uri } = request.body;
      const contents = await readSkillResource(skills.registry, uri);
      if (contents !== undefined) return { ok: true, contents: [contents], error: null, code: null };
      return uri.startsWith(SKILL_URI_PREFIX)
        ? optaFailure('contents', 'not_found', `resource URI not found: ${uri}`)
        : optaFailure('contents', 'unsupported_uri', `unsupported resource URI scheme: ${uri}`);
    },
  );

  const [capabilitiesV1, capabilitiesMcp] = OPTA_MCP_PATHS.capabilities;
  fastify.get(capabilitiesV1, { schema: hidden }, capabilities);
  fastify.post(capabilitiesMcp, { schema: { ...hidden, body: optaEmptyBodySchema } }, capabilities);
};
