// What the dashboard asks of the API beyond the core client: who the key is, the model backends'
// queues, the catalogue with its load errors, and one event stream over several runs.
import { SkillplaneClient } from './client.js';
import { apiErrorFrom } from './errors.js';
import { queryString } from './query.js';
import { parseSse } from './sse.js';
import { ClientTransport, type SkillplaneClientOptions } from './transport.js';
import type { ListSkillsQuery, Priority, RunEvent, RunStatus, SkillSummary } from './types.js';

/** `GET /v1/auth/whoami`: the caller and what it may do. */
export interface Whoami {
  principal: string;
  /** `admin` expanded to every scope. */
  scopes: string[];
  /** No keys configured: every caller has every scope. */
  open: boolean;
  /** Trace viewer URL template (`{trace_id}`), null when not configured. */
  trace_viewer_url: string | null;
}

/** One model backend and its priority limiter. */
export interface ModelBackend {
  name: string;
  model: string;
  base_url: string;
  in_flight: number;
  capacity: number;
  waiting: Record<Priority, number>;
}

/** A skill that failed to load: the file, the field path and why. */
export interface SkillLoadProblem {
  file: string;
  path: string;
  message: string;
  line?: number;
  code?: string;
}

/** The catalogue with every load error. */
export interface SkillCatalogue {
  skills: SkillSummary[];
  load_errors: SkillLoadProblem[];
}

/** Where one skill version was loaded from. */
export interface SkillSource {
  ref: string;
  file: string;
  dir: string;
  source: string;
}

/** One `run.changed` of {@link DashboardClient.runChanges}. */
export interface RunChange {
  run_id: string;
  /** The run's new status, when the change is one. */
  status?: RunStatus;
  /** Changes may have been missed (the server's run bus reconnected): read everything again. */
  resync?: true;
}

/** The typed client plus the dashboard's reads; browser-safe (fetch and streams only). */
export class DashboardClient extends SkillplaneClient {
  private readonly http: ClientTransport;

  constructor(options: SkillplaneClientOptions) {
    super(options);
    this.http = new ClientTransport(options);
  }

  /** The key's principal and scopes (any valid key). */
  whoami(options: { signal?: AbortSignal } = {}): Promise<Whoami> {
    return this.http.json<Whoami>('GET', '/v1/auth/whoami', options);
  }

  /** Model backends with their in-flight requests and limiter queues (scope `runs:read`). */
  async modelBackends(options: { signal?: AbortSignal } = {}): Promise<ModelBackend[]> {
    return (await this.http.json<{ backends: ModelBackend[] }>('GET', '/v1/models/backends', options))
      .backends;
  }

  /** The catalogue (every version when `allVersions`) and the skills that failed to load. */
  async skillCatalogue(
    filter: ListSkillsQuery = {},
    options: { signal?: AbortSignal } = {},
  ): Promise<SkillCatalogue> {
    const { allVersions, ...rest } = filter;
    const q = queryString({ ...rest, ...(allVersions === undefined ? {} : { all_versions: allVersions }) });
    const page = await this.http.json<{ skills: SkillSummary[]; load_error_details: SkillLoadProblem[] }>(
      'GET',
      `/v1/skills${q}`,
      options,
    );
    return { skills: page.skills, load_errors: page.load_error_details };
  }

  /** The manifest file and folder of every loaded skill version (scope `skills:read`). */
  async skillSources(options: { signal?: AbortSignal } = {}): Promise<SkillSource[]> {
    return (await this.http.json<{ sources: SkillSource[] }>('GET', '/v1/skill-sources', options)).sources;
  }

  /**
   * Which visible runs change (`GET /v1/run-changes`): created, a new status, progress. Runs until
   * `signal` aborts or the connection drops (then it returns; the caller reads its list again).
   * `onOpen` is called once the server answered: from then on no change is missed.
   */
  async *runChanges(options: { signal?: AbortSignal; onOpen?: () => void } = {}): AsyncGenerator<RunChange> {
    yield* this.stream<RunChange>('/v1/run-changes', options.signal, options.onOpen);
  }

  /**
   * The events of several runs on one stream (`GET /v1/events`), history first, until every run
   * has ended or `signal` aborts. No reconnect: the caller reopens it with the runs it still follows.
   */
  async *followRuns(runIds: string[], options: { signal?: AbortSignal } = {}): AsyncGenerator<RunEvent> {
    if (runIds.length === 0) return;
    yield* this.stream<RunEvent>(`/v1/events${queryString({ run_id: runIds })}`, options.signal);
  }

  /** The JSON data of each message of an SSE endpoint. */
  private async *stream<T>(
    path: string,
    signal: AbortSignal | undefined,
    onOpen?: () => void,
  ): AsyncGenerator<T> {
    const res = await this.http.fetchImpl(this.http.url(path), {
      method: 'GET',
      headers: this.http.headers({ accept: 'text/event-stream' }),
      ...(signal === undefined ? {} : { signal }),
    });
    if (!res.ok) throw await apiErrorFrom(res);
    onOpen?.();
    if (res.body === null) return;
    for await (const msg of parseSse(res.body)) {
      if (msg.event === 'error' || msg.data === '') continue;
      yield JSON.parse(msg.data) as T;
    }
  }
}
