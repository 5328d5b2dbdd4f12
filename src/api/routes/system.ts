import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { canSeeRun, visibleOwner } from '../../access/index.js';
import { SkillplaneError } from '../../errors/index.js';
import type { WorkersPort } from '../../ports/index.js';
import type { StoreHealth } from '../../store/index.js';
import { redactUrl, type DeadLetter } from '../../workers/index.js';
import { authorize, type Principal } from '../auth.js';
import { sendProblem } from '../errors.js';
import type { ApiContext } from '../context.js';
import {
  agentsResponseSchema,
  deadLetterIdParamsSchema,
  deadLettersQuerySchema,
  deadLettersResponseSchema,
  healthSchema,
  problemResponses,
  readinessSchema,
  retryDeadLetterResponseSchema,
  workersResponseSchema,
} from '../schemas.js';

/** The worker plane, or `worker_plane_disabled` (409) when `workers.enabled` is false. */
function enabledPlane(ctx: ApiContext): WorkersPort {
  const plane = ctx.ports.workers;
  if (plane === undefined)
    throw new SkillplaneError(
      'worker_plane_disabled',
      'the worker plane is not enabled (workers.enabled: false): every skill runs in this process, ' +
        'so there are no worker queues or dead letters',
    );
  return plane;
}

/**
 * The dead letters `viewer` may see: all of them when it may see every run, otherwise only those
 * of its own runs (a dead letter outside any run, or of a run that is gone, is an operator's).
 */
async function visibleDeadLetters(
  ctx: ApiContext,
  viewer: Principal,
  list: DeadLetter[],
): Promise<DeadLetter[]> {
  if (visibleOwner(viewer, ctx.visibility) === undefined) return list;
  const seen = await Promise.all(
    list.map(async (d) => {
      if (d.run_id === null) return false;
      const run = await ctx.ports.runs.getRun(d.run_id).catch(() => undefined);
      return run !== undefined && canSeeRun(viewer, run, ctx.visibility);
    }),
  );
  return list.filter((_, i) => seen[i] === true);
}

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
          '`server.readiness_cache_sec`), the worker plane’s broker answers (when `workers.enabled`; ' +
          'otherwise 503 `worker_unavailable` with the reason) and the server is not shutting down; ' +
          'says which skill sandbox is active. Public (no key).',
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
      const broker = ports.workers?.health();
      const brokerDown: { workers?: { ok: false; reason: string; since: string } } =
        broker !== undefined && !broker.ok
          ? {
              workers: {
                ok: false,
                reason: broker.reason ?? 'the worker plane’s broker does not answer',
                since: broker.since,
              },
            }
          : {};
      // Answered here, not thrown: a backend that is down is news once (a start-up warning), not
      // an error log line every time a probe polls readiness.
      if (down.length > 0)
        return sendProblem(
          reply,
          new SkillplaneError(
            'models_unavailable',
            `model backend${down.length === 1 ? '' : 's'} not answering: ${down
              .map((m) => `${m.backend} (${m.detail ?? m.reason ?? 'down'})`)
              .join(', ')}${brokerDown.workers === undefined ? '' : `; ${brokerDown.workers.reason}`}`,
            // Everything that is down is named, not only the first.
            { data: { backends: models, ...brokerDown } },
          ),
        );
      // Answered, not thrown, for the same reason: the plane logs the broker's flips itself.
      if (broker !== undefined && !broker.ok)
        return sendProblem(
          reply,
          new SkillplaneError(
            'worker_unavailable',
            broker.reason ?? 'the worker plane’s broker does not answer',
            { data: { retry_after_ms: 5000, since: broker.since } },
          ),
        );
      const sandbox = ports.skills.confinement;
      const bus = ports.health.bus();
      return {
        status: 'ready',
        store: ports.config.store.driver,
        models,
        sandbox: { kind: sandbox.kind, description: sandbox.description, warnings: sandbox.warnings },
        ...(broker === undefined
          ? {}
          : { workers: { ok: true as const, broker: redactUrl(ports.config.workers.broker_url) } }),
        // Reported, not a reason to refuse traffic: this node serves its own runs without it.
        ...(bus === undefined
          ? {}
          : {
              bus: {
                driver: bus.driver,
                listening: bus.listening,
                ...(bus.detail === undefined ? {} : { detail: bus.detail }),
              },
            }),
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
        description:
          'Where skills run and the scheduler’s load; with the worker plane enabled (`workers.enabled`) also ' +
          'the broker’s health, every worker seen in the last hour (`alive`: a recent heartbeat) and each ' +
          'queue’s job counts. A broker that does not answer is reported in `health`, not as an error. ' +
          'Scope `runs:read`.',
        tags: ['system'],
        response: {
          200: {
            description: 'Where skills run, the scheduler’s load and the worker plane',
            content: { 'application/json': { schema: workersResponseSchema } },
          },
          ...problemResponses(401, 403, 429),
        },
      },
    },
    async (request) => {
      authorize(request, 'runs:read');
      const stats = ports.runs.stats();
      const common = {
        node_id: ports.runs.nodeId,
        scheduler: { running: stats.running, max_concurrent: stats.maxConcurrent, queued: stats.queued },
      };
      const plane = ports.workers;
      if (plane === undefined)
        return {
          enabled: false as const,
          executor: 'in-process' as const,
          description:
            'Skills run in this process’s executors (sandboxed child processes for tool skills); ' +
            'the BullMQ worker plane is not enabled.',
          ...common,
          workers: [],
          queues: [],
        };
      const status = await plane.status();
      return {
        enabled: true as const,
        executor: 'bullmq' as const,
        description:
          'Skills routed to the worker plane (`execution: worker`, `workers.routes`) run as BullMQ jobs in ' +
          '`skillplane worker` processes; the others run in this process.',
        ...common,
        broker: status.broker,
        health: status.health,
        workers: status.workers.map((w) => ({ ...w, alive: w.alive === true })),
        queues: status.queues,
      };
    },
  );

  fastify.get(
    '/v1/workers/dead-letters',
    {
      schema: {
        operationId: 'listDeadLetters',
        summary: 'Dead letters of the worker plane',
        description:
          'Jobs that failed for good (retries spent, or a skill that may not run twice), newest first; ' +
          'each lists its retries. A key that sees only its own runs (`auth.visibility: own`) sees only ' +
          'their dead letters. `worker_plane_disabled` (409) when `workers.enabled` is false, ' +
          '`worker_unavailable` (503) while the broker does not answer. Scope `runs:read`.',
        tags: ['system'],
        querystring: deadLettersQuerySchema,
        response: {
          200: {
            description: 'The dead letters, newest first',
            content: { 'application/json': { schema: deadLettersResponseSchema } },
          },
          ...problemResponses(400, 401, 403, 409, 429, 503),
        },
      },
    },
    async (request) => {
      const principal = authorize(request, 'runs:read');
      const plane = enabledPlane(ctx);
      const { queue, limit } = request.query;
      const list = await plane.listDeadLetters({ ...(queue === undefined ? {} : { queue }), limit });
      return { dead_letters: await visibleDeadLetters(ctx, principal, list) };
    },
  );

  fastify.post(
    '/v1/workers/dead-letters/:id/retry',
    {
      schema: {
        operationId: 'retryDeadLetter',
        summary: 'Queue a dead letter’s job again',
        description:
          'Queues the failed call again with a fresh attempt budget and deadline; the dead letter stays and ' +
          'lists the retry. It runs the skill outside its run’s policy checks, so it is an operator’s ' +
          'action, recorded in the audit trail (`worker.dead_letter.retry`). `not_found` (404) for an unknown ' +
          'id, `worker_plane_disabled` (409) when `workers.enabled` is false, `worker_unavailable` (503) while ' +
          'the broker does not answer. Scope `admin`.',
        tags: ['system'],
        params: deadLetterIdParamsSchema,
        response: {
          202: {
            description: 'The retry is queued',
            content: { 'application/json': { schema: retryDeadLetterResponseSchema } },
          },
          ...problemResponses(400, 401, 403, 404, 409, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const principal = authorize(request, 'admin');
      const plane = enabledPlane(ctx);
      const { id } = request.params;
      const result = await plane.redrive(id, principal.name);
      await ports.audit.append({
        principal: principal.name,
        action: 'worker.dead_letter.retry',
        target: id,
        data: { job_id: result.job_id, queue: result.dead_letter.queue, skill: result.dead_letter.skill },
        ...(result.dead_letter.run_id === null ? {} : { runId: result.dead_letter.run_id }),
      });
      return reply.status(202).send({ dead_letter: result.dead_letter, job_id: result.job_id });
    },
  );
};
