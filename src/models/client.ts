import { performance } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import type { ModelBackendConfig } from '../config/index.js';
import { CancelledError, SkillplaneError, TimeoutError } from '../errors/index.js';
import { ModelError, ModelTimeoutError } from './errors.js';
import { serverErrorOf } from './internal/answer.js';
import { CompletionAccumulator } from './internal/completion.js';
import { withDeadline } from './internal/deadline.js';
import type { Deadline, DeadlineErrors } from './internal/deadline.js';
import { Failures } from './internal/failures.js';
import { backoffDelay, isRetryableStatus, parseRetryAfter } from './internal/retry.js';
import { readCompletionStream } from './internal/stream.js';
import { undiciFetch, type HttpFetch } from './internal/transport.js';
import { PriorityLimiter } from './limiter.js';
import type { PriorityLimiterOptions, PriorityLimiterStats } from './limiter.js';
import type { ChatDelta, ChatOptions, ChatRequest, ChatResult, ChatUsage } from './types.js';

/** Sleeps `ms`, rejecting early when `signal` aborts. Injectable so tests can assert delays. */
export type SleepFn = (ms: number, signal?: AbortSignal) => Promise<void>;

/** Optional collaborators and tuning of a {@link ModelClient}. */
export interface ModelClientOptions {
  /** Share a limiter between clients; by default each client owns one of `max_concurrency` slots. */
  limiter?: PriorityLimiter;
  /** Options of the limiter the client creates when none is given. */
  limiterOptions?: PriorityLimiterOptions;
  /** The fetch implementation; default the global one (undici). */
  /** The HTTP transport; default undici's `request` ({@link undiciFetch}). `globalThis.fetch` fits. */
  fetch?: HttpFetch;
  /** Backoff sleep; default a timer that honours the signal. */
  sleep?: SleepFn;
  /** Jitter source in [0, 1); default `Math.random`. */
  random?: () => number;
  /** Clock used for `Retry-After` dates; default `Date.now`. */
  now?: () => number;
  /** First backoff step; doubles each retry (default 500 ms). */
  retryBaseDelayMs?: number;
  /** Largest computed backoff (default 20 000 ms). */
  retryMaxDelayMs?: number;
  /** A server's `Retry-After` is honoured up to this many ms (default 60 000). */
  maxRetryAfterMs?: number;
  /** Told of each call's outcome and each wait for a limiter slot (metrics); must not throw. */
  observe?: (o: ModelObservation) => void;
}

/**
 * What a client reports for metrics: a finished {@link ModelClient.chat} call (`code` null when
 * it answered; its usage and cost), or a granted limiter slot and how long it was waited for.
 */
export type ModelObservation =
  | {
      type: 'request';
      backend: string;
      code: string | null;
      durationMs: number;
      inputTokens: number;
      outputTokens: number;
      costUsd: number;
    }
  | { type: 'limiter_wait'; backend: string; waitMs: number };

type AttemptOutcome =
  | { kind: 'ok'; result: ChatResult }
  | { kind: 'retry'; error: ModelError; retryAfterMs: number | undefined; emitted: boolean };

/** `finish_reason` values meaning the model hit the token limit. */
const TRUNCATED_REASONS = new Set(['length', 'max_tokens']);

const defaultSleep: SleepFn = async (ms, signal) => {
  await delay(ms, undefined, signal === undefined ? undefined : { signal });
};

/**
 * A client of one OpenAI-compatible Chat Completions backend (Ollama, vLLM, llama.cpp, LM Studio,
 * OpenAI). Every call waits for a slot of the backend's {@link PriorityLimiter}, then sends one
 * HTTP request per attempt.
 *
 * - Streams over SSE when `onDelta` is given (or `stream: true`), asking for usage in the last
 *   chunk; tool-call fragments are accumulated by `index`.
 * - Usage the server does not report is estimated locally (≈ 4 chars per token, `estimated: true`).
 * - Reasoning (`reasoning_content` / `reasoning`, leading `<think>` blocks) is returned apart from
 *   the answer in `ChatResult.reasoning`; `finish_reason: "length"` sets `ChatResult.truncated`.
 * - `timeout_sec` bounds each HTTP attempt until the answer starts (not the wait for a slot) →
 *   `TimeoutError` (`timeout`); once a stream has started it bounds every silence instead →
 *   `ModelTimeoutError` (`model_timeout`). Timeouts are not retried here (the run's step
 *   retries decide).
 * - Aborting `signal` aborts the HTTP request → `CancelledError`.
 * - 408/429/5xx and connection failures are retried up to `max_retries` times with exponential
 *   backoff and jitter, or after the server's `Retry-After`; the slot is given back while waiting.
 *   A 502/503/504 page that is not JSON (a proxy) ends as `model_unavailable`. A stream closed
 *   before `[DONE]` without a finish reason is retried too (`stream_truncated`). A stream that
 *   already delivered deltas is not retried. Other statuses → `ModelError`.
 * - A 2xx answer that is no answer (`model_error`, never retried by the client, `data.retryable`
 *   false): an `error` member (`error_body`, or `stream_error` in a stream: retried only when the
 *   error carries a numeric code 408/429/5xx), no choice (`no_choices`), not JSON (`malformed_json`).
 */
export class ModelClient {
  /** The model name sent to the server. */
  readonly model: string;
  private readonly limiter: PriorityLimiter;
  private readonly fetchImpl: HttpFetch;
  private readonly sleep: SleepFn;
  private readonly random: () => number;
  private readonly now: () => number;
  private readonly retryBaseDelayMs: number;
  private readonly retryMaxDelayMs: number;
  private readonly maxRetryAfterMs: number;
  private readonly active = new Set<AbortController>();
  private readonly failures: Failures;
  private readonly observe: ((o: ModelObservation) => void) | undefined;
  private closed = false;

  private readonly deadlineErrors: DeadlineErrors = {
    answerTimeout: () =>
      new TimeoutError(
        `model backend ${this.name} did not answer within ${this.config.timeout_sec} s`,
        this.timeoutMs(),
      ),
    streamTimeout: () =>
      new ModelTimeoutError(
        `model backend ${this.name} sent nothing for ${this.config.timeout_sec} s mid-stream`,
        {
          timeoutMs: this.timeoutMs(),
          backend: this.name,
        },
      ),
    cancelled: (reason) => new CancelledError('model call cancelled', reason),
    closed: (err) => new CancelledError(`model client ${this.name} closed`, err),
  };

  constructor(
    /** The backend's key under `models` in the config. */
    readonly name: string,
    readonly config: ModelBackendConfig,
    options: ModelClientOptions = {},
  ) {
    this.model = config.model;
    this.failures = new Failures(name);
    this.limiter = options.limiter ?? new PriorityLimiter(config.max_concurrency, options.limiterOptions);
    this.fetchImpl = options.fetch ?? undiciFetch;
    this.sleep = options.sleep ?? defaultSleep;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
    this.retryBaseDelayMs = options.retryBaseDelayMs ?? 500;
    this.retryMaxDelayMs = options.retryMaxDelayMs ?? 20_000;
    this.maxRetryAfterMs = options.maxRetryAfterMs ?? 60_000;
    this.observe = options.observe;
  }

  /** Reports to `observe`; a failing observer never fails a call. */
  private report(o: ModelObservation): void {
    try {
      this.observe?.(o);
    } catch {
      // Telemetry only.
    }
  }

  /** Sends one chat completion request (with retries) and returns the normalised result. */
  async chat(req: ChatRequest, options: ChatOptions = {}): Promise<ChatResult> {
    if (this.observe === undefined) return this.send(req, options);
    const began = performance.now();
    const base = { type: 'request', backend: this.name } as const;
    try {
      const r = await this.send(req, options);
      const { input_tokens: inputTokens, output_tokens: outputTokens } = r.usage;
      const durationMs = performance.now() - began;
      this.report({ ...base, code: null, durationMs, inputTokens, outputTokens, costUsd: r.cost_usd });
      return r;
    } catch (err) {
      const code = err instanceof SkillplaneError ? err.code : 'model_error';
      const durationMs = performance.now() - began;
      this.report({ ...base, code, durationMs, inputTokens: 0, outputTokens: 0, costUsd: 0 });
      throw err;
    }
  }

  private async send(req: ChatRequest, options: ChatOptions): Promise<ChatResult> {
    const { signal } = options;
    this.throwIfUnusable(signal);
    const stream = req.stream ?? options.onDelta !== undefined;
    const body = JSON.stringify(this.buildBody(req, stream));
    for (let attempt = 0; ; attempt++) {
      const waitFrom = this.observe === undefined ? 0 : performance.now();
      const release = await this.limiter.acquire(options.priority ?? 'normal', signal);
      if (this.observe !== undefined)
        this.report({ type: 'limiter_wait', backend: this.name, waitMs: performance.now() - waitFrom });
      let outcome: AttemptOutcome;
      try {
        this.throwIfUnusable(signal);
        outcome = await this.attempt(req, body, stream, options);
      } finally {
        release();
      }
      if (outcome.kind === 'ok') return outcome.result;
      if (attempt >= this.config.max_retries || outcome.emitted) throw outcome.error;
      const wait =
        outcome.retryAfterMs !== undefined
          ? Math.min(outcome.retryAfterMs, this.maxRetryAfterMs)
          : backoffDelay(attempt, this.random, this.retryBaseDelayMs, this.retryMaxDelayMs);
      try {
        await this.sleep(wait, signal);
      } catch (err) {
        throw new CancelledError('model call cancelled during retry backoff', err);
      }
      this.throwIfUnusable(signal);
    }
  }

  /** The cost in USD of a call with these token counts, from the backend's prices. */
  estimateCost(inputTokens: number, outputTokens: number): number {
    return (
      (inputTokens / 1000) * this.config.price_per_1k_input +
      (outputTokens / 1000) * this.config.price_per_1k_output
    );
  }

  /** The ids `GET /models` lists; useful as a readiness probe. Not limited, not retried. */
  async listModels(options: { signal?: AbortSignal } = {}): Promise<string[]> {
    this.throwIfUnusable(options.signal);
    const body = await this.withDeadline(options.signal, async ({ signal }) => {
      const res = await this.fetchImpl(`${this.baseUrl()}/models`, {
        method: 'GET',
        headers: this.headers({}, false),
        signal,
      });
      if (!res.ok) throw await this.failures.httpError(res);
      return this.failures.parseJson(await res.text(), res.status, res.headers.get('content-type'));
    }).catch((err: unknown) => {
      if (err instanceof SkillplaneError) throw err;
      throw this.failures.unreachable(err);
    });
    const data = typeof body === 'object' && body !== null ? (body as { data?: unknown }).data : undefined;
    if (!Array.isArray(data)) return [];
    return data.flatMap((m: unknown) => {
      const id = typeof m === 'object' && m !== null ? (m as { id?: unknown }).id : undefined;
      return typeof id === 'string' ? [id] : [];
    });
  }

  /** Slots in use and waiters per priority. */
  stats(): PriorityLimiterStats {
    return this.limiter.stats();
  }

  /** Rejects queued calls and aborts in-flight requests with a `CancelledError`. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.limiter.close();
    for (const c of this.active) c.abort(new CancelledError(`model client ${this.name} closed`));
  }

  private async attempt(
    req: ChatRequest,
    body: string,
    stream: boolean,
    options: ChatOptions,
  ): Promise<AttemptOutcome> {
    let emitted = false;
    const onDelta =
      options.onDelta === undefined
        ? undefined
        : (d: ChatDelta): void => {
            emitted = true;
            options.onDelta?.(d);
          };
    try {
      return await this.withDeadline(options.signal, async (deadline) => {
        const res = await this.fetchImpl(`${this.baseUrl()}/chat/completions`, {
          method: 'POST',
          headers: this.headers(options, stream),
          body,
          signal: deadline.signal,
        });
        if (!res.ok) {
          const error = await this.failures.httpError(res);
          if (!isRetryableStatus(res.status)) throw error;
          const retryAfterMs = parseRetryAfter(res.headers.get('retry-after'), this.now());
          return { kind: 'retry', error, retryAfterMs, emitted: false } as const;
        }
        const acc = new CompletionAccumulator();
        const contentType = res.headers.get('content-type');
        if ((contentType ?? '').includes('text/event-stream') && res.body !== null) {
          deadline.streaming();
          await readCompletionStream(res.body, {
            acc,
            onDelta,
            status: res.status,
            deadline,
            failures: this.failures,
          });
        } else {
          const parsed = this.failures.parseJson(await res.text(), res.status, contentType);
          const serverError = serverErrorOf(parsed);
          if (serverError !== undefined) {
            throw this.failures.fail(`answered HTTP ${res.status} with an error: ${serverError.message}`, {
              status: res.status,
              reason: 'error_body',
              retryable: serverError.transient,
            });
          }
          acc.applyCompletion(parsed);
          if (!acc.sawChoice) throw this.failures.noChoices(res.status);
        }
        return { kind: 'ok', result: this.toResult(acc, req) } as const;
      });
    } catch (err) {
      if (err instanceof ModelError && err.data?.retryable === true) {
        return { kind: 'retry', error: err, retryAfterMs: undefined, emitted };
      }
      if (err instanceof SkillplaneError) throw err;
      // Anything else is the network: refused, reset, DNS, a socket closed mid-body.
      return { kind: 'retry', error: this.failures.unreachable(err), retryAfterMs: undefined, emitted };
    }
  }

  /** Runs one HTTP exchange under the backend's timeout, the caller's signal and `close()`. */
  private async withDeadline<T>(
    parent: AbortSignal | undefined,
    fn: (deadline: Deadline) => Promise<T>,
  ): Promise<T> {
    const controller = new AbortController();
    this.active.add(controller);
    try {
      return await withDeadline(controller, parent, this.timeoutMs(), this.deadlineErrors, fn);
    } finally {
      this.active.delete(controller);
    }
  }

  private timeoutMs(): number {
    return Math.round(this.config.timeout_sec * 1000);
  }

  private buildBody(req: ChatRequest, stream: boolean): Record<string, unknown> {
    const body: Record<string, unknown> = { model: this.config.model, messages: req.messages };
    if (req.tools !== undefined && req.tools.length > 0) {
      body.tools = req.tools;
      if (req.tool_choice !== undefined) body.tool_choice = req.tool_choice;
    }
    if (req.temperature !== undefined) body.temperature = req.temperature;
    if (req.max_tokens !== undefined) body.max_tokens = req.max_tokens;
    body.stream = stream;
    if (stream) body.stream_options = { include_usage: true };
    return body;
  }

  private headers(
    options: Pick<ChatOptions, 'traceparent' | 'tracestate'>,
    stream: boolean,
  ): Record<string, string> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
      accept: stream ? 'text/event-stream' : 'application/json',
    };
    if (this.config.api_key !== null && this.config.api_key !== '') {
      headers.authorization = `Bearer ${this.config.api_key}`;
    }
    if (options.traceparent !== undefined) {
      headers.traceparent = options.traceparent;
      if (options.tracestate !== undefined && options.tracestate !== '')
        headers.tracestate = options.tracestate;
    }
    return headers;
  }

  private baseUrl(): string {
    return this.config.base_url.replace(/\/+$/, '');
  }

  private toResult(acc: CompletionAccumulator, req: ChatRequest): ChatResult {
    const r = acc.result(req, this.config.model);
    return {
      message: { role: 'assistant', content: r.content, tool_calls: r.tool_calls },
      finish_reason: r.finish_reason,
      truncated: r.finish_reason !== null && TRUNCATED_REASONS.has(r.finish_reason),
      reasoning: r.reasoning,
      usage: r.usage,
      model: r.model,
      cost_usd: this.costOf(r.usage),
    };
  }

  private costOf(usage: ChatUsage): number {
    return this.estimateCost(usage.input_tokens, usage.output_tokens);
  }

  private throwIfUnusable(signal: AbortSignal | undefined): void {
    if (signal?.aborted === true) throw new CancelledError('model call cancelled', signal.reason);
    if (this.closed) throw new CancelledError(`model client ${this.name} closed`);
  }
}
