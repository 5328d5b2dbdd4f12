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
  problemSchema,
} from '../schemas.js';

const errors = { 400: problemSchema, 401: problemSchema, 403: problemSchema, 404: problemSchema };

/** Approvals: list (pending by filter) and decide. */
export const approvalRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (fastify, { ctx }) => {
  const { approvals: desk } = ctx.ports;

  fastify.get(
    '/v1/approvals',
    {
      schema: {
        summary: 'List approvals (e.g. `?status=pending`)',
        tags: ['approvals'],
        querystring: listApprovalsQuerySchema,
        response: { 200: z.looseObject({ approvals: z.array(approvalSchema) }), ...errors },
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
        summary: 'Approve or deny a pending approval',
        tags: ['approvals'],
        params: approvalIdParamsSchema,
        body: decideBodySchema,
        response: { 200: approvalSchema, ...errors, 409: problemSchema },
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
