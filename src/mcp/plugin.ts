import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { AuthInfo } from '@modelcontextprotocol/sdk/server/auth/types.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { isInitializeRequest } from '@modelcontextprotocol/sdk/types.js';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { App } from '../app/index.js';
import type { Scope } from '../config/index.js';
import { SkillplaneError, toSkillplaneError } from '../errors/index.js';
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
  app: App;
  /**
   * Authenticates the request and checks one scope; throws a `SkillplaneError` with code
   * `unauthorized` (→ 401) or `forbidden` (→ 403).
   */
  authorize: (request: FastifyRequest, scope: McpAuthScope) => McpPrincipal;
  /** Browser origins allowed besides loopback ones (`http://localhost:*`, `127.0.0.1`, `[::1]`). */
  allowedOrigins?: string[];
  /** Most concurrent sessions (default 1000); a new session beyond it answers 503. */
  maxSessions?: number;
  /** A session without requests or open streams for this long is closed (default 30 min). */
  sessionIdleMs?: number;
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

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]', '::1']);

/** True when `origin` is a loopback origin or one of `allowed` (`*` allows every origin). */
export function isOriginAllowed(origin: string, allowed: readonly string[] = []): boolean {
  if (allowed.includes('*') || allowed.includes(origin)) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  return LOOPBACK_HOSTS.has(url.hostname) || /^127(?:\.\d{1,3}){3}$/.test(url.hostname);
}

function sendJsonRpcError(reply: FastifyReply, status: number, message: string, code = -32000): FastifyReply {
  if (status === 401) void reply.header('www-authenticate', 'Bearer');
  return reply
    .code(status)
    .type('application/json')
    .send({ jsonrpc: '2.0', error: { code, message }, id: null });
}

function statusOf(err: SkillplaneError): number {
  if (err.code === 'unauthorized') return 401;
  if (err.code === 'forbidden') return 403;
  return 500;
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
 * Register with `await fastify.register(mcpPlugin, {app, authorize})`.
 */
export async function mcpPlugin(fastify: FastifyInstance, opts: McpPluginOptions): Promise<void> {
  const path = opts.path ?? '/mcp';
  const maxSessions = opts.maxSessions ?? 1000;
  const idleMs = opts.sessionIdleMs ?? 30 * 60_000;
  const sessions = new Map<string, Session>();
  /** The Fastify request that carried each message, for per-operation scope checks. */
  const requestOf = new WeakMap<AuthInfo, FastifyRequest>();
  let closing = false;

  const authorizeExtra = (extra: McpRequestExtra, scope: McpScope): McpPrincipal => {
    const request = extra.authInfo === undefined ? undefined : requestOf.get(extra.authInfo);
    if (request === undefined) throw new SkillplaneError('unauthorized', 'no authenticated request');
    return opts.authorize(request, scope);
  };

  const closeSession = async (id: string): Promise<void> => {
    const s = sessions.get(id);
    if (s === undefined) return;
    sessions.delete(id);
    await s.transport.close().catch(() => undefined);
    await s.server.close().catch(() => undefined);
  };

  const sweep = () => {
    const now = Date.now();
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
  opts.app.skills.registry.on('skills.changed', onSkillsChanged);

  const closeAll = async () => {
    closing = true;
    clearInterval(sweeper);
    opts.app.skills.registry.off('skills.changed', onSkillsChanged);
    await Promise.all([...sessions.keys()].map((id) => closeSession(id)));
  };
  // preClose ends the SSE streams before the HTTP server waits for its connections.
  fastify.addHook('preClose', closeAll);
  fastify.addHook('onClose', closeAll);

  const newSession = async (owner: string): Promise<Session> => {
    const session: Session = {
      owner,
      lastSeen: Date.now(),
      streams: 0,
      server: createMcpServer({ app: opts.app, authorize: authorizeExtra }),
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

  const handler = async (request: FastifyRequest, reply: FastifyReply) => {
    const origin = request.headers.origin;
    if (origin !== undefined && !isOriginAllowed(origin, opts.allowedOrigins))
      return sendJsonRpcError(reply, 403, `Forbidden: origin ${origin} is not allowed`);
    if (closing) return sendJsonRpcError(reply, 503, 'Server is shutting down');
    let principal: McpPrincipal;
    try {
      principal = authenticate(opts, request);
    } catch (err) {
      const e = toSkillplaneError(err);
      const status = statusOf(e);
      return sendJsonRpcError(reply, status, status === 500 ? 'Internal error' : e.message);
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
      if (sessions.size >= maxSessions) sweep();
      if (sessions.size >= maxSessions) return sendJsonRpcError(reply, 503, 'Too many MCP sessions');
      session = await newSession(principal.name);
      created = true;
    } else {
      return sendJsonRpcError(reply, 400, 'Bad Request: no valid session id provided');
    }
    const s = session;
    s.lastSeen = Date.now();
    const auth: AuthInfo = { token: '', clientId: principal.name, scopes: principal.scopes };
    requestOf.set(auth, request);
    const raw = request.raw as IncomingMessage & { auth?: AuthInfo };
    raw.auth = auth;
    reply.hijack();
    if (request.method === 'GET') {
      s.streams += 1;
      reply.raw.once('close', () => {
        s.streams -= 1;
        s.lastSeen = Date.now();
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
      // An initialize that did not produce a session leaves nothing behind.
      if (created && s.transport.sessionId === undefined) await s.server.close().catch(() => undefined);
    }
  };

  fastify.route({ method: ['GET', 'POST', 'DELETE'], url: path, handler });
}
