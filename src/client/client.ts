// The typed client's surface: one method per API operation (runs, approvals, agents, skills, the
// worker plane, audit) over the transport; run event streams follow in run-events.
import { isTerminal, isTerminalEvent } from '../vocabulary/index.js';
import { queryString } from './query.js';
import { ourRun } from './compat.js';
import { followRunEvents } from './run-events.js';
import { ClientTransport, type SkillplaneClientOptions } from './transport.js';
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

/**
 * A typed client of the skillplane HTTP API over `fetch`. Every non-2xx answer becomes a
 * {@link SkillplaneApiError} carrying the problem document's `code`; an unreachable server a
 * {@link SkillplaneConnectionError}.
 */
export class SkillplaneClient {
  readonly baseUrl: string;
  private readonly transport: ClientTransport;

  constructor(options: SkillplaneClientOptions) {
    this.transport = new ClientTransport(options);
    this.baseUrl = this.transport.baseUrl;
  }

  // ------------------------------------------------------------------------------------ runs

  /** Creates a run (`202`), or waits up to `wait` seconds for it to settle (`200`). */
  async createRun(body: CreateRunBody, options: CreateRunOptions = {}): Promise<ApiRun> {
    const headers: Record<string, string> = {};
    if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
    if (options.traceparent !== undefined) headers.traceparent = options.traceparent;
    if (options.tracestate !== undefined) headers.tracestate = options.tracestate;
    return ourRun(
      await this.json<ApiRun>('POST', `/v1/agents/runs${queryString({ wait: options.wait })}`, {
        body,
        headers,
        signal: options.signal,
      }),
    );
  }

  /** One page of runs, newest first. */
  async listRuns(query: ListRunsQuery = {}, options: { signal?: AbortSignal } = {}): Promise<RunPage> {
    const page = await this.json<RunPage>('GET', `/v1/agents/runs${queryString({ ...query })}`, options);
    return { runs: page.runs.map(ourRun), next_cursor: page.next_cursor };
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
  async getRun(id: string, options: { signal?: AbortSignal } = {}): Promise<ApiRun> {
    return ourRun(await this.json<ApiRun>('GET', `/v1/agents/runs/${encodeURIComponent(id)}`, options));
  }

  /** Cancels a run (idempotent for a cancelled run; `already_terminal` for a finished one). */
  async cancelRun(id: string, options: { signal?: AbortSignal } = {}): Promise<ApiRun> {
    return ourRun(
      await this.json<ApiRun>('POST', `/v1/agents/runs/${encodeURIComponent(id)}/cancel`, options),
    );
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
  events(runId: string, options: EventsOptions = {}): AsyncGenerator<RunEvent> {
    return followRunEvents(this.transport, (id, o) => this.getRun(id, o), runId, options);
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

  private json<T>(
    method: string,
    path: string,
    init: { body?: unknown; headers?: Record<string, string>; signal?: AbortSignal | undefined } = {},
  ): Promise<T> {
    return this.transport.json<T>(method, path, init);
  }
}
