import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { visibleOwner } from '../../access/index.js';
import type { RunNotification } from '../../agents/index.js';
import { authorize } from '../auth.js';
import type { ApiContext } from '../context.js';
import { problemResponses } from '../schemas.js';
import { openSse } from '../sse.js';

/*
 * One stream of "this run changed" for every run the caller may see, so a run list (the
 * dashboard's) stays current without polling: new runs, status changes and steps all arrive as
 * `run.changed`, and the listener reads the list again. Not resumable: after a reconnect the list
 * is read again anyway.
 */

/** An endless stream is only for clients that ask for one (a plain GET would wait for ever). */
const runChangesHeadersSchema = z.looseObject({
  accept: z
    .string()
    .regex(/text\/event-stream/, 'must accept text/event-stream')
    .describe(
      '`text/event-stream` (this stream never ends by itself, so other clients are refused with 400)',
    ),
});

/** Principals of runs already looked up, so visibility costs one read per run, not per change. */
const PRINCIPAL_CACHE = 1000;

/** Changes of every visible run (SSE). */
export const runChangeRoutes: FastifyPluginAsyncZod<{ ctx: ApiContext }> = async (fastify, { ctx }) => {
  fastify.get(
    '/v1/run-changes',
    {
      schema: {
        operationId: 'streamRunChanges',
        summary: 'Stream which runs change (SSE)',
        description:
          'An `event: run.changed` with `data: {"run_id", "status"}` each time a run the caller may see is ' +
          'created, changes status or records progress; `status` is absent when the change is not a new ' +
          'status (or `resync` is true: changes may have been missed, read the list again). Never ends by ' +
          'itself; not resumable. Scope `runs:read`.',
        tags: ['runs'],
        headers: runChangesHeadersSchema,
        response: {
          200: {
            description:
              'Server-Sent Events: `event: run.changed`, `data:` `{run_id, status?, resync?}` as JSON',
            content: { 'text/event-stream': { schema: z.string() } },
          },
          ...problemResponses(400, 401, 403, 429),
        },
      },
    },
    async (request, reply) => {
      const principal = authorize(request, 'runs:read');
      const owner = visibleOwner(principal, ctx.visibility);
      // One lookup per run, kept as a promise: the changes of a run not yet known wait on the same
      // lookup, so they are written in the order they happened.
      const principals = new Map<string, Promise<string | null | undefined>>();
      const visible = async (runId: string): Promise<boolean> => {
        if (owner === undefined) return true;
        let lookup = principals.get(runId);
        if (lookup === undefined) {
          if (principals.size >= PRINCIPAL_CACHE) principals.clear();
          lookup = ctx.ports.runs.getRun(runId).then(
            (run) => run.principal,
            () => {
              principals.delete(runId); // not cached: asked again at its next change
              return undefined;
            },
          );
          principals.set(runId, lookup);
        }
        return (await lookup) === owner;
      };
      const stream = openSse(reply, ctx.hub, principal.name, ctx.heartbeatMs);
      // Subscribed in the same turn as the headers go out: no change can fall in between.
      stream.onClose(
        ctx.ports.runs.onAny((n: RunNotification) => {
          void visible(n.runId).then((ok) => {
            if (!ok) return;
            const data = {
              run_id: n.runId,
              ...(n.status === undefined ? {} : { status: n.status }),
              ...(n.resync === true ? { resync: true } : {}),
            };
            stream.write(`event: run.changed\ndata: ${JSON.stringify(data)}\n\n`);
          });
        }),
      );
      return reply;
    },
  );
};
