import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EdgePorts } from '../../ports/index.js';
import type { Scope } from '../../config/index.js';
import { grantApproval } from '../../access/index.js';
import { SkillplaneError, toSkillplaneError } from '../../errors/index.js';
import type { Skill } from '../../skills/index.js';
import type { JsonLimits } from '../../limits/index.js';
import { clientGone, traceContext } from '../context.js';
import { statusForCode } from '../errors.js';
import { jsonLimitError, requestJsonLimits } from '../guards.js';

/** A scope the API knows. */
export type OpenclawAuthScope = Scope;

/** Options of {@link openclawPlugin}. */
export interface OpenclawPluginOptions {
  ports: EdgePorts;
  /**
   * Authenticates the request and checks one scope; throws a `SkillplaneError` with code
   * `unauthorized` (→ 401) or `forbidden` (→ 403).
   */
  authorize: (request: FastifyRequest, scope: OpenclawAuthScope) => { name: string; scopes: string[] };
  /** Limits of arguments given as a JSON string (default: the app's `server.max_json_*`). */
  jsonLimits?: JsonLimits;
}

/** The paths of the OpenClaw Tools Invoke shim. */
export const OPENCLAW_INVOKE_PATHS = ['/tools/invoke', '/v1/openclaw/invoke', '/v1/skills/openclaw/invoke'];

/** OpenClaw's default maximum payload: 2 MB. */
export const OPENCLAW_BODY_LIMIT = 2 * 1024 * 1024;

/** Longest `timeout_sec` accepted (one day). */
const MAX_TIMEOUT_SEC = 86_400;

/** A parsed invoke request (OpenClaw's body with Opta-LMX's variants folded in). */
export interface InvokeRequest {
  tool: string;
  action: string | undefined;
  args: Record<string, unknown>;
  sessionKey: string | undefined;
  dryRun: boolean;
  approved: boolean;
  timeoutSec: number | undefined;
}

/** An OpenClaw error answer. */
class InvokeError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

const bad = (message: string) => new InvokeError(400, 'invalid_request', message);

/**
 * Reads an invoke body: tool from `tool` | `name` | `tool_name`, arguments from `args` |
 * `arguments` | `input` | `params` (an object or a JSON string), plus `action`, `sessionKey`,
 * `dryRun`, `approved` and `timeout_sec`. Throws a 400 {@link InvokeError} when malformed, and
 * `input_invalid` when arguments given as a JSON string break `limits`.
 */
export function parseInvokeBody(body: unknown, limits?: JsonLimits): InvokeRequest {
  if (!isObject(body)) throw bad('the body must be a JSON object');
  const toolField = (['tool', 'name', 'tool_name'] as const).find((k) => body[k] !== undefined);
  const tool = toolField === undefined ? undefined : body[toolField];
  if (typeof tool !== 'string' || tool.trim() === '') throw bad('tool is required (a non-empty string)');
  const argsField = (['args', 'arguments', 'input', 'params'] as const).find(
    (k) => body[k] !== undefined && body[k] !== null,
  );
  let args: unknown = argsField === undefined ? {} : body[argsField];
  if (typeof args === 'string') {
    if (args.trim() === '') args = {};
    else {
      try {
        args = JSON.parse(args) as unknown;
      } catch {
        throw bad(`${argsField} is not valid JSON`);
      }
      const tooBig =
        limits === undefined ? undefined : jsonLimitError(args, limits, `${argsField} (JSON text)`);
      if (tooBig !== undefined) throw tooBig;
    }
  }
  if (!isObject(args)) throw bad(`${argsField ?? 'args'} must be an object`);
  const opt = <T>(key: string, type: 'string' | 'boolean' | 'number'): T | undefined => {
    const v = body[key];
    if (v === undefined || v === null) return undefined;
    if (typeof v !== type) throw bad(`${key} must be a ${type}`);
    return v as T;
  };
  const timeoutSec = opt<number>('timeout_sec', 'number');
  if (timeoutSec !== undefined && !(timeoutSec > 0 && timeoutSec <= MAX_TIMEOUT_SEC))
    throw bad(`timeout_sec must be > 0 and <= ${MAX_TIMEOUT_SEC}`);
  return {
    tool: tool.trim(),
    action: opt<string>('action', 'string'),
    args,
    sessionKey: opt<string>('sessionKey', 'string'),
    dryRun: opt<boolean>('dryRun', 'boolean') ?? false,
    approved: opt<boolean>('approved', 'boolean') ?? false,
    timeoutSec,
  };
}

/** Folds `action` into the arguments when the skill's input schema has an `action` property and args lack it. */
export function foldAction(skill: Skill, args: Record<string, unknown>, action: string | undefined) {
  if (action === undefined || args.action !== undefined) return args;
  const props = skill.inputSchema.properties;
  if (!isObject(props) || !('action' in props)) return args;
  return { ...args, action };
}

/** Refusals of the server's root hooks: they keep their HTTP status, in OpenClaw's shape. */
const REQUEST_REFUSALS = new Set([
  'unauthorized',
  'forbidden',
  'forbidden_host',
  'forbidden_origin',
  'rate_limited',
  'shutting_down',
]);

function invokeErrorFrom(err: SkillplaneError): InvokeError {
  if (REQUEST_REFUSALS.has(err.code)) return new InvokeError(statusForCode(err.code), err.code, err.message);
  switch (err.code) {
    case 'approval_required':
      return new InvokeError(400, err.code, err.message, { requires_approval: true });
    case 'permission_denied':
      return new InvokeError(400, err.code, err.message, { denied: true });
    case 'timeout':
      return new InvokeError(400, err.code, err.message, { timed_out: true });
    case 'internal_error':
      return new InvokeError(500, err.code, 'internal error');
    default:
      return new InvokeError(400, err.code, err.message);
  }
}

function sendError(reply: FastifyReply, e: InvokeError): FastifyReply {
  if (e.status === 401) void reply.header('www-authenticate', 'Bearer');
  return reply
    .code(e.status)
    .type('application/json')
    .send({ ok: false, error: { type: e.type, message: e.message }, ...e.extra });
}

async function invoke(opts: OpenclawPluginOptions, request: FastifyRequest, reply: FastifyReply) {
  const { ports } = opts;
  const principal = opts.authorize(request, 'skills:execute');
  const req = parseInvokeBody(request.body, opts.jsonLimits ?? requestJsonLimits(ports.config));
  const skill = ports.skills.registry.get(req.tool);
  if (skill === undefined) throw new InvokeError(404, 'not_found', `Tool not available: ${req.tool}`);
  const args = foldAction(skill, req.args, req.action);
  const approval = grantApproval(principal, req.approved, 'approved: true on tools invoke');
  if (req.dryRun) {
    ports.skills.invoker.check(skill, approval);
    ports.skills.invoker.validate(skill, args);
    return reply.send({
      ok: true,
      result: { dryRun: true, valid: true, tool: skill.toolName, skill: skill.ref },
    });
  }
  const gone = clientGone(reply);
  try {
    const r = await ports.skills.invoker.invoke({
      skill,
      input: args,
      door: 'openclaw',
      principal: principal.name,
      signal: gone.signal,
      ...(req.timeoutSec === undefined ? {} : { timeoutMs: req.timeoutSec * 1000 }),
      ...(approval === undefined ? {} : { approval }),
      ...traceContext(request),
    });
    return reply.send({ ok: true, result: r.output ?? null });
  } finally {
    gone.dispose();
  }
}

/**
 * OpenClaw's Tools Invoke HTTP API over skillplane's skills: `POST /tools/invoke` and the aliases
 * `POST /v1/openclaw/invoke` and `POST /v1/skills/openclaw/invoke`. `tool` is a skill reference
 * (`acme/search`, `acme/search@^1`) or its tool name (`acme__search`); `args` is the skill's input.
 * Calls go through `ports.skills.invoker` (same policy, approval, limits and audit as REST); a risk-tagged skill
 * runs only with `approved: true` from a principal holding `approvals:write`. Answers are
 * OpenClaw-shaped (`{ok, result}` / `{ok: false, error: {type, message}}`), never problem+json.
 *
 * Register with `await fastify.register(openclawPlugin, {ports, authorize})`.
 */
export async function openclawPlugin(fastify: FastifyInstance, opts: OpenclawPluginOptions): Promise<void> {
  // Encapsulated: applies to these routes only (body parse errors, size limit, media type).
  fastify.setErrorHandler((err: FastifyError, request, reply) => {
    if (err instanceof InvokeError) return sendError(reply, err);
    if (err instanceof SkillplaneError) return sendError(reply, invokeErrorFrom(err));
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 500) {
      request.log.error({ err }, 'tools invoke failed');
      return sendError(reply, new InvokeError(500, 'internal_error', 'internal error'));
    }
    const type =
      status === 413 ? 'payload_too_large' : status === 415 ? 'unsupported_media_type' : 'invalid_request';
    return sendError(reply, new InvokeError(status, type, err.message));
  });

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    try {
      return await invoke(opts, request, reply);
    } catch (err) {
      if (err instanceof InvokeError) return sendError(reply, err);
      const e = toSkillplaneError(err);
      if (e.code === 'internal_error') request.log.error({ err }, 'tools invoke failed');
      return sendError(reply, invokeErrorFrom(e));
    }
  };
  const notAllowed = async (request: FastifyRequest, reply: FastifyReply) => {
    void reply.header('allow', 'POST');
    return sendError(
      reply,
      new InvokeError(405, 'method_not_allowed', `${request.method} is not allowed; use POST`),
    );
  };
  // Not in the OpenAPI document (OpenClaw's protocol, its own error shape; the document names the
  // door), and neither are the 405 answers to other methods.
  const hidden = { hide: true };
  for (const url of OPENCLAW_INVOKE_PATHS) {
    fastify.route({ method: 'POST', url, bodyLimit: OPENCLAW_BODY_LIMIT, schema: hidden, handler });
    fastify.route({ method: ['GET', 'PUT', 'PATCH', 'DELETE'], url, schema: hidden, handler: notAllowed });
  }
}
