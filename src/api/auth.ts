import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify';
import { isLoopbackHost } from '../access/index.js';
import { SCOPES, type Config, type Scope } from '../config/index.js';
import { SkillplaneError } from '../errors/index.js';

export type { Scope };
export { isLoopbackHost };

/** Every scope, in a stable order (the config's list). */
export const ALL_SCOPES: readonly Scope[] = SCOPES;

/** Who is calling and what they may do. */
export interface Principal {
  name: string;
  scopes: Scope[];
}

/** One configured key, reduced to what the server needs (the key itself is never kept). */
interface ResolvedKey {
  principal: string;
  scopes: Scope[];
  sha256: Buffer;
  rateLimitPerMin: number | undefined;
}

/** Authentication state of one request, set by the `onRequest` hook of {@link installAuth}. */
interface RequestAuth {
  open: boolean;
  /** The key's principal, `null` when no (valid) key was presented. */
  key: ResolvedKey | null;
  /** A bearer token was presented but matched no key. */
  invalidKey: boolean;
  userId: string | undefined;
  /** Told of each refusal of this request (the audit trail's `auth.failure`). */
  onFailure: ((failure: AuthFailure) => void) | undefined;
  /** A refusal not reported yet: a grant in the same tick withdraws it (see {@link refuse}). */
  pendingFailure: AuthFailure | undefined;
}

/** A refused request, as {@link installAuth}'s `onFailure` is told of it. */
export interface AuthFailure {
  status: 401 | 403;
  /** `unauthorized` or `forbidden`. */
  code: string;
  /** The refusal's message: no key, an invalid key, or the scope a key lacks. */
  reason: string;
  /** The key's principal (a 403); `null` when no valid key was presented. */
  principal: string | null;
  /** The scope that was missing (a 403). */
  scope?: Scope;
}

declare module 'fastify' {
  interface FastifyRequest {
    skillplaneAuth: RequestAuth | null;
  }
  interface FastifyContextConfig {
    /** Answered without an API key even when keys are configured (health, readiness, docs). */
    public?: boolean;
  }
}

/** The authentication settings derived from the config and the bind host. */
export interface AuthSettings {
  /** No keys configured: every caller is accepted with every scope. */
  open: boolean;
  keys: ResolvedKey[];
  /**
   * `api.compat: opta-lmx`: an event stream (`GET …/events`) may carry its key as `?admin_key=`
   * (or `?x_admin_key=`), as Opta-LMX's dashboard does for browsers' EventSource.
   */
  queryKeyOnStreams?: boolean;
}

/** Routes whose key may come in the query under {@link AuthSettings.queryKeyOnStreams}. */
const STREAM_ROUTES = new Set(['/v1/agents/runs/:id/events', '/v1/events']);

/**
 * The key a request presents: `Authorization: Bearer <key>`, else `X-Api-Key` or `X-Admin-Key`
 * (Opta-LMX's clients), else, on event streams when allowed, `?admin_key=`.
 */
function presentedToken(request: FastifyRequest, settings: AuthSettings): string | undefined {
  const authz = headerValue(request, 'authorization');
  const match = authz === undefined ? null : /^Bearer\s+(.+)$/i.exec(authz);
  const bearer = match?.[1]?.trim();
  if (bearer !== undefined) return bearer;
  const apiKey = headerValue(request, 'x-api-key') ?? headerValue(request, 'x-admin-key');
  if (apiKey !== undefined) return apiKey;
  if (settings.queryKeyOnStreams !== true || request.method !== 'GET') return undefined;
  if (!STREAM_ROUTES.has(request.routeOptions.url ?? '')) return undefined;
  const q = request.query as { admin_key?: unknown; x_admin_key?: unknown } | undefined;
  const key = typeof q?.admin_key === 'string' ? q.admin_key : q?.x_admin_key;
  return typeof key === 'string' && key.trim() !== '' ? key.trim() : undefined;
}

/** Query parameters that may carry a key (event streams under `api.compat: opta-lmx`). */
const KEY_PARAMS = new Set(['admin_key', 'x_admin_key']);

/**
 * `url` with the values of key-carrying query parameters (`admin_key`, `x_admin_key`) replaced,
 * whatever way their names are percent-encoded (the query parser decodes `admin%5Fkey` too).
 */
export function redactKeyParams(url: string): string {
  const q = url.indexOf('?');
  if (q < 0) return url;
  const hash = url.indexOf('#', q);
  const query = url.slice(q + 1, hash < 0 ? undefined : hash);
  const redacted = query
    .split('&')
    .map((pair) => {
      const eq = pair.indexOf('=');
      const rawName = eq < 0 ? pair : pair.slice(0, eq);
      let name: string;
      try {
        name = decodeURIComponent(rawName.replace(/\+/g, ' '));
      } catch {
        name = rawName;
      }
      return KEY_PARAMS.has(name.toLowerCase()) ? `${rawName}=[redacted]` : pair;
    })
    .join('&');
  return `${url.slice(0, q + 1)}${redacted}${hash < 0 ? '' : url.slice(hash)}`;
}

function sha256(value: string): Buffer {
  return createHash('sha256').update(value, 'utf8').digest();
}

/**
 * Resolves `auth.keys` (reading `key_env` variables) and refuses an open server on a non-loopback
 * host. Throws a `config_invalid` SkillplaneError with a clear message.
 */
export function resolveAuthSettings(
  config: Config,
  host: string,
  env: NodeJS.ProcessEnv = process.env,
): AuthSettings {
  const keys: ResolvedKey[] = config.auth.keys.map((k) => {
    let hash: Buffer;
    if (k.key !== undefined) hash = sha256(k.key);
    else if (k.key_sha256 !== undefined) hash = Buffer.from(k.key_sha256, 'hex');
    else {
      const name = k.key_env ?? '';
      const value = env[name];
      if (value === undefined || value === '')
        throw new SkillplaneError(
          'config_invalid',
          `auth key of principal ${k.principal}: environment variable ${name} is not set`,
        );
      hash = sha256(value);
    }
    return { principal: k.principal, scopes: k.scopes, sha256: hash, rateLimitPerMin: k.rate_limit_per_min };
  });
  if (keys.length === 0 && !isLoopbackHost(host))
    throw new SkillplaneError(
      'config_invalid',
      `refusing to listen on ${host} without API keys: add auth.keys to the config or bind 127.0.0.1`,
    );
  return { open: keys.length === 0, keys, queryKeyOnStreams: config.api.compat === 'opta-lmx' };
}

/** Looks a presented token up among the keys in constant time (every key is compared). */
function findKey(keys: ResolvedKey[], token: string): ResolvedKey | null {
  const presented = sha256(token);
  let found: ResolvedKey | null = null;
  for (const key of keys) {
    if (timingSafeEqual(presented, key.sha256) && found === null) found = key;
  }
  return found;
}

/** A token bucket per principal; `take` answers the ms to wait, 0 when allowed. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  constructor(private readonly now: () => number = Date.now) {}

  take(id: string, perMinute: number): number {
    const now = this.now();
    const refillPerMs = perMinute / 60_000;
    const bucket = this.buckets.get(id) ?? { tokens: perMinute, at: now };
    bucket.tokens = Math.min(perMinute, bucket.tokens + (now - bucket.at) * refillPerMs);
    bucket.at = now;
    this.buckets.set(id, bucket);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - bucket.tokens) / refillPerMs);
  }
}

function headerValue(request: FastifyRequest, name: string): string | undefined {
  const v = request.headers[name];
  const s = Array.isArray(v) ? v[0] : v;
  return s === undefined || s.trim() === '' ? undefined : s.trim();
}

/**
 * Installs the authentication and rate-limit hooks on the root instance, so every route (plugins
 * included) sees the same `request.skillplaneAuth`. With keys configured, a request without a
 * valid key to a route not marked `config: {public: true}` is refused here with `unauthorized`
 * (401), before its body is read; which scope a route needs is decided by {@link authorize}.
 * `onFailure` is told of every 401 and 403 of the request, from this hook or from `authorize`.
 */
export function installAuth(
  fastify: FastifyInstance,
  settings: AuthSettings,
  limiter = new RateLimiter(),
  onFailure?: (request: FastifyRequest, failure: AuthFailure) => void,
): void {
  fastify.decorateRequest('skillplaneAuth', null);
  fastify.addHook(
    'onRequest',
    (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
      const token = presentedToken(request, settings);
      const key = token === undefined || settings.keys.length === 0 ? null : findKey(settings.keys, token);
      request.skillplaneAuth = {
        open: settings.open,
        key,
        invalidKey: token !== undefined && key === null && !settings.open,
        userId: headerValue(request, 'x-user-id'),
        onFailure: onFailure === undefined ? undefined : (failure) => onFailure(request, failure),
        pendingFailure: undefined,
      };
      if (!settings.open && key === null && request.routeOptions.config.public !== true)
        throw refuse(request.skillplaneAuth, unauthorized(token !== undefined), null);
      if (key?.rateLimitPerMin !== undefined) {
        const waitMs = limiter.take(key.principal, key.rateLimitPerMin);
        if (waitMs > 0) {
          const retryAfter = Math.max(1, Math.ceil(waitMs / 1000));
          void reply.header('retry-after', String(retryAfter));
          throw new SkillplaneError('rate_limited', `rate limit of ${key.rateLimitPerMin}/min exceeded`, {
            data: { retry_after_ms: waitMs, limit_per_min: key.rateLimitPerMin },
          });
        }
      }
      done();
    },
  );
}

/**
 * The principal of a request, checked for `scope` (any valid key when none is named). With auth
 * open (no keys, loopback) the caller is `x-user-id` or `anonymous` with every scope. Throws
 * `unauthorized` (401) without a valid key and `forbidden` (403) when the key lacks the scope.
 */
export function authorize(request: FastifyRequest, scope?: Scope): Principal {
  const auth = request.skillplaneAuth;
  if (auth === null) throw new SkillplaneError('internal_error', 'authentication hook is not installed');
  if (auth.key !== null) {
    const scopes = auth.key.scopes;
    if (scope !== undefined && !scopes.includes('admin') && !scopes.includes(scope))
      throw refuse(
        auth,
        new SkillplaneError('forbidden', `principal ${auth.key.principal} lacks the scope ${scope}`, {
          data: { scope },
        }),
        auth.key.principal,
        scope,
      );
    auth.pendingFailure = undefined;
    return { name: auth.key.principal, scopes: scopes.includes('admin') ? [...ALL_SCOPES] : [...scopes] };
  }
  if (auth.open) return { name: auth.userId ?? 'anonymous', scopes: [...ALL_SCOPES] };
  throw refuse(auth, unauthorized(auth.invalidKey), null);
}

/**
 * Tells the request's `onFailure` of a refusal (after the current synchronous code) and returns
 * the error to throw. A door that tries several scopes in a row (MCP accepts a key holding any of
 * its entry scopes) is granted in the same tick, which withdraws the refusal: only a request that
 * ends refused is reported, once, with its last refusal.
 */
function refuse(auth: RequestAuth, err: SkillplaneError, principal: string | null, scope?: Scope) {
  const report = auth.onFailure;
  if (report === undefined) return err;
  const first = auth.pendingFailure === undefined;
  auth.pendingFailure = {
    status: err.code === 'forbidden' ? 403 : 401,
    code: err.code,
    reason: err.message,
    principal,
    ...(scope === undefined ? {} : { scope }),
  };
  if (first)
    queueMicrotask(() => {
      const failure = auth.pendingFailure;
      auth.pendingFailure = undefined;
      if (failure !== undefined) report(failure);
    });
  return err;
}

function unauthorized(invalidKey: boolean): SkillplaneError {
  return new SkillplaneError(
    'unauthorized',
    invalidKey ? 'the API key is not valid' : 'an API key is required (Authorization: Bearer <key>)',
  );
}

/** Whether a principal holds a scope (admin implies all). */
export function hasScope(principal: Principal, scope: Scope): boolean {
  return principal.scopes.includes('admin') || principal.scopes.includes(scope);
}
