import {
  apiErrorFrom,
  describeNetworkFailure,
  SkillplaneApiError,
  SkillplaneConnectionError,
} from './errors.js';
import { isTerminal, isTerminalEvent } from '../vocabulary/index.js';
import { queryString, sleep } from './query.js';
import { parseSse } from './sse.js';
import type {
  AgentSummary,
  ApiRun,
  Approval,
  ApprovalDecisionBody,
  AuditEntry,
  AuditPage,
  CreateRunBody,
  CreateRunOptions,
  DeadLetter,
  DeadLetterRetry,
  DeadLettersQuery,
  EventsOptions,
  ExecuteSkillOptions,
  ExecuteSkillResult,
  HealthStatus,
  ListApprovalsQuery,
  ListAuditQuery,
  ListRunsQuery,
  ListSkillsQuery,
  ReloadResult,
  RunEvent,
  RunPage,
  SkillDetail,
  SkillSummary,
  WaitForRunOptions,
  WorkersStatus,
} from './types.js';

/** Options of {@link SkillplaneClient}. */
export interface SkillplaneClientOptions {
  /** The server, e.g. `http://127.0.0.1:8787` (a trailing `/` is ignored). */
  baseUrl: string;
  /** Sent as `Authorization: Bearer <apiKey>`. */
  apiKey?: string;
  /** The principal when the server's auth is open (`x-user-id`). */
  userId?: string;
  /** A fetch implementation (default: the global one). */
  fetch?: typeof fetch;
  /** Headers added to every request. */
  headers?: Record<string, string>;
}

/** Statuses worth reconnecting an event stream on: the server is restarting or a proxy hiccupped. */
const RETRYABLE_STATUSES = new Set([502, 503, 504]);

/**
 * A typed client of the skillplane HTTP API over `fetch`. Every non-2xx answer becomes a
 * {@link SkillplaneApiError} carrying the problem document's `code`; an unreachable server a
 * {@link SkillplaneConnectionError}.
 */
export class SkillplaneClient {
  readonly baseUrl: string;
  private readonly apiKey: string | undefined;
  private readonly userId: string | undefined;
  private readonly fetchImpl: typeof fetch;
  private readonly extraHeaders: Record<string, string>;

  constructor(options: SkillplaneClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.apiKey = options.apiKey;
    this.userId = options.userId;
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.extraHeaders = options.headers ?? {};
  }

  // ------------------------------------------------------------------------------------ runs

  /** Creates a run (`202`), or waits up to `wait` seconds for it to settle (`200`). */
  async createRun(body: CreateRunBody, options: CreateRunOptions = {}): Promise<ApiRun> {
    const headers: Record<string, string> = {};
    if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
    if (options.traceparent !== undefined) headers.traceparent = options.traceparent;
    if (options.tracestate !== undefined) headers.tracestate = options.tracestate;
    return this.json<ApiRun>('POST', `/v1/agents/runs${queryString({ wait: options.wait })}`, {
      body,
      headers,
      signal: options.signal,
    });
  }

  /** One page of runs, newest first. */
  listRuns(query: ListRunsQuery = {}, options: { signal?: AbortSignal } = {}): Promise<RunPage> {
    return this.json<RunPage>('GET', `/v1/agents/runs${queryString({ ...query })}`, options);
  }

  /** Every run matching `query`, following `next_cursor` from page to page. */
  async *iterateRuns(
    query: ListRunsQuery = {},
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<ApiRun> {
    let cursor = query.cursor;
    for (;;) {
      const page = await this.listRuns({ ...query, ...(cursor === undefined ? {} : { cursor }) }, options);
      yield* page.runs;
      if (page.next_cursor === null || page.runs.length === 0) return;
      cursor = page.next_cursor;
    }
  }

  /** One run with its steps and usage. */
  getRun(id: string, options: { signal?: AbortSignal } = {}): Promise<ApiRun> {
    return this.json<ApiRun>('GET', `/v1/agents/runs/${encodeURIComponent(id)}`, options);
  }

  /** Cancels a run (idempotent for a cancelled run; `already_terminal` for a finished one). */
  cancelRun(id: string, options: { signal?: AbortSignal } = {}): Promise<ApiRun> {
    return this.json<ApiRun>('POST', `/v1/agents/runs/${encodeURIComponent(id)}/cancel`, options);
  }

  /**
   * Waits until a run is terminal (or waits for an approval, unless `stopOnApproval` is false) by
   * following its event stream, and returns it. After `timeoutMs` it returns the run as it is then.
   */
  async waitForRun(id: string, options: WaitForRunOptions = {}): Promise<ApiRun> {
    const stopOnApproval = options.stopOnApproval ?? true;
    const settled = (run: ApiRun) =>
      isTerminal(run.status) || (stopOnApproval && run.status === 'waiting_approval');
    const signals: AbortSignal[] = [];
    if (options.signal !== undefined) signals.push(options.signal);
    const timeout = options.timeoutMs === undefined ? undefined : AbortSignal.timeout(options.timeoutMs);
    if (timeout !== undefined) signals.push(timeout);
    const signal = signals.length === 0 ? undefined : AbortSignal.any(signals);

    let run = await this.getRun(id, { ...(options.signal === undefined ? {} : { signal: options.signal }) });
    if (settled(run)) return run;
    try {
      for await (const e of this.events(id, signal === undefined ? {} : { signal })) {
        const relevant = isTerminalEvent(e.type) || (stopOnApproval && e.type === 'run.waiting_approval');
        if (!relevant) continue;
        // An old `run.waiting_approval` from the history may be already decided: ask the run.
        run = await this.getRun(id, signal === undefined ? {} : { signal });
        if (settled(run)) return run;
      }
    } catch (err) {
      if (!(timeout?.aborted === true && options.signal?.aborted !== true)) throw err;
    }
    return this.getRun(id, { ...(options.signal === undefined ? {} : { signal: options.signal }) });
  }

  /**
   * A run's events from `afterSeq` on, until its terminal event. A dropped connection is resumed
   * with `Last-Event-ID` (bounded retries with exponential backoff); every event is yielded exactly
   * once, in seq order. Breaking out of the loop or aborting `signal` closes the stream.
   */
  async *events(runId: string, options: EventsOptions = {}): AsyncGenerator<RunEvent> {
    const maxRetries = options.maxRetries ?? 5;
    const baseMs = options.retryBaseMs ?? 500;
    const path = `/v1/agents/runs/${encodeURIComponent(runId)}/events`;
    let last = options.afterSeq ?? 0;
    let failures = 0;
    let lastError: unknown;

    const retry = async (err: unknown): Promise<void> => {
      lastError = err;
      failures += 1;
      if (failures > maxRetries)
        throw new SkillplaneConnectionError(
          `event stream of ${runId} dropped; gave up after ${maxRetries} reconnects`,
          lastError,
          { url: this.baseUrl, ...describeNetworkFailure(lastError) },
        );
      const delay = Math.min(10_000, baseMs * 2 ** (failures - 1));
      await sleep(delay * (0.75 + Math.random() * 0.5), options.signal);
    };

    for (;;) {
      options.signal?.throwIfAborted();
      const controller = new AbortController();
      const signal =
        options.signal === undefined
          ? controller.signal
          : AbortSignal.any([options.signal, controller.signal]);
      let res: Response;
      try {
        res = await this.fetchImpl(this.url(path), {
          method: 'GET',
          headers: this.headers({
            accept: 'text/event-stream',
            ...(last > 0 ? { 'last-event-id': String(last) } : {}),
          }),
          signal,
        });
      } catch (err) {
        options.signal?.throwIfAborted();
        await retry(err);
        continue;
      }
      if (!res.ok) {
        const err = await apiErrorFrom(res);
        if (!RETRYABLE_STATUSES.has(res.status)) throw err;
        await retry(err);
        continue;
      }
      try {
        if (res.body === null) throw new SkillplaneConnectionError('event stream has no body');
        for await (const msg of parseSse(res.body)) {
          if (msg.event === 'error') {
            lastError = new SkillplaneConnectionError(`server ended the stream: ${msg.data}`);
            break;
          }
          if (msg.data === '') continue;
          const event = JSON.parse(msg.data) as RunEvent;
          if (event.seq <= last) continue;
          last = event.seq;
          failures = 0;
          yield event;
          if (isTerminalEvent(event.type)) return;
        }
      } catch (err) {
        options.signal?.throwIfAborted();
        if (err instanceof SyntaxError) throw err;
        lastError = err;
      } finally {
        // The consumer broke out, we returned, or the stream failed: release the connection.
        controller.abort();
      }
      // The stream ended without a terminal event: a restart, a drop, or a run that settled
      // without one (the server closes the stream after its history). Ask the run which.
      const run = await this.getRun(
        runId,
        options.signal === undefined ? {} : { signal: options.signal },
      ).catch((err: unknown) => {
        if (err instanceof SkillplaneApiError && !RETRYABLE_STATUSES.has(err.status)) throw err;
        return undefined;
      });
      if (run !== undefined && isTerminal(run.status)) {
        // Anything written before the close is in the store: one last read without waiting.
        const rest = await this.readRemaining(path, last, options.signal);
        for (const e of rest) {
          if (e.seq <= last) continue;
          last = e.seq;
          yield e;
        }
        return;
      }
      await retry(lastError ?? new SkillplaneConnectionError(`event stream of ${runId} ended early`));
    }
  }

  /** The events after `after` of a terminal run (its stream closes once the history is sent). */
  private async readRemaining(
    path: string,
    after: number,
    signal: AbortSignal | undefined,
  ): Promise<RunEvent[]> {
    const res = await this.fetchImpl(this.url(path), {
      method: 'GET',
      headers: this.headers({ accept: 'text/event-stream', 'last-event-id': String(after) }),
      ...(signal === undefined ? {} : { signal }),
    });
    if (!res.ok) throw await apiErrorFrom(res);
    const out: RunEvent[] = [];
    if (res.body === null) return out;
    for await (const msg of parseSse(res.body)) {
      if (msg.event === 'error' || msg.data === '') continue;
      out.push(JSON.parse(msg.data) as RunEvent);
    }
    return out;
  }

  // ------------------------------------------------------------------------------------ approvals

  /** Approvals, e.g. `{status: 'pending'}`. */
  async listApprovals(
    query: ListApprovalsQuery = {},
    options: { signal?: AbortSignal } = {},
  ): Promise<Approval[]> {
    const page = await this.json<{ approvals: Approval[] }>(
      'GET',
      `/v1/approvals${queryString({ ...query })}`,
      options,
    );
    return page.approvals;
  }

  /** Approves or denies a pending approval. */
  decideApproval(
    id: string,
    body: ApprovalDecisionBody,
    options: { signal?: AbortSignal } = {},
  ): Promise<Approval> {
    return this.json<Approval>('POST', `/v1/approvals/${encodeURIComponent(id)}`, { ...options, body });
  }

  // ------------------------------------------------------------------------------------ agents, skills

  /** Agent definitions. */
  async listAgents(options: { signal?: AbortSignal } = {}): Promise<AgentSummary[]> {
    return (await this.json<{ agents: AgentSummary[] }>('GET', '/v1/agents', options)).agents;
  }

  /** The skill catalogue (latest version of each id unless `allVersions`). */
  async listSkills(
    filter: ListSkillsQuery = {},
    options: { signal?: AbortSignal } = {},
  ): Promise<SkillSummary[]> {
    const { allVersions, ...rest } = filter;
    const q = queryString({ ...rest, ...(allVersions === undefined ? {} : { all_versions: allVersions }) });
    return (await this.json<{ skills: SkillSummary[] }>('GET', `/v1/skills${q}`, options)).skills;
  }

  /** One skill by id or reference (`acme/search`, `acme/search@^1.2`). */
  getSkill(ref: string, options: { signal?: AbortSignal } = {}): Promise<SkillDetail> {
    return this.json<SkillDetail>('GET', `/v1/skills/${encodeURIComponent(ref)}`, options);
  }

  /** Executes a skill directly; policy applies, risk-tagged skills need `approval`. */
  executeSkill(ref: string, input: unknown, options: ExecuteSkillOptions = {}): Promise<ExecuteSkillResult> {
    return this.json<ExecuteSkillResult>('POST', `/v1/skills/${encodeURIComponent(ref)}/execute`, {
      body: {
        input,
        ...(options.approval === undefined ? {} : { approval: options.approval }),
        ...(options.timeoutSec === undefined ? {} : { timeout_sec: options.timeoutSec }),
      },
      headers: options.traceparent === undefined ? {} : { traceparent: options.traceparent },
      signal: options.signal,
    });
  }

  /** Reloads every skill folder (admin). */
  reloadSkills(options: { signal?: AbortSignal } = {}): Promise<ReloadResult> {
    return this.json<ReloadResult>('POST', '/v1/skills/reload', options);
  }

  // ------------------------------------------------------------------------------------ system

  /** `GET /healthz`: the process is up. */
  health(options: { signal?: AbortSignal } = {}): Promise<HealthStatus> {
    return this.json<HealthStatus>('GET', '/healthz', options);
  }

  /** `GET /readyz`: the store is healthy and the server is not shutting down. */
  ready(options: { signal?: AbortSignal } = {}): Promise<HealthStatus> {
    return this.json<HealthStatus>('GET', '/readyz', options);
  }

  // ------------------------------------------------------------------------------------ worker plane

  /** `GET /v1/workers`: where skills run; with the worker plane enabled, its broker, workers and queues. */
  workers(options: { signal?: AbortSignal } = {}): Promise<WorkersStatus> {
    return this.json<WorkersStatus>('GET', '/v1/workers', options);
  }

  /**
   * The worker plane's dead letters, newest first; `worker_plane_disabled` (409) when the plane is
   * not enabled, `worker_unavailable` (503) while its broker does not answer.
   */
  async deadLetters(
    query: DeadLettersQuery = {},
    options: { signal?: AbortSignal } = {},
  ): Promise<DeadLetter[]> {
    const page = await this.json<{ dead_letters: DeadLetter[] }>(
      'GET',
      `/v1/workers/dead-letters${queryString({ ...query })}`,
      options,
    );
    return page.dead_letters;
  }

  /** Queues a dead letter's job again (scope `admin`); the dead letter lists the retry. */
  retryDeadLetter(id: string, options: { signal?: AbortSignal } = {}): Promise<DeadLetterRetry> {
    return this.json<DeadLetterRetry>(
      'POST',
      `/v1/workers/dead-letters/${encodeURIComponent(id)}/retry`,
      options,
    );
  }

  // ------------------------------------------------------------------------------------ audit

  /** One page of the audit trail, newest first (scope `audit:read`). */
  audit(query: ListAuditQuery = {}, options: { signal?: AbortSignal } = {}): Promise<AuditPage> {
    return this.json<AuditPage>('GET', `/v1/audit${queryString({ ...query })}`, options);
  }

  /** Every audit entry matching `query`, newest first, following `next_cursor` from page to page. */
  async *iterateAudit(
    query: ListAuditQuery = {},
    options: { signal?: AbortSignal } = {},
  ): AsyncGenerator<AuditEntry> {
    let cursor = query.cursor;
    for (;;) {
      const page = await this.audit({ ...query, ...(cursor === undefined ? {} : { cursor }) }, options);
      yield* page.entries;
      if (page.next_cursor === null || page.entries.length === 0) return;
      cursor = page.next_cursor;
    }
  }

  // ------------------------------------------------------------------------------------ plumbing

  private url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  private headers(extra: Record<string, string> = {}): Record<string, string> {
    return {
      ...this.extraHeaders,
      ...(this.apiKey === undefined ? {} : { authorization: `Bearer ${this.apiKey}` }),
      ...(this.userId === undefined ? {} : { 'x-user-id': this.userId }),
      ...extra,
    };
  }

  private async json<T>(
    method: string,
    path: string,
    init: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal | undefined } = {},
  ): Promise<T> {
    const headers = this.headers({ accept: 'application/json', ...init.headers });
    let body: string | undefined;
    if (init.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.body);
    } else if (method === 'POST') {
      // Fastify refuses an empty body with a JSON content type; send an empty object instead.
      headers['content-type'] = 'application/json';
      body = '{}';
    }
    let res: Response;
    try {
      res = await this.fetchImpl(this.url(path), {
        method,
        headers,
        ...(body === undefined ? {} : { body }),
        ...(init.signal === undefined ? {} : { signal: init.signal }),
      });
    } catch (err) {
      init.signal?.throwIfAborted();
      const why = describeNetworkFailure(err);
      throw new SkillplaneConnectionError(`${method} ${this.url(path)} failed: ${why.reason}`, err, {
        url: this.baseUrl,
        ...why,
      });
    }
    if (!res.ok) throw await apiErrorFrom(res);
    return (await res.json()) as T;
  }
}
