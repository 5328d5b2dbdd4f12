import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { PRIORITIES } from '../../vocabulary/index.js';
import { redactUrl } from '../../workers/index.js';
import { ALL_SCOPES, authorize } from '../auth.js';
import type { ApiContext } from '../context.js';
import { problemResponses } from '../schemas.js';

/*
 * What the dashboard needs besides the run, approval and skill routes: who the key is (so the page
 * shows only the buttons its scopes allow) and the model backends' limiter queues.
 */

const scopeList = z.array(z.enum(ALL_SCOPES as [string, ...string[]]));

/** `GET /v1/auth/whoami`. */
export const whoamiResponseSchema = z
  .looseObject({
    principal: z.string().describe('The key’s principal (`x-user-id` or `anonymous` when auth is open)'),
    scopes: scopeList.describe('What the key may do; `admin` is expanded to every scope'),
    open: z.boolean().describe('No keys are configured (loopback only): every caller has every scope'),
    trace_viewer_url: z
      .string()
      .nullable()
      .describe(
        'The configured trace viewer, `{trace_id}` marking where a run’s trace id goes; null when unset',
      ),
  })
  .meta({ id: 'Whoami' });

const waitingSchema = z.looseObject(
  Object.fromEntries(PRIORITIES.map((p) => [p, z.number().int()])) as Record<
    (typeof PRIORITIES)[number],
    z.ZodNumber
  >,
);

/** `GET /v1/models/backends`. */
export const backendsResponseSchema = z
  .looseObject({
    backends: z.array(
      z.looseObject({
        name: z.string().describe('The backend’s name in `models`'),
        model: z.string(),
        base_url: z.string().describe('The backend’s URL, credentials redacted'),
        in_flight: z.number().int().describe('Requests being answered now'),
        capacity: z.number().int().describe('`max_concurrency`'),
        waiting: waitingSchema.describe('Requests queued in the limiter, by run priority'),
      }),
    ),
  })
  .meta({ id: 'ModelBackends' });

/** `GET /v1/skill-sources`. */
export const skillSourcesResponseSchema = z
  .looseObject({
    sources: z.array(
      z.looseObject({
        ref: z.string().describe('`id@version`'),
        file: z.string().describe('Absolute path of the manifest the skill was loaded from'),
        dir: z.string().describe('Absolute folder of the skill'),
        source: z.string().describe('`skill.yaml`, `SKILL.md` or `agent-skill`'),
      }),
    ),
  })
  .meta({ id: 'SkillSources' });

/** Who the caller is and the model backends' queues. */
export const dashboardRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (fastify, { ctx }) => {
  fastify.get(
    '/v1/auth/whoami',
    {
      schema: {
        operationId: 'whoami',
        summary: 'The caller’s principal and scopes',
        description:
          'Any valid key (no particular scope): its principal and scopes, so a client (the dashboard) can ' +
          'offer only what the key may do, and the trace viewer URL of the config.',
        tags: ['system'],
        response: {
          200: {
            description: 'The caller',
            content: { 'application/json': { schema: whoamiResponseSchema } },
          },
          ...problemResponses(401, 429),
        },
      },
    },
    async (request) => {
      const principal = authorize(request);
      return {
        principal: principal.name,
        scopes: principal.scopes,
        open: request.skillplaneAuth?.key === null,
        trace_viewer_url: ctx.ports.config.tracing.viewer_url,
      };
    },
  );

  fastify.get(
    '/v1/models/backends',
    {
      schema: {
        operationId: 'listModelBackends',
        summary: 'Model backends and their limiter queues',
        description:
          'Each configured backend with the requests it answers now, its concurrency and the requests ' +
          'waiting in its priority limiter. Scope `runs:read`.',
        tags: ['system'],
        response: {
          200: {
            description: 'Every backend',
            content: { 'application/json': { schema: backendsResponseSchema } },
          },
          ...problemResponses(401, 403, 429),
        },
      },
    },
    async (request) => {
      authorize(request, 'runs:read');
      const stats = ctx.ports.models.stats();
      const backends = Object.entries(ctx.ports.config.models).map(([name, backend]) => {
        const s = stats[name];
        return {
          name,
          model: backend.model,
          base_url: redactUrl(backend.base_url),
          in_flight: s?.inFlight ?? 0,
          capacity: s?.capacity ?? backend.max_concurrency,
          waiting: { interactive: 0, normal: 0, batch: 0, ...(s?.waiting ?? {}) },
        };
      });
      return { backends };
    },
  );

  fastify.get(
    '/v1/skill-sources',
    {
      schema: {
        operationId: 'listSkillSources',
        summary: 'Where each skill version was loaded from',
        description: 'The manifest file and folder of every loaded skill version. Scope `skills:read`.',
        tags: ['skills'],
        response: {
          200: {
            description: 'Every skill version’s manifest',
            content: { 'application/json': { schema: skillSourcesResponseSchema } },
          },
          ...problemResponses(401, 403, 429),
        },
      },
    },
    async (request) => {
      authorize(request, 'skills:read');
      const skills = ctx.ports.skills.registry.list({ latestOnly: false });
      return { sources: skills.map((s) => ({ ref: s.ref, file: s.file, dir: s.dir, source: s.source })) };
    },
  );
};
