import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { SkillplaneError } from '../../errors/index.js';
import type { StoreHealth } from '../../store/index.js';
import { authorize } from '../auth.js';
import { sendProblem } from '../errors.js';
import type { ApiContext } from '../context.js';
import {
  agentsResponseSchema,
  healthSchema,
  problemResponses,
  readinessSchema,
  workersResponseSchema,
} from '../schemas.js';

/** Health, readiness, metrics, agents and the worker plane. */
export const systemRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (fastify, { ctx }) => {
  const { ports } = ctx;

  fastify.get(
    '/healthz',
    {
      config: { public: true },
      schema: {
        operationId: 'getHealth',
        summary: 'The process is up',
        description: 'Public (no key).',
        tags: ['system'],
        response: {
          200: { description: 'Alive', content: { 'application/json': { schema: healthSchema } } },
          ...problemResponses(403),
        },
      },
    },
    async () => ({ status: 'ok' }),
  );

  fastify.get(
    '/readyz',
    {
      config: { public: true },
      schema: {
        operationId: 'getReadiness',
        summary: 'Ready to serve',
        description:
          'The store is healthy, every model backend answers `GET /models` (results reused for ' +
          '`server.readiness_cache_sec`) and the server is not shutting down; says which skill sandbox is active. ' +
          'Public (no key).',
        tags: ['system'],
        response: {
          200: { description: 'Ready', content: { 'application/json': { schema: readinessSchema } } },
          ...problemResponses(403, 503),
        },
      },
    },
    async (_request, reply) => {
      if (ctx.state.shuttingDown) throw new SkillplaneError('shutting_down', 'server is shutting down');
      const health = await ports.health.store().catch((err: unknown): StoreHealth => ({
        ok: false,
        detail: err instanceof Error ? err.message : String(err),
      }));
      if (!health.ok)
        throw new SkillplaneError(
          health.code === 'store_corrupt' ? 'store_corrupt' : 'store_unavailable',
          `store is not healthy: ${health.detail ?? 'unknown'}`,
        );
      const models = await ports.health.models();
      const down = models.filter((m) => !m.ok);
      // Answered here, not thrown: a backend that is down is news once (a start-up warning), not
      // an error log line every time a probe polls readiness.
      if (down.length > 0)
        return sendProblem(
          reply,
          new SkillplaneError(
            'models_unavailable',
            `model backend${down.length === 1 ? '' : 's'} not answering: ${down
              .map((m) => `${m.backend} (${m.detail ?? m.reason ?? 'down'})`)
              .join(', ')}`,
            { data: { backends: models } },
          ),
        );
      const sandbox = ports.skills.confinement;
      return {
        status: 'ready',
        store: ports.config.store.driver,
        models,
        sandbox: { kind: sandbox.kind, description: sandbox.description, warnings: sandbox.warnings },
      };
    },
  );

  fastify.get(
    '/metrics',
    {
      schema: {
        operationId: 'getMetrics',
        summary: 'Prometheus metrics',
        description: 'Scope `metrics:read`.',
        tags: ['system'],
        response: {
          200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } },
          ...problemResponses(401, 403, 429),
        },
      },
    },
    async (request, reply) => {
      authorize(request, 'metrics:read');
      const { contentType, body } = await ctx.metrics.render();
      return reply
        .type(contentType)
        .serializer((s: unknown) => String(s))
        .send(body);
    },
  );

  fastify.get(
    '/v1/agents',
    {
      schema: {
        operationId: 'listAgents',
        summary: 'Agent definitions',
        description: 'Scope `runs:read`.',
        tags: ['agents'],
        response: {
          200: {
            description: 'Every agent',
            content: { 'application/json': { schema: agentsResponseSchema } },
          },
          ...problemResponses(401, 403, 429),
        },
      },
    },
    async (request) => {
      authorize(request, 'runs:read');
      return { agents: ports.runs.agents() };
    },
  );

  fastify.get(
    '/v1/workers',
    {
      schema: {
        operationId: 'getWorkers',
        summary: 'Worker plane status',
        description: 'Scope `runs:read`.',
        tags: ['system'],
        response: {
          200: {
            description: 'Where skills run, and the scheduler’s load',
            content: { 'application/json': { schema: workersResponseSchema } },
          },
          ...problemResponses(401, 403, 429),
        },
      },
    },
    async (request) => {
      authorize(request, 'runs:read');
      const stats = ports.runs.stats();
      return {
        enabled: false,
        executor: 'in-process',
        description:
          'Skills run in this process’s executors (sandboxed child processes for tool skills); ' +
          'the BullMQ worker plane is not enabled.',
        node_id: ports.runs.nodeId,
        scheduler: { running: stats.running, max_concurrent: stats.maxConcurrent, queued: stats.queued },
        workers: [],
      };
    },
  );
};
