import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyHttpOptions,
  type FastifyInstance,
  type FastifyRequest,
} from 'fastify';
import cors from '@fastify/cors';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { serializerCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Logger } from 'pino';
import type { z } from 'zod';
import type { EdgePorts } from '../ports/index.js';
import { zodIssues } from '../config/index.js';
import { SkillplaneError, ValidationError } from '../errors/index.js';
import { parseTraceparent } from '../tracing/index.js';
import {
  authorize,
  installAuth,
  RateLimiter,
  redactKeyParams,
  resolveAuthSettings,
  type AuthSettings,
} from './auth.js';
import { AuthFailureAuditor } from './auth-audit.js';
import type { ApiContext } from './context.js';
import { fromFastifyError, installErrorHandler, sendProblem, statusForCode } from './errors.js';
import {
  applyConnectionLimit,
  httpServerOptions,
  installJsonLimits,
  installOriginGuard,
  requestJsonLimits,
} from './guards.js';
import { ApiMetrics } from './metrics.js';
import { mcpPlugin } from '../mcp/index.js';
import { openclawPlugin } from './routes/openclaw.js';
import { optaMcpRoutes } from './routes/opta-mcp.js';
import { approvalRoutes } from './routes/approvals.js';
import { auditRoutes } from './routes/audit.js';
import { dashboardRoutes } from './routes/dashboard.js';
import { runChangeRoutes } from './routes/run-changes.js';
import { runRoutes } from './routes/runs.js';
import { skillRoutes } from './routes/skills.js';
import { systemRoutes } from './routes/system.js';
import { uiRoutes } from './routes/ui.js';
import { openApiOptions } from './openapi.js';
import {
  createRunBodySchema,
  openApiDocumentSchema,
  problemResponses,
  selectRunBodySchema,
} from './schemas.js';
import { SseHub } from './sse.js';

/** Options of {@link buildServer}. */
export interface ServerOptions {
  /** The address the server will bind; decides whether auth may be open (default `server.host`). */
  host?: string;
  /** A pino logger, or `false` for none (tests). Default: a pino logger at `info`. */
  logger?: Logger | false;
  /** Interval of SSE heartbeat comments (default 15 000 ms). */
  heartbeatMs?: number;
  /** Check every response against its schema (tests); default off, responses are only serialised. */
  validateResponses?: boolean;
  /** Environment for `key_env` keys (default `process.env`). */
  env?: NodeJS.ProcessEnv;
  /** Clock of the per-key rate limiter (tests). */
  now?: () => number;
  /** Process metrics (CPU, memory, event loop) in `/metrics` (default true). */
  defaultMetrics?: boolean;
  /** The built dashboard served at `/ui` (default `dist/ui`, which `npm run build` writes). */
  uiDir?: string;
}

const REQUEST_ID = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** Schemas whose concrete shape is picked from the data (union bodies), for precise error paths. */
const SELECTORS = new Map<unknown, (data: unknown) => z.ZodType>([
  [createRunBodySchema, selectRunBodySchema],
]);

/** Validates with zod; failures are `invalid_request` with every issue's field path. */
function validatorCompiler({ schema }: { schema: unknown }) {
  const select = SELECTORS.get(schema);
  return (data: unknown) => {
    const effective = select === undefined ? (schema as z.ZodType) : select(data);
    const result = effective.safeParse(data);
    if (result.success) return { value: result.data };
    const issues = zodIssues(result.error).flatMap((issue, i) => {
      const raw = result.error.issues[i];
      // "Unrecognized keys" becomes one issue per key, each with the key's full path.
      if (raw?.code === 'unrecognized_keys')
        return raw.keys.map((k) => ({
          path: [...raw.path.map(String), k].join('.'),
          message: `unknown field ${k}`,
        }));
      return [issue];
    });
    return {
      error: new ValidationError(
        `invalid request: ${issues.map((x) => `${x.path || '(root)'}: ${x.message}`).join('; ')}`,
        issues,
        'invalid_request',
      ),
    };
  };
}

/** Serialises responses without checking them against their schema (schemas still document them). */
function plainSerializerCompiler() {
  return (data: unknown) => JSON.stringify(data);
}

/** The server-side state that {@link buildServer} attaches to the instance. */
export interface SkillplaneServerState {
  auth: AuthSettings;
  ctx: ApiContext;
}

declare module 'fastify' {
  interface FastifyInstance {
    skillplane: SkillplaneServerState;
  }
}

/**
 * Builds the HTTP API over an application's edge ports (`app.ports`; not listening). Every route — plugins registered at
 * the marked spot included — shares the error handler (problem+json), the host/origin guard of an
 * open server, authentication (checked before the body is read), request ids, the per-key rate
 * limit, CORS, the JSON limits of request bodies and metrics. The HTTP server gets the configured
 * timeouts and connection cap. Throws `config_invalid` when auth would be open on a non-loopback
 * host.
 */
export async function buildServer(ports: EdgePorts, opts: ServerOptions = {}): Promise<FastifyInstance> {
  const config = ports.config;
  const host = opts.host ?? config.server.host;
  const auth = resolveAuthSettings(config, host, opts.env);
  const fastifyOptions: FastifyHttpOptions<Server> = {
    ...httpServerOptions(config),
    bodyLimit: config.server.body_limit_bytes,
    requestIdHeader: false,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      const id = Array.isArray(given) ? given[0] : given;
      return id !== undefined && REQUEST_ID.test(id) ? id : randomUUID();
    },
    // Fastify's own 503 while closing is bare JSON; the first hook below refuses instead, with a
    // problem document (preClose sets `shuttingDown` as soon as closing starts).
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    // Skill refs and dead-letter ids may be longer than Fastify's default 100 characters, whose
    // refusal (414) would not be a problem document; the routes' own schemas bound them.
    routerOptions: { maxParamLength: 512 },
    // A URL Fastify cannot decode (`%c0%ae`, `%ff`, a lone `%`) is refused by the router before any
    // handler; its default answer is bare JSON with FST_ERR_BAD_URL, so map it to a problem too.
    frameworkErrors: (err, _request, reply) => sendProblem(reply, fromFastifyError(err)),
  };
  const fastify: FastifyInstance = Fastify({
    ...fastifyOptions,
    // A request's log lines show its URL without the key an event stream may carry in its query
    // (`?admin_key=`): one serializer on the root logger, so no request pays for it.
    ...(opts.logger === undefined
      ? { logger: { serializers: { req: logRequest } } }
      : opts.logger === false
        ? { logger: false }
        : {
            loggerInstance: opts.logger.child(
              {},
              { serializers: { req: logRequest } },
            ) as unknown as FastifyBaseLogger,
          }),
  });
  // A request's log lines carry the trace id of a valid inbound `traceparent`.
  fastify.setChildLoggerFactory((logger, bindings, childOpts, raw) => {
    const given = raw.headers.traceparent;
    const trace = parseTraceparent(Array.isArray(given) ? given[0] : given);
    return logger.child(trace === undefined ? bindings : { ...bindings, trace_id: trace.traceId }, childOpts);
  });
  fastify.setValidatorCompiler(validatorCompiler);
  fastify.setSerializerCompiler(
    opts.validateResponses === true ? serializerCompiler : plainSerializerCompiler,
  );

  const metrics = new ApiMetrics(ports, { defaultMetrics: opts.defaultMetrics ?? true });
  const ctx: ApiContext = {
    ports,
    hub: new SseHub({
      maxStreams: config.server.max_sse_streams,
      maxPerPrincipal: config.server.max_sse_streams_per_principal,
    }),
    metrics,
    state: { shuttingDown: false, waits: new Set() },
    heartbeatMs: opts.heartbeatMs ?? 15_000,
    visibility: { open: auth.open, mode: config.auth.visibility },
    opta: { compat: config.api.compat === 'opta-lmx' },
  };
  fastify.decorate('skillplane', { auth, ctx });
  metrics.trackStreams(() => ctx.hub.size);

  installErrorHandler(fastify);
  applyConnectionLimit(fastify, config);
  // The root hooks are callback-style, not async: every request runs them, and an async hook
  // costs a promise and a microtask turn each (Fastify catches what they throw alike).
  fastify.addHook('onRequest', (request, reply, done) => {
    void reply.header('x-request-id', request.id);
    if (ctx.state.shuttingDown) {
      void reply.header('connection', 'close');
      throw new SkillplaneError('shutting_down', 'server is shutting down');
    }
    done();
  });
  metrics.install(fastify);
  // Root hooks, in order: host/origin guard, CORS (answers preflights), auth (before the body is
  // read), then the JSON limits of every parsed body. Every route and plugin below inherits them.
  installOriginGuard(fastify, { open: auth.open, host, corsOrigins: config.server.cors_origins });
  if (config.server.cors_origins.length > 0) {
    await fastify.register(cors, {
      origin: config.server.cors_origins.includes('*') ? true : config.server.cors_origins,
      exposedHeaders: ['x-request-id', 'retry-after', 'location', 'idempotent-replayed'],
    });
  }
  // Every 401/403 of every door is audited (`auth.failure`), a few a minute per client address.
  const authFailures = new AuthFailureAuditor(ports.audit, opts.now === undefined ? {} : { now: opts.now });
  installAuth(fastify, auth, new RateLimiter(opts.now), (request, failure) =>
    authFailures.record(request, failure),
  );
  installJsonLimits(fastify, requestJsonLimits(config));

  await fastify.register(swagger, openApiOptions(config, { open: auth.open }));
  // The docs plugin's own routes are all public (it takes no route config, so mark them as added).
  await fastify.register(async (docs) => {
    docs.addHook('onRoute', (route) => {
      route.config = { ...route.config, public: true };
    });
    await docs.register(swaggerUi, { routePrefix: '/docs' });
  });
  fastify.get(
    '/openapi.json',
    {
      config: { public: true },
      schema: {
        operationId: 'getOpenApiDocument',
        summary: 'This OpenAPI document',
        description: 'Public (no key). The interactive docs are at `/docs`.',
        tags: ['system'],
        response: {
          200: {
            description: 'The OpenAPI 3.1 document',
            content: { 'application/json': { schema: openApiDocumentSchema } },
          },
          ...problemResponses(403),
        },
      },
    },
    async () => fastify.swagger(),
  );

  const api = fastify.withTypeProvider<ZodTypeProvider>();
  await api.register(systemRoutes, { ctx });
  await api.register(runRoutes, { ctx });
  await api.register(approvalRoutes, { ctx });
  await api.register(skillRoutes, { ctx });
  await api.register(auditRoutes, { ctx });
  await api.register(optaMcpRoutes, { ctx });
  await api.register(dashboardRoutes, { ctx });
  await api.register(runChangeRoutes, { ctx });
  await fastify.register(uiRoutes, opts.uiDir === undefined ? {} : { root: opts.uiDir });

  // MCP (Streamable HTTP at /mcp) and the OpenClaw tools-invoke shim. They inherit the request
  // ids, guards, rate limit, CORS, JSON limits and metrics above, and authorize each request with
  // the same keys; errors of the root hooks are shaped by each door's own error handler.
  await fastify.register(mcpPlugin, {
    ports,
    authorize,
    allowedOrigins: config.server.cors_origins,
    maxSessions: config.server.max_mcp_sessions,
    maxSessionsPerPrincipal: config.server.max_mcp_sessions_per_principal,
    statusForCode,
  });
  await fastify.register(openclawPlugin, { ports, authorize });

  fastify.addHook('preClose', async () => {
    ctx.state.shuttingDown = true;
    for (const w of ctx.state.waits) w.abort();
    ctx.hub.closeAll();
  });
  fastify.addHook('onClose', async () => {
    metrics.close();
  });
  return fastify;
}

/** What a request's log lines say of it (Fastify's fields; key-carrying query values redacted). */
function logRequest(req: FastifyRequest): Record<string, unknown> {
  return {
    method: req.method,
    url: redactKeyParams(req.url),
    host: req.host,
    remoteAddress: req.ip,
    remotePort: req.socket?.remotePort,
  };
}

/** A listening server. */
export interface StartedServer {
  url: string;
  port: number;
  server: FastifyInstance;
  /** Stops accepting, ends SSE streams and waits for in-flight requests. Does not close the app. */
  close(): Promise<void>;
}

/** Builds and starts the API on `host:port` (`port` 0 picks a free port; `url` has the real one). */
export async function startServer(
  ports: EdgePorts,
  opts: ServerOptions & { host?: string; port?: number } = {},
): Promise<StartedServer> {
  const host = opts.host ?? ports.config.server.host;
  const port = opts.port ?? ports.config.server.port;
  const server = await buildServer(ports, { ...opts, host });
  await server.listen({ host, port });
  const address = server.server.address() as AddressInfo;
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${shownHost}:${address.port}`;
  let closing: Promise<void> | undefined;
  return {
    url,
    port: address.port,
    server,
    close() {
      closing ??= server.close();
      return closing;
    },
  };
}
