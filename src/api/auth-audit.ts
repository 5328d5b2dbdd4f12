/**
 * Auth failures in the audit trail (`auth.failure`), rate-limited: someone guessing keys must not
 * be able to flood the table. Each source (the client address) gets at most `perSourcePerMin`
 * entries a minute and all sources together `totalPerMin`; refusals beyond that are counted, and
 * the next entry written says how many were dropped since the previous one (`suppressed`).
 */
import type { FastifyRequest } from 'fastify';
import type { AuditPort } from '../ports/index.js';
import type { AuthFailure } from './auth.js';

/** Options of {@link AuthFailureAuditor}. */
export interface AuthFailureAuditOptions {
  /** Entries a minute from one source (default 10). */
  perSourcePerMin?: number;
  /** Entries a minute from every source together (default 120). */
  totalPerMin?: number;
  /** The clock (epoch ms). */
  now?: () => number;
}

/** Longest route recorded (the path of an unknown route is attacker-chosen). */
const MAX_ROUTE_CHARS = 200;
const WINDOW_MS = 60_000;

/** Writes `auth.failure` audit entries, at most so many a minute (see the module). */
export class AuthFailureAuditor {
  private readonly perSource: number;
  private readonly total: number;
  private readonly now: () => number;
  private windowStart = Number.NEGATIVE_INFINITY;
  private written = 0;
  /** Entries written this window by each source; cleared with the window, so it stays small. */
  private readonly bySource = new Map<string, number>();
  private suppressed = 0;

  constructor(
    private readonly audit: AuditPort,
    opts: AuthFailureAuditOptions = {},
  ) {
    this.perSource = opts.perSourcePerMin ?? 10;
    this.total = opts.totalPerMin ?? 120;
    this.now = opts.now ?? Date.now;
  }

  /** Records one refusal, unless its source or everyone is over the limit (then counts it). */
  record(request: FastifyRequest, failure: AuthFailure): void {
    const now = this.now();
    if (now - this.windowStart >= WINDOW_MS) {
      this.windowStart = now;
      this.written = 0;
      this.bySource.clear();
    }
    const source = request.ip;
    const fromSource = this.bySource.get(source) ?? 0;
    if (fromSource >= this.perSource || this.written >= this.total) {
      this.suppressed++;
      return;
    }
    this.bySource.set(source, fromSource + 1);
    this.written++;
    const suppressed = this.suppressed;
    this.suppressed = 0;
    const route = request.routeOptions.url ?? request.url.split('?')[0] ?? '';
    const shownRoute = route.length > MAX_ROUTE_CHARS ? `${route.slice(0, MAX_ROUTE_CHARS)}…` : route;
    // The port logs a failed write; the refusal never waits for it.
    void this.audit.append({
      principal: failure.principal,
      action: 'auth.failure',
      target: shownRoute,
      data: {
        status: failure.status,
        code: failure.code,
        reason: failure.reason,
        method: request.method,
        route: shownRoute,
        source,
        ...(failure.scope === undefined ? {} : { scope: failure.scope }),
        ...(suppressed === 0 ? {} : { suppressed }),
      },
    });
  }
}
