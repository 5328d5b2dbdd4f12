import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { authorize } from '../auth.js';
import type { ApiContext } from '../context.js';
import { presentApproval } from '../present.js';
import { getVisibleApproval, ownerFilter } from '../visibility.js';
import {
  approvalIdParamsSchema,
  approvalSchema,
  decideBodySchema,
  listApprovalsQuerySchema,
  problemResponses,
} from '../schemas.js';

/** Approvals: list (pending by filter) and decide. */
export const approvalRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (fastify, { ctx }) => {
  const { approvals: desk } = ctx.ports;

  fastify.get(
    '/v1/approvals',
    {
      schema: {
        operationId: 'listApprovals',
        summary: 'List approvals',
        description: 'Filter with `?status=pending`, `?run_id=`. Scope `runs:read`.',
        tags: ['approvals'],
        querystring: listApprovalsQuerySchema,
        response: {
          200: {
            description: 'The approvals, newest first',
            content: {
              'application/json': { schema: z.looseObject({ approvals: z.array(approvalSchema) }) },
            },
          },
          ...problemResponses(400, 401, 403, 429),
        },
      },
    },
    async (request) => {
      const principal = authorize(request, 'runs:read');
      const q = request.query;
      // Filtered in the store query by the approvals' runs' principal.
      const approvals = await desk.list({
        ...ownerFilter(ctx, principal),
        ...(q.status === undefined ? {} : { status: q.status }),
        ...(q.run_id === undefined ? {} : { run_id: q.run_id }),
        ...(q.limit === undefined ? {} : { limit: q.limit }),
      });
      return { approvals: approvals.map(presentApproval) };
    },
  );

  fastify.post(
    '/v1/approvals/:id',
    {
      schema: {
        operationId: 'decideApproval',
        summary: 'Approve or deny a pending approval',
        description: 'A decided or expired approval is `already_decided` (409). Scope `approvals:write`.',
        tags: ['approvals'],
        params: approvalIdParamsSchema,
        body: decideBodySchema,
        response: {
          200: {
            description: 'The decided approval',
            content: { 'application/json': { schema: approvalSchema } },
          },
          ...problemResponses(400, 401, 403, 404, 409, 413, 415, 429),
        },
      },
    },
    async (request) => {
      const principal = authorize(request, 'approvals:write');
      await getVisibleApproval(ctx, principal, request.params.id);
      const approval = await desk.decide(request.params.id, {
        approve: request.body.decision === 'approve',
        ...(request.body.reason === undefined ? {} : { reason: request.body.reason }),
        principal: principal.name,
      });
      return presentApproval(approval);
    },
  );
};
