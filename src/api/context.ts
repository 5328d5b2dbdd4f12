import type { FastifyReply, FastifyRequest } from 'fastify';
import type { VisibilityPolicy } from '../access/index.js';
import type { OptaShaping } from '../interop/index.js';
import type { EdgePorts } from '../ports/index.js';
import type { ApiMetrics } from './metrics.js';
import type { SseHub } from './sse.js';

/** What every route plugin of the API gets. */
export interface ApiContext {
  /** The application, through its narrow ports. */
  ports: EdgePorts;
  hub: SseHub;
  metrics: ApiMetrics;
  /** Set when shutdown begins: `/readyz` answers 503 and `?wait` requests return at once. */
  state: { shuttingDown: boolean; waits: Set<AbortController> };
  heartbeatMs: number;
  /** Who sees which runs (`auth.visibility`; everything in open mode). */
  visibility: VisibilityPolicy;
  /** Opta-LMX's answer shapes beyond what each run asks for (`api.compat`). */
  opta: OptaShaping;
}

/** The first value of a request header, trimmed; `undefined` when absent or empty. */
export function header(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined) return undefined;
  const t = s.trim();
  return t === '' ? undefined : t;
}

/** The inbound W3C trace context of a request. */
export function traceContext(request: FastifyRequest): { traceparent?: string; tracestate?: string } {
  const traceparent = header(request, 'traceparent');
  const tracestate = header(request, 'tracestate');
  return {
    ...(traceparent === undefined ? {} : { traceparent }),
    ...(tracestate === undefined ? {} : { tracestate }),
  };
}

/** An AbortSignal that fires when the client goes away before the response is sent. */
export function clientGone(reply: FastifyReply): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onClose = () => {
    if (!reply.raw.writableEnded) controller.abort(new Error('client closed the connection'));
  };
  reply.raw.once('close', onClose);
  return { signal: controller.signal, dispose: () => reply.raw.off('close', onClose) };
}
