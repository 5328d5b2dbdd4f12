import type { FastifyReply, FastifyRequest } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { grantApproval } from '../../access/index.js';
import { SkillplaneError, ValidationError, toSkillplaneError } from '../../errors/index.js';
import { authorize } from '../auth.js';
import type { JsonLimits } from '../../limits/index.js';
import { clientGone, header, traceContext, type ApiContext } from '../context.js';
import { jsonLimitError, requestJsonLimits } from '../guards.js';
import { presentSkill } from '../present.js';
import {
  executeSkillBodySchema,
  executeSkillResponseSchema,
  listSkillsQuerySchema,
  problemResponses,
  reloadResponseSchema,
  skillDetailSchema,
  skillIdParamsSchema,
  skillLoadErrorSchema,
  skillSummarySchema,
} from '../schemas.js';

type ExecuteBody = z.infer<typeof executeSkillBodySchema>;

/**
 * The skill input from our `input` or Opta's `arguments` (an object or a JSON string, which must
 * keep within the request JSON limits once parsed).
 */
function inputOf(body: ExecuteBody, limits: JsonLimits): unknown {
  if (body.input !== undefined) return body.input;
  if (typeof body.arguments === 'string') {
    if (body.arguments.trim() === '') return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.arguments) as unknown;
    } catch {
      throw new ValidationError(
        'arguments is not valid JSON',
        [{ path: 'arguments', message: 'expected a JSON object' }],
        'invalid_request',
      );
    }
    const tooBig = jsonLimitError(parsed, limits, 'arguments (JSON text)');
    if (tooBig !== undefined) throw tooBig;
    return parsed;
  }
  return body.arguments ?? {};
}

/** Opta's result flags for an error, added to the problem document. */
function optaFailure(err: SkillplaneError): SkillplaneError {
  return new SkillplaneError(err.code, err.message, {
    data: {
      ...(err.data ?? {}),
      ok: false,
      output: null,
      timed_out: err.code === 'timeout',
      denied: ['permission_denied', 'approval_required', 'approval_denied', 'forbidden'].includes(err.code),
      requires_approval: err.code === 'approval_required',
    },
    cause: err,
  });
}

/** `all_versions=true` or Opta-LMX's `latest_only=false` list every version; both at odds are refused. */
function latestOnly(q: { all_versions?: 'true' | 'false'; latest_only?: 'true' | 'false' }): boolean {
  const ours = q.all_versions === undefined ? undefined : q.all_versions !== 'true';
  const opta = q.latest_only === undefined ? undefined : q.latest_only === 'true';
  if (ours !== undefined && opta !== undefined && ours !== opta)
    throw new ValidationError(
      'all_versions and latest_only disagree',
      [{ path: 'latest_only', message: 'give one of all_versions, latest_only' }],
      'invalid_request',
    );
  return ours ?? opta ?? true;
}

/** The skill a route names: `:id` (percent-encoded), or Opta-LMX's unencoded `:namespace/:name`. */
function refOf(params: { id?: string; namespace?: string; name?: string }): string {
  return params.id ?? `${params.namespace ?? ''}/${params.name ?? ''}`;
}

/** Opta-LMX's path form of a skill: `/v1/skills/openclaw/planner@2.0.0` (slash not encoded). */
const skillPathParamsSchema = z.strictObject({
  namespace: z.string().min(1).max(100),
  name: z.string().min(1).max(200),
});

/** Skills: catalogue, direct execution (policy applies) and reload. */
export const skillRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (fastify, { ctx }) => {
  const { skills, config, audit } = ctx.ports;
  const jsonLimits = requestJsonLimits(config);

  /** One skill with its schemas and manifest. */
  function detail(ref: string): z.infer<typeof skillDetailSchema> {
    const skill = skills.registry.resolve(ref);
    return {
      ...presentSkill(skill, skills.policy),
      versions: skills.registry.versions(skill.id).map((s) => s.version),
      input_schema: skill.inputSchema,
      output_schema: skill.outputSchema ?? null,
      manifest: skill.manifest as unknown as Record<string, unknown>,
    } as z.infer<typeof skillDetailSchema>;
  }

  /** A direct execution of the skill `ref` names (policy applies). */
  async function execute(
    ref: string,
    body: ExecuteBody,
    request: FastifyRequest,
    reply: FastifyReply,
  ): Promise<z.infer<typeof executeSkillResponseSchema>> {
    const principal = authorize(request, 'skills:execute');
    const input = inputOf(body, jsonLimits);
    const skill = skills.registry.resolve(ref);
    const approved = body.approval?.approved === true || body.approved === true;
    const idempotencyKey = header(request, 'idempotency-key');
    const gone = clientGone(reply);
    try {
      const grant = grantApproval(principal, approved, body.approval?.reason);
      const result = await skills.invoker.invoke({
        skill,
        input,
        door: 'http',
        principal: principal.name,
        signal: gone.signal,
        // Passed to the skill as ctx.idempotencyKey (else the invoker makes a fresh one).
        ...(idempotencyKey === undefined ? {} : { idempotencyKey }),
        ...(body.timeout_sec === undefined ? {} : { timeoutMs: body.timeout_sec * 1000 }),
        ...(grant === undefined ? {} : { approval: grant }),
        ...traceContext(request),
      });
      return {
        skill: result.skill,
        output: result.output,
        duration_ms: Math.round(result.durationMs * 1000) / 1000,
        ok: true,
        error: null,
        timed_out: false,
        denied: false,
        requires_approval: skills.policy.approvalTags(skill).length > 0,
        approved_by: grant?.approved_by ?? null,
      };
    } catch (raw) {
      throw optaFailure(toSkillplaneError(raw, 'skill_failed'));
    } finally {
      gone.dispose();
    }
  }

  fastify.get(
    '/v1/skills',
    {
      schema: {
        operationId: 'listSkills',
        summary: 'List skills',
        description:
          'The latest version of each id unless `all_versions=true`; `load_errors` counts skills that failed ' +
          'to load. Scope `skills:read`.',
        tags: ['skills'],
        querystring: listSkillsQuerySchema,
        response: {
          200: {
            description: 'The catalogue',
            content: {
              'application/json': {
                schema: z.looseObject({
                  skills: z.array(skillSummarySchema),
                  load_errors: z.number().int(),
                  load_error_details: z.array(skillLoadErrorSchema),
                }),
              },
            },
          },
          ...problemResponses(400, 401, 403, 429),
        },
      },
    },
    async (request) => {
      authorize(request, 'skills:read');
      const q = request.query;
      const list = skills.registry.list({
        ...(q.namespace === undefined ? {} : { namespace: q.namespace }),
        ...(q.kind === undefined ? {} : { kind: q.kind }),
        ...(q.tag === undefined ? {} : { tag: q.tag }),
        latestOnly: latestOnly(q),
      });
      const items = list.map((s) => presentSkill(s, skills.policy));
      return {
        skills: items,
        // Opta-LMX's envelope, under `api.compat: opta-lmx`.
        ...(ctx.opta.compat ? { object: 'list' as const, data: items } : {}),
        load_errors: skills.loadErrors().length,
        // Which files failed and why (the count alone says nothing to act on).
        load_error_details: skills.loadErrors(),
      };
    },
  );

  fastify.get(
    '/v1/skills/:id',
    {
      schema: {
        operationId: 'getSkill',
        summary: 'One skill',
        description:
          'The id is percent-encoded and may pin `@version` or a range (`acme%2Fsearch%40%5E1`). Scope `skills:read`.',
        tags: ['skills'],
        params: skillIdParamsSchema,
        response: {
          200: {
            description: 'The skill with its schemas and manifest',
            content: { 'application/json': { schema: skillDetailSchema } },
          },
          ...problemResponses(400, 401, 403, 404, 429),
        },
      },
    },
    async (request) => {
      authorize(request, 'skills:read');
      return detail(request.params.id);
    },
  );

  fastify.get(
    '/v1/skills/:namespace/:name',
    {
      schema: {
        hide: true,
        params: skillPathParamsSchema,
        response: { 200: skillDetailSchema, ...problemResponses(400, 401, 403, 404, 429) },
      },
    },
    async (request) => {
      authorize(request, 'skills:read');
      return detail(refOf(request.params));
    },
  );

  fastify.post(
    '/v1/skills/:id/execute',
    {
      schema: {
        operationId: 'executeSkill',
        summary: 'Execute a skill directly',
        description:
          'Policy applies: a risk-tagged skill needs an approval. Body `{input, approval?: {approved, reason?}}` ' +
          'or Opta’s `{arguments, approved, timeout_sec}`. Approving needs the `approvals:write` scope; the ' +
          'audit trail records who approved. A failure’s problem document also carries Opta’s `ok: false`, ' +
          '`error: {code, message}`, `timed_out`, `denied` and `requires_approval`. Scope `skills:execute`.',
        tags: ['skills'],
        params: skillIdParamsSchema,
        body: executeSkillBodySchema,
        response: {
          200: {
            description: 'The skill’s output',
            content: { 'application/json': { schema: executeSkillResponseSchema } },
          },
          ...problemResponses(400, 401, 403, 404, 413, 415, 422, 429, 500, 504),
        },
      },
    },
    async (request, reply) => execute(refOf(request.params), request.body, request, reply),
  );

  fastify.post(
    '/v1/skills/:namespace/:name/execute',
    {
      schema: {
        hide: true,
        params: skillPathParamsSchema,
        body: executeSkillBodySchema,
        response: {
          200: executeSkillResponseSchema,
          ...problemResponses(400, 401, 403, 404, 413, 415, 422, 429, 500, 504),
        },
      },
    },
    async (request, reply) => execute(refOf(request.params), request.body, request, reply),
  );

  fastify.post(
    '/v1/skills/reload',
    {
      schema: {
        operationId: 'reloadSkills',
        summary: 'Reload every skill folder',
        description:
          'A risk tag that a manifest dropped keeps applying to every version of its skill until an ' +
          'operator accepts the change with `?reset_risk_tags=true` (or restarts the server). Scope `admin`.',
        tags: ['skills'],
        querystring: z.strictObject({
          reset_risk_tags: z
            .enum(['true', 'false'])
            .optional()
            .describe('`true`: accept the risk tags that manifests dropped'),
        }),
        response: {
          200: {
            description: 'How many skills loaded, and each load error',
            content: { 'application/json': { schema: reloadResponseSchema } },
          },
          ...problemResponses(400, 401, 403, 429),
        },
      },
    },
    async (request) => {
      const principal = authorize(request, 'admin');
      const reset = request.query.reset_risk_tags === 'true';
      const result = await skills.reload({ resetRiskTags: reset });
      await audit.append({
        principal: principal.name,
        action: 'skills.reload',
        target: null,
        data: { reset_risk_tags: reset, skills: result.skills, errors: result.errors.length },
      });
      return { skills: result.skills, errors: result.errors };
    },
  );
};
