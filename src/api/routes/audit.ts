import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { authorize } from '../auth.js';
import { auditPageSchema, listAuditQuerySchema } from '../audit-schemas.js';
import type { ApiContext } from '../context.js';
import { problemResponses } from '../problems.js';

/** The audit trail: who did what, newest first, with cursor pagination. */
export const auditRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (fastify, { ctx }) => {
  const { audit } = ctx.ports;

  fastify.get(
    '/v1/audit',
    {
      schema: {
        operationId: 'listAudit',
        summary: 'The audit trail, newest first',
        description:
          'Every action by whom: runs created and cancelled, approvals decided and expired, skill calls ' +
          'from every door (REST, MCP, OpenClaw, runs) with their redacted arguments, skill reloads, ' +
          'refused requests (`auth.failure`, a few a minute per client address) and dead-letter retries. ' +
          'Filters combine; `since` is inclusive, `until` exclusive. Pages with `next_cursor` (stable while ' +
          'entries are added). The trail covers every principal’s actions whatever `auth.visibility` says. ' +
          'Scope `audit:read`.',
        tags: ['audit'],
        querystring: listAuditQuerySchema,
        response: {
          200: {
            description: 'A page of audit entries',
            content: { 'application/json': { schema: auditPageSchema } },
          },
          ...problemResponses(400, 401, 403, 429),
        },
      },
    },
    async (request) => {
      authorize(request, 'audit:read');
      const q = request.query;
      const page = await audit.list({
        ...(q.run_id === undefined ? {} : { run_id: q.run_id }),
        ...(q.principal === undefined ? {} : { principal: q.principal }),
        ...(q.action === undefined ? {} : { action: q.action }),
        ...(q.target === undefined ? {} : { target: q.target }),
        ...(q.since === undefined ? {} : { since: new Date(q.since).toISOString() }),
        ...(q.until === undefined ? {} : { until: new Date(q.until).toISOString() }),
        ...(q.limit === undefined ? {} : { limit: q.limit }),
        ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
      });
      return { entries: page.entries, next_cursor: page.next_cursor };
    },
  );
};
