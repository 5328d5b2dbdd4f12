import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ValidationError } from '../../errors/index.js';
import { optaFrames, optaShaped } from '../../interop/index.js';
import { parseTraceparent } from '../../tracing/index.js';
import { RUN_STATUSES, isTerminal, type RunStatus } from '../../vocabulary/index.js';
import { authorize, hasScope } from '../auth.js';
import { RUN_AUDIT_LIMIT } from '../audit-schemas.js';
import { header, traceContext, type ApiContext } from '../context.js';
import { acceptEmptyJsonBodies } from '../guards.js';
import { presentRun, toRunRequest } from '../present.js';
import {
  createRunBodySchema,
  createRunHeadersSchema,
  createRunQuerySchema,
  eventsQuerySchema,
  eventStreamHeadersSchema,
  listRunsQuerySchema,
  multiEventsQuerySchema,
  problemResponses,
  runIdParamsSchema,
  runPageSchema,
  runSchema,
} from '../schemas.js';
import { parseLastEventId, parseMultiplexedEventId, streamEvents, type StreamTarget } from '../sse.js';
import { getVisibleRun, ownerFilter, scopedIdempotencyKey } from '../visibility.js';

function parseStatuses(value: string | string[] | undefined): RunStatus[] | undefined {
  if (value === undefined) return undefined;
  const list = (Array.isArray(value) ? value : [value]).flatMap((v) => v.split(',')).map((v) => v.trim());
  const bad = list.filter((s) => !RUN_STATUSES.includes(s as RunStatus));
  if (bad.length > 0)
    throw new ValidationError(
      `unknown status ${bad.join(', ')}`,
      [{ path: 'status', message: `expected one of ${RUN_STATUSES.join(', ')}` }],
      'invalid_request',
    );
  return list as RunStatus[];
}

/** Response headers of run creation. */
const runCreatedHeaders = {
  Location: { type: 'string', description: 'The run’s URL' },
  'Idempotent-Replayed': {
    type: 'string',
    enum: ['true'],
    description: 'Present when an `Idempotency-Key` returned an existing run',
  },
};

/** Runs: create (ours and Opta-LMX's bodies), list, get, cancel, and their event streams. */
export const runRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (fastify, { ctx }) => {
  const runtime = ctx.ports.runs;
  acceptEmptyJsonBodies(fastify);

  fastify.post(
    '/v1/agents/runs',
    {
      schema: {
        operationId: 'createRun',
        summary: 'Create a run',
        description:
          'Accepts our body or Opta-LMX bodies (`{request: {...}}`, legacy `{agent, input: {...}}`). ' +
          '`Idempotency-Key` header (or `idempotency_key`) returns the same run for the same body. ' +
          '`?wait=SECONDS` answers 200 once the run is terminal or waiting for approval. A plan that needs ' +
          'more steps than its `max_steps` (sequence agents, parallel_map branches and reducer) is refused ' +
          'with 400 `plan_exceeds_max_steps`, nothing stored. Scope `runs:write`.',
        tags: ['runs'],
        headers: createRunHeadersSchema,
        body: createRunBodySchema,
        querystring: createRunQuerySchema,
        response: {
          200: {
            description: 'With `?wait`: the run settled (terminal or waiting for approval), with its steps',
            content: { 'application/json': { schema: runSchema } },
            headers: runCreatedHeaders,
          },
          201: {
            description:
              'An Opta-LMX body’s run, accepted (Opta’s clients expect 201), with its steps so far',
            content: { 'application/json': { schema: runSchema } },
            headers: runCreatedHeaders,
          },
          202: {
            description:
              'The run is accepted (or replayed for a used `Idempotency-Key`) and runs in the background',
            content: { 'application/json': { schema: runSchema } },
            headers: runCreatedHeaders,
          },
          ...problemResponses(400, 401, 403, 409, 413, 415, 429, 503),
        },
      },
    },
    async (request, reply) => {
      const principal = authorize(request, 'runs:write');
      const trace = traceContext(request);
      // Echoed to Opta's clients in `request` when valid (an invalid one is ignored, as W3C says).
      const inbound = parseTraceparent(trace.traceparent) === undefined ? {} : trace;
      const {
        request: runRequest,
        idempotencyKey,
        opta,
      } = toRunRequest(request.body, header(request, 'x-priority'), inbound);
      const key = header(request, 'idempotency-key') ?? idempotencyKey;
      const { run, created } = await runtime.submit(runRequest, {
        principal: principal.name,
        ...(key === undefined ? {} : { idempotencyKey: scopedIdempotencyKey(ctx, principal, key) }),
        ...trace,
      });
      let current = run;
      const waitSec = request.query.wait;
      if (waitSec !== undefined && waitSec > 0 && !ctx.state.shuttingDown) {
        const controller = new AbortController();
        const onClose = () => controller.abort();
        reply.raw.once('close', onClose);
        ctx.state.waits.add(controller);
        try {
          current = await runtime.wait(run.id, { timeoutMs: waitSec * 1000, signal: controller.signal });
        } finally {
          ctx.state.waits.delete(controller);
          reply.raw.off('close', onClose);
        }
      }
      const settled = isTerminal(current.status) || current.status === 'waiting_approval';
      // Opta-LMX's clients expect 201 Created where we answer 202 Accepted.
      const status = waitSec !== undefined && settled ? 200 : opta ? 201 : 202;
      void reply.header('location', `/v1/agents/runs/${encodeURIComponent(run.id)}`);
      if (!created) void reply.header('idempotent-replayed', 'true');
      const steps = status === 200 || opta ? await runtime.getSteps(run.id) : undefined;
      return reply.status(status).send(presentRun(current, steps, ctx.opta));
    },
  );

  fastify.get(
    '/v1/agents/runs',
    {
      schema: {
        operationId: 'listRuns',
        summary: 'List runs, newest first',
        description:
          'Pages with `next_cursor`. Opta-LMX’s `offset` (or `api.compat: opta-lmx`) adds its envelope: ' +
          '`object: "list"`, `data` (= runs) and `total`. Scope `runs:read`.',
        tags: ['runs'],
        querystring: listRunsQuerySchema,
        response: {
          200: { description: 'A page of runs', content: { 'application/json': { schema: runPageSchema } } },
          ...problemResponses(400, 401, 403, 429),
        },
      },
    },
    async (request) => {
      const principal = authorize(request, 'runs:read');
      const q = request.query;
      const status = parseStatuses(q.status);
      const envelope = ctx.opta.compat || q.offset !== undefined;
      const page = await runtime.listRuns({
        ...ownerFilter(ctx, principal),
        ...(status === undefined ? {} : { status }),
        ...(q.agent === undefined ? {} : { agent: q.agent }),
        ...(q.priority === undefined ? {} : { priority: q.priority }),
        ...(q.created_after === undefined ? {} : { created_after: new Date(q.created_after).toISOString() }),
        ...(q.limit === undefined ? {} : { limit: q.limit }),
        ...(q.cursor === undefined ? {} : { cursor: q.cursor }),
        ...(q.offset === undefined ? {} : { offset: q.offset }),
        ...(envelope ? { with_total: true } : {}),
      });
      const runs = page.runs.map((r) => presentRun(r, undefined, ctx.opta));
      if (!envelope) return { runs, next_cursor: page.next_cursor };
      return {
        runs,
        next_cursor: page.next_cursor,
        object: 'list' as const,
        data: runs,
        total: page.total ?? 0,
      };
    },
  );

  fastify.get(
    '/v1/agents/runs/:id',
    {
      schema: {
        operationId: 'getRun',
        summary: 'One run with its steps and usage',
        description:
          'Scope `runs:read`. A caller that also has `audit:read` gets the run’s audit entries too (`audit`, ' +
          `its newest ${RUN_AUDIT_LIMIT}, newest first; every one at \`GET /v1/audit?run_id=\`).`,
        tags: ['runs'],
        params: runIdParamsSchema,
        response: {
          200: {
            description: 'The run with its steps',
            content: { 'application/json': { schema: runSchema } },
          },
          ...problemResponses(400, 401, 403, 404, 429),
        },
      },
    },
    async (request) => {
      const principal = authorize(request, 'runs:read');
      const run = await getVisibleRun(ctx, principal, request.params.id);
      const body = presentRun(run, await runtime.getSteps(run.id), ctx.opta);
      if (!hasScope(principal, 'audit:read')) return body;
      const { entries } = await ctx.ports.audit.list({ run_id: run.id, limit: RUN_AUDIT_LIMIT });
      return { ...body, audit: entries };
    },
  );

  fastify.post(
    '/v1/agents/runs/:id/cancel',
    {
      schema: {
        operationId: 'cancelRun',
        summary: 'Cancel a run',
        description:
          'Idempotent: cancelling a cancelled run answers it again; a completed or failed run is ' +
          '`already_terminal` (409). Scope `runs:write`.',
        tags: ['runs'],
        params: runIdParamsSchema,
        response: {
          200: { description: 'The cancelled run', content: { 'application/json': { schema: runSchema } } },
          ...problemResponses(400, 401, 403, 404, 409, 429),
        },
      },
    },
    async (request) => {
      const principal = authorize(request, 'runs:write');
      await getVisibleRun(ctx, principal, request.params.id);
      const run = await runtime.cancel(request.params.id, principal.name);
      return presentRun(
        run,
        optaShaped(run, ctx.opta) ? await runtime.getSteps(run.id) : undefined,
        ctx.opta,
      );
    },
  );

  const sseResponse = {
    200: {
      description: 'Server-Sent Events: `id:` is the event seq, `event:` its type, `data:` the event as JSON',
      content: { 'text/event-stream': { schema: z.string() } },
    },
    ...problemResponses(400, 401, 403, 404, 429),
  };

  fastify.get(
    '/v1/agents/runs/:id/events',
    {
      schema: {
        operationId: 'streamRunEvents',
        summary: 'Stream a run’s events (SSE)',
        description:
          'Resumable with `Last-Event-ID` (or `?after`); the stream ends after the run’s terminal event. ' +
          'Scope `runs:read`.',
        tags: ['runs'],
        headers: eventStreamHeadersSchema,
        params: runIdParamsSchema,
        querystring: eventsQuerySchema,
        response: sseResponse,
      },
    },
    async (request, reply) => {
      const principal = authorize(request, 'runs:read');
      const run = await getVisibleRun(ctx, principal, request.params.id);
      const last = parseLastEventId(header(request, 'last-event-id'));
      const afterSeq = last?.seq ?? request.query.after ?? 0;
      if (!ctx.opta.compat && (request.query.admin_key ?? request.query.x_admin_key) !== undefined)
        throw new ValidationError(
          'admin_key is only accepted with api.compat: opta-lmx',
          [{ path: 'admin_key', message: 'send the key as Authorization: Bearer <key>' }],
          'invalid_request',
        );
      // Opta's clients read `run.update` / `run.completed` frames, then `[DONE]`.
      let shown: string | undefined;
      const after = optaShaped(run, ctx.opta)
        ? async (runId: string, ended: boolean): Promise<string> => {
            const [now, steps] = await Promise.all([runtime.getRun(runId), runtime.getSteps(runId)]);
            if (now === undefined) return '';
            const frames = optaFrames(now, steps, shown, ended);
            shown = frames.key;
            return frames.text;
          }
        : undefined;
      streamEvents(
        request,
        reply,
        runtime,
        ctx.hub,
        [{ runId: run.id, afterSeq, terminal: isTerminal(run.status) }],
        {
          heartbeatMs: ctx.heartbeatMs,
          multiplexed: false,
          principal: principal.name,
          ...(after === undefined ? {} : { after }),
        },
      );
      return reply;
    },
  );

  fastify.get(
    '/v1/events',
    {
      schema: {
        operationId: 'streamEvents',
        summary: 'Stream the events of several runs (SSE)',
        description:
          'An event id lists every run’s position (`run_a:3,run_b:7`); send it back as `Last-Event-ID` to ' +
          'resume. Scope `runs:read`.',
        tags: ['runs'],
        headers: eventStreamHeadersSchema,
        querystring: multiEventsQuerySchema,
        response: sseResponse,
      },
    },
    async (request, reply) => {
      const principal = authorize(request, 'runs:read');
      const ids = [
        ...new Set(
          (Array.isArray(request.query.run_id) ? request.query.run_id : [request.query.run_id])
            .flatMap((v) => v.split(','))
            .map((v) => v.trim())
            .filter((v) => v !== ''),
        ),
      ];
      const last = parseMultiplexedEventId(header(request, 'last-event-id'));
      const targets: StreamTarget[] = [];
      for (const id of ids) {
        const run = await getVisibleRun(ctx, principal, id);
        targets.push({ runId: run.id, afterSeq: last?.get(run.id) ?? 0, terminal: isTerminal(run.status) });
      }
      streamEvents(request, reply, runtime, ctx.hub, targets, {
        heartbeatMs: ctx.heartbeatMs,
        multiplexed: true,
        principal: principal.name,
      });
      return reply;
    },
  );
};
