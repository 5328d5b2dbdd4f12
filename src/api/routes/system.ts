import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { SkillplaneError } from '../../errors/index.js';
import type { StoreHealth } from '../../store/index.js';
import { authorize } from '../auth.js';
import type { ApiContext } from '../context.js';
import { agentsResponseSchema, healthSchema, problemSchema, workersResponseSchema } from '../schemas.js';

/** Health, readiness, metrics, agents and the worker plane. */
export const systemRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (fastify, { ctx }) => {
  const { ports } = ctx;

  fastify.get(
    '/healthz',
    {
      config: { public: true },
      schema: { summary: 'The process is up', tags: ['system'], response: { 200: healthSchema } },
    },
    async () => ({ status: 'ok' }),
  );

  fastify.get(
    '/readyz',
    {
      config: { public: true },
      schema: {
        summary:
          'Ready to serve: the store is healthy and the server is not shutting down; says which skill sandbox is active',
        tags: ['system'],
        response: { 200: healthSchema, 503: problemSchema },
      },
    },
    async () => {
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
      const sandbox = ports.skills.confinement;
      return {
        status: 'ready',
        store: ports.config.store.driver,
        sandbox: { kind: sandbox.kind, description: sandbox.description, warnings: sandbox.warnings },
      };
    },
  );

  fastify.get(
    '/metrics',
    {
      schema: {
        summary: 'Prometheus metrics (scope metrics:read when keys are configured)',
        tags: ['system'],
        response: {
          200: { description: 'Prometheus text format', content: { 'text/plain': { schema: z.string() } } },
          401: problemSchema,
          403: problemSchema,
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
        summary: 'Agent definitions',
        tags: ['agents'],
        response: { 200: agentsResponseSchema, 401: problemSchema, 403: problemSchema },
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
        summary: 'Worker plane status',
        tags: ['system'],
        response: { 200: workersResponseSchema, 401: problemSchema, 403: problemSchema },
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
