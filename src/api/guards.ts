/**
 * Root guards of the HTTP server, installed before every route and plugin (MCP and OpenClaw
 * included): the DNS-rebinding guard of an open loopback server, the JSON limits of every parsed
 * body, and the socket-level limits (timeouts, connection cap) of the Node HTTP server.
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { isHostHeaderAllowed, isOriginAllowed } from '../access/index.js';
import type { Config } from '../config/index.js';
import { SkillplaneError } from '../errors/index.js';
import { findJsonLimitViolation, type JsonLimits } from '../limits/index.js';
import { statusForCode, toProblem } from './errors.js';

/** Shortens a header value for an error message (it may be long and is attacker-chosen). */
function shown(value: string): string {
  return value.length > 100 ? `${value.slice(0, 100)}…` : value;
}

/**
 * Refuses, on an open (keyless) loopback server, requests whose `Host` is not a loopback name or
 * the configured host (`forbidden_host`, 403) and browser requests from a foreign `Origin`
 * (`forbidden_origin`, 403; `server.cors_origins` stay allowed). A web page that rebinds its own
 * DNS name to 127.0.0.1 therefore cannot drive the server. With keys configured the keys are the
 * protection and nothing is installed (the MCP endpoint still checks `Origin` itself).
 */
export function installOriginGuard(
  fastify: FastifyInstance,
  opts: { open: boolean; host: string; corsOrigins: readonly string[] },
): void {
  if (!opts.open) return;
  const hosts = [opts.host];
  fastify.addHook(
    'onRequest',
    (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
      const host = request.headers.host;
      if (host !== undefined && !isHostHeaderAllowed(host, hosts))
        throw new SkillplaneError(
          'forbidden_host',
          `Host ${shown(host)} is not this server: a server without API keys only answers requests ` +
            'addressed to localhost, 127.0.0.1, [::1] or its configured host',
          { data: { host: shown(host) } },
        );
      const origin = request.headers.origin;
      if (origin !== undefined && !isOriginAllowed(origin, opts.corsOrigins))
        throw new SkillplaneError(
          'forbidden_origin',
          `Origin ${shown(origin)} is not allowed: add it to server.cors_origins or configure API keys`,
          { data: { origin: shown(origin) } },
        );
      done();
    },
  );
}

/** The JSON limits of request bodies (`server.max_json_depth`, `server.max_json_string_length`). */
export function requestJsonLimits(config: Config): JsonLimits {
  return {
    maxDepth: config.server.max_json_depth,
    maxStringLength: config.server.max_json_string_length,
  };
}

/**
 * The `input_invalid` error of a value (a request body, or JSON carried in one of its strings)
 * that breaks `limits`, naming where and which limit; `undefined` when it is within them.
 * Iterative, so it is safe on any value the JSON parser produced.
 */
export function jsonLimitError(
  value: unknown,
  limits: JsonLimits,
  what: string,
): SkillplaneError | undefined {
  const v = findJsonLimitViolation(value, limits);
  if (v === undefined) return undefined;
  const max =
    v.limit === 'depth' ? limits.maxDepth : v.limit === 'string_length' ? limits.maxStringLength : null;
  return new SkillplaneError('input_invalid', `${what}: ${v.message} (at ${v.path})`, {
    data: { issues: [{ path: v.path, message: v.message }], limit: v.limit, max, path: v.path },
  });
}

/**
 * Checks every parsed body against the JSON limits before validation (zod never sees a body that
 * breaks them, nor does anything recursive). A failure is `input_invalid` (400), shaped by the
 * route's door: problem+json, OpenClaw's error or a JSON-RPC error.
 */
export function installJsonLimits(fastify: FastifyInstance, limits: JsonLimits): void {
  fastify.addHook(
    'preValidation',
    (request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction) => {
      const err =
        request.body === undefined || request.body === null
          ? undefined
          : jsonLimitError(request.body, limits, 'request body');
      done(err);
    },
  );
}

const CLIENT_ERRORS: Readonly<Record<string, [code: string, message: string]>> = {
  ERR_HTTP_REQUEST_TIMEOUT: ['request_timeout', 'the request was not received in time'],
  HPE_HEADER_OVERFLOW: ['headers_too_large', 'the request headers are too large'],
};

/**
 * Answers a connection-level failure (request not received within `server.request_timeout_sec`,
 * headers too large, malformed HTTP) with problem+json and closes the socket. Like Node's own
 * handler it writes nothing when a response has already started on the socket.
 */
function clientErrorHandler(err: NodeJS.ErrnoException, socket: Socket): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [code, message] = CLIENT_ERRORS[err.code ?? ''] ?? ['invalid_request', 'malformed HTTP request'];
  const inFlight = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
  if (socket.writable && (inFlight === undefined || inFlight === null || !inFlight.headersSent)) {
    const problem = toProblem(new SkillplaneError(code, message));
    const body = JSON.stringify(problem);
    socket.write(
      `HTTP/1.1 ${statusForCode(code)} ${problem.title}\r\n` +
        'Content-Type: application/problem+json\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(err);
}

/**
 * The HTTP server's timeouts: a request (headers and body) must arrive within
 * `server.request_timeout_sec`, its headers within `server.headers_timeout_sec`; an idle
 * keep-alive connection closes after `server.keep_alive_timeout_sec`. They bound receiving the
 * request only, so SSE streams and `?wait=` answers (response time) are not cut.
 */
export function httpServerOptions(config: Config) {
  const s = config.server;
  const requestTimeout = Math.max(1, Math.round(s.request_timeout_sec * 1000));
  const headersTimeout = Math.min(requestTimeout, Math.max(1, Math.round(s.headers_timeout_sec * 1000)));
  const keepAliveTimeout = Math.max(1, Math.round(s.keep_alive_timeout_sec * 1000));
  return {
    requestTimeout,
    keepAliveTimeout,
    clientErrorHandler,
    http: {
      requestTimeout,
      headersTimeout,
      keepAliveTimeout,
      // Node checks the timeouts on this interval (default 30 s): keep it a fraction of them.
      connectionsCheckingInterval: Math.min(5_000, Math.max(100, Math.round(headersTimeout / 10))),
    },
  };
}

/** Caps the open connections of the HTTP server (`server.max_connections`); more are refused. */
export function applyConnectionLimit(fastify: FastifyInstance, config: Config): void {
  fastify.server.maxConnections = config.server.max_connections;
}

/**
 * In this plugin's routes, an empty body sent as `application/json` is no body rather than bad
 * JSON: Opta-LMX's clients send that content type on every POST, a bodiless cancel included. A
 * route that needs a body still refuses it through its schema; anything else parses as before
 * (Fastify's own parser, prototype poisoning refused).
 */
export function acceptEmptyJsonBodies(fastify: FastifyInstance): void {
  const parse = fastify.getDefaultJsonParser('error', 'error');
  fastify.removeContentTypeParser('application/json');
  fastify.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body === '') {
      done(null, undefined);
      return;
    }
    parse(request, body as string, done);
  });
}
