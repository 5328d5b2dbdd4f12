import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { isOriginAllowed } from '../access/index.js';
import type { EdgePorts } from '../ports/index.js';
import type { Scope } from '../config/index.js';
import { SkillplaneError, toSkillplaneError } from '../errors/index.js';
import { systemClock, type Clock } from '../vocabulary/index.js';
import { createMcpServer, type McpRequestExtra, type McpScope } from './server.js';

/** A scope the API knows. */
export type McpAuthScope = Scope;

/** The authenticated caller returned by {@link McpPluginOptions.authorize}. */
export interface McpPrincipal {
  name: string;
  scopes: string[];
}

/** Options of {@link mcpPlugin}. */
export interface McpPluginOptions {
  ports: EdgePorts;
  /**
   * Authenticates the request and checks one scope; throws a `SkillplaneError` with code
   * `unauthorized` (→ 401) or `forbidden` (→ 403).
   */
  authorize: (request: FastifyRequest, scope: McpAuthScope) => McpPrincipal;
  /** Browser origins allowed besides loopback ones (`http://localhost:*`, `127.0.0.1`, `[::1]`). */
  allowedOrigins?: string[];
  /** Most concurrent sessions (default 1000); a new session beyond it answers 429. */
  maxSessions?: number;
  /** Most concurrent sessions of one principal (default 32); a new one beyond it answers 429. */
  maxSessionsPerPrincipal?: number;
  /**
   * HTTP status of an error code raised before the handler (the server's root hooks: auth, host
   * guard, JSON limits); default: 401 for `unauthorized`, 403 for `forbidden*`, else 500. The
   * answer is always a JSON-RPC error carrying the code in `error.data.code`.
   */
  statusForCode?: (code: string) => number;
  /** A session without requests or open streams for this long is closed (default 30 min). */
  sessionIdleMs?: number;
  /** The clock idle times are measured on (default the system clock; tests pass a fake one). */
  clock?: Clock;
  /** Route path (default `/mcp`). */
  path?: string;
}

interface Session {
  transport: StreamableHTTPServerTransport;
  server: Server;
  /** Principal name that opened the session; other principals cannot use it. */
  owner: string;
  lastSeen: number;
  /** Open GET (SSE) streams: a session with one is never idle. */
  streams: number;
}

/** Scopes that each let a caller open the endpoint (the operations check their own scope). */
const ENTRY_SCOPES: McpScope[] = ['skills:read', 'skills:execute', 'runs:read', 'runs:write'];

/** JSON-RPC error codes: the SDK's generic server error, and the spec's invalid request and parse error. */
const SERVER_ERROR = -32000;
const INVALID_REQUEST = -32600;
const PARSE_ERROR = -32700;

function sendJsonRpcError(
  reply: FastifyReply,
  status: number,
  message: string,
  code = SERVER_ERROR,
  data?: Record<string, unknown>,
): FastifyReply {
  if (status === 401) void reply.header('www-authenticate', 'Bearer');
  return reply
    .code(status)
    .type('application/json')
    .send({ jsonrpc: '2.0', error: { code, message, ...(data === undefined ? {} : { data }) }, id: null });
}

function defaultStatusOf(code: string): number {
  if (code === 'unauthorized') return 401;
  if (code === 'forbidden' || code.startsWith('forbidden_')) return 403;
  return 500;
}

/** Seconds to wait before retrying a refused session: the idle sweep frees sessions this often. */
function retryAfterSec(idleMs: number): number {
  return Math.max(1, Math.ceil(Math.min(idleMs, 60_000) / 1000));
}

/**
 * Authenticates the request: the caller must hold at least one scope that some MCP operation
 * needs. `unauthorized` is raised at once; `forbidden` only when no entry scope is granted.
 */
function authenticate(opts: McpPluginOptions, request: FastifyRequest): McpPrincipal {
  let last: unknown;
  for (const scope of ENTRY_SCOPES) {
    try {
      return opts.authorize(request, scope);
    } catch (err) {
      if (!(err instanceof SkillplaneError) || err.code !== 'forbidden') throw err;
      last = err;
    }
  }
  throw last;
}

/**
 * The Model Context Protocol endpoint (`/mcp`, Streamable HTTP, stateful sessions). Skills become
 * tools, prompts and documentation resources; `agents__*` tools start, inspect and cancel runs.
 * Each session gets its own SDK server; a `skills.changed` registry event pushes
 * `notifications/{tools,prompts,resources}/list_changed` to every session's GET stream.
 *
 * Register with `await fastify.register(mcpPlugin, {ports, authorize})`.
 */
export async function mcpPlugin(fastify: FastifyInstance, opts: McpPluginOptions): Promise<void> {
  const path = opts.path ?? '/mcp';
  const maxSessions = opts.maxSessions ?? 1000;
  const maxPerPrincipal = opts.maxSessionsPerPrincipal ?? 32;
  const statusOf = opts.statusForCode ?? defaultStatusOf;
  const idleMs = opts.sessionIdleMs ?? 30 * 60_000;
  const clock = opts.clock ?? systemClock;
  const sessions = new Map<string, Session>();
  /** Sessions being initialized (not in `sessions` yet), by owner, so concurrent opens count. */
  const opening = new Map<string, number>();
  /** The Fastify request that carried each message, for per-operation scope checks. */
  const requestOf = new WeakMap<AuthInfo, FastifyRequest>();
  let closing = false;

  const authorizeExtra = (extra: McpRequestExtra, scope: McpScope): McpPrincipal => {
    const request = extra.authInfo === undefined ? undefined : requestOf.get(extra.authInfo);
    if (request === undefined) throw new SkillplaneError('unauthorized', 'no authenticated request');
    return opts.authorize(request, scope);
  };

  const release = (owner: string): void => {
    const n = (opening.get(owner) ?? 1) - 1;
    if (n <= 0) opening.delete(owner);
    else opening.set(owner, n);
  };

  const closeSession = async (id: string): Promise<void> => {
    const s = sessions.get(id);
    if (s === undefined) return;
    sessions.delete(id);
    await s.transport.close().catch(() => undefined);
    await s.server.close().catch(() => undefined);
  };

  const sweep = () => {
    const now = clock.now();
    for (const [id, s] of sessions) {
      if (s.streams === 0 && now - s.lastSeen > idleMs) void closeSession(id);
    }
  };
  const sweeper = setInterval(sweep, Math.max(1000, Math.min(idleMs, 60_000)));
  sweeper.unref();

  const onSkillsChanged = () => {
    for (const s of sessions.values()) {
      void s.server.sendToolListChanged().catch(() => undefined);
      void s.server.sendPromptListChanged().catch(() => undefined);
      void s.server.sendResourceListChanged().catch(() => undefined);
    }
  };
  opts.ports.skills.registry.on('skills.changed', onSkillsChanged);

  const closeAll = async () => {
    closing = true;
    clearInterval(sweeper);
    opts.ports.skills.registry.off('skills.changed', onSkillsChanged);
    await Promise.all([...sessions.keys()].map((id) => closeSession(id)));
  };
  // preClose ends the SSE streams before the HTTP server waits for its connections.
  fastify.addHook('preClose', closeAll);
  fastify.addHook('onClose', closeAll);

  const newSession = async (owner: string): Promise<Session> => {
    const session: Session = {
      owner,
      lastSeen: clock.now(),
      streams: 0,
      server: createMcpServer({ ports: opts.ports, authorize: authorizeExtra }),
      transport: new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (id) => {
          sessions.set(id, session);
        },
        onsessionclosed: (id) => {
          sessions.delete(id);
        },
      }),
    };
    session.transport.onclose = () => {
      const id = session.transport.sessionId;
      if (id !== undefined && sessions.get(id) === session) sessions.delete(id);
    };
    await session.server.connect(session.transport);
    return session;
  };

  /** Sessions of `owner`, open or being opened. */
  const sessionsOf = (owner: string): number => {
    let n = opening.get(owner) ?? 0;
    for (const s of sessions.values()) if (s.owner === owner) n += 1;
    return n;
  };
  const openingTotal = (): number => [...opening.values()].reduce((a, b) => a + b, 0);

  /** The cap a new session of `owner` would break, after sweeping idle sessions, if any. */
  const capReached = (owner: string): { limit: number; scope: 'server' | 'principal' } | undefined => {
    const check = () =>
      sessions.size + openingTotal() >= maxSessions
        ? { limit: maxSessions, scope: 'server' as const }
        : sessionsOf(owner) >= maxPerPrincipal
          ? { limit: maxPerPrincipal, scope: 'principal' as const }
          : undefined;
    if (check() === undefined) return undefined;
    sweep();
    return check();
  };

  // Errors raised before the handler (root hooks, body parsing) answer as JSON-RPC errors too.
  fastify.setErrorHandler((err: FastifyError, request: FastifyRequest, reply: FastifyReply) => {
    if (err instanceof SkillplaneError) {
      const status = statusOf(err.code);
      if (status >= 500) request.log.error({ err }, 'mcp request failed');
      const code =
        err.code === 'input_invalid' || err.code === 'invalid_request' ? INVALID_REQUEST : SERVER_ERROR;
      return sendJsonRpcError(reply, status, status >= 500 ? 'Internal error' : err.message, code, {
        ...(status >= 500 ? {} : (err.data ?? {})),
        code: err.code,
      });
    }
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 ? err.statusCode : 500;
    if (status >= 500) {
      request.log.error({ err }, 'mcp request failed');
      return sendJsonRpcError(reply, 500, 'Internal error', -32603, { code: 'internal_error' });
    }
    const parse = err.code === 'FST_ERR_CTP_INVALID_JSON_BODY' || err instanceof SyntaxError;
    return sendJsonRpcError(reply, status, err.message, parse ? PARSE_ERROR : INVALID_REQUEST);
  });

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const origin = request.headers.origin;
    if (origin !== undefined && !isOriginAllowed(origin, opts.allowedOrigins))
      return sendJsonRpcError(reply, 403, `Forbidden: origin ${origin} is not allowed`, SERVER_ERROR, {
        code: 'forbidden_origin',
      });
    if (closing)
      return sendJsonRpcError(reply, 503, 'Server is shutting down', SERVER_ERROR, { code: 'shutting_down' });
    let principal: McpPrincipal;
    try {
      principal = authenticate(opts, request);
    } catch (err) {
      const e = toSkillplaneError(err);
      const status = statusOf(e.code);
      return sendJsonRpcError(reply, status, status >= 500 ? 'Internal error' : e.message, SERVER_ERROR, {
        code: e.code,
      });
    }
    const header = request.headers['mcp-session-id'];
    const sessionId = Array.isArray(header) ? header[0] : header;
    let session: Session | undefined;
    let created = false;
    if (sessionId !== undefined) {
      session = sessions.get(sessionId);
      // Another principal's session is reported as unknown, never reused.
      if (session === undefined || session.owner !== principal.name)
        return sendJsonRpcError(reply, 404, 'Session not found', -32001);
    } else if (request.method === 'POST' && isInitializeRequest(request.body)) {
      const cap = capReached(principal.name);
      if (cap !== undefined) {
        const retryAfter = retryAfterSec(idleMs);
        void reply.header('retry-after', String(retryAfter));
        return sendJsonRpcError(
          reply,
          429,
          cap.scope === 'server'
            ? `Too many MCP sessions: the server holds ${cap.limit}, its limit; retry later`
            : `Too many MCP sessions: principal ${principal.name} holds ${cap.limit}, its limit; ` +
                'close one (DELETE /mcp) or retry later',
          SERVER_ERROR,
          {
            code: 'too_many_sessions',
            limit: cap.limit,
            scope: cap.scope,
            retry_after_ms: retryAfter * 1000,
          },
        );
      }
      opening.set(principal.name, (opening.get(principal.name) ?? 0) + 1);
      try {
        session = await newSession(principal.name);
      } catch (err) {
        release(principal.name);
        throw err;
      }
      created = true;
    } else {
      return sendJsonRpcError(reply, 400, 'Bad Request: no valid session id provided');
    }
    const s = session;
    s.lastSeen = clock.now();
    const auth: AuthInfo = { token: '', clientId: principal.name, scopes: principal.scopes };
    requestOf.set(auth, request);
    const raw = request.raw as IncomingMessage & { auth?: AuthInfo };
    raw.auth = auth;
    reply.hijack();
    if (request.method === 'GET') {
      s.streams += 1;
      reply.raw.once('close', () => {
        s.streams -= 1;
        s.lastSeen = clock.now();
      });
    }
    try {
      await s.transport.handleRequest(raw, reply.raw, request.body);
    } catch (err) {
      request.log.error({ err }, 'mcp request failed');
      if (!reply.raw.headersSent) {
        reply.raw.writeHead(500, { 'content-type': 'application/json' });
        reply.raw.end(
          JSON.stringify({ jsonrpc: '2.0', error: { code: -32603, message: 'Internal error' }, id: null }),
        );
      }
    } finally {
      if (created) release(principal.name);
      // An initialize that did not produce a session leaves nothing behind.
      if (created && s.transport.sessionId === undefined) await s.server.close().catch(() => undefined);
    }
  };

  // Not in the OpenAPI document: MCP is JSON-RPC with its own spec (the document names the door).
  fastify.route({ method: ['GET', 'POST', 'DELETE'], url: path, schema: { hide: true }, handler });
}
