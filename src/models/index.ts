/**
 * Model backends: an OpenAI-compatible Chat Completions client (tools, streaming, usage, retries,
 * timeouts, cancellation) behind a per-backend priority limiter, and a registry built from config.
 */

/** A client of one OpenAI-compatible backend; see {@link ModelClient.chat}. */
export { ModelClient } from './client.js';
/** Injectable collaborators of a client (fetch, sleep, jitter, limiter) and the backoff sleep type. */
export type { ModelClientOptions, ModelObservation, SleepFn } from './client.js';
/** The backends configured under `models`, one client each. */
export { ModelRegistry } from './registry.js';
/** Probes of each backend's `GET /models` (readiness, start-up), cached briefly. */
export { BackendProbe, probeBackend } from './health.js';
/** One backend's probe result, why it is down, and the probe's options. */
export type { BackendDownReason, BackendHealth, BackendProbeOptions } from './health.js';
/** Concurrency limiter admitting waiters by priority, then age, with aging against starvation. */
export { PriorityLimiter } from './limiter.js';
/** Limiter options, snapshot and release function. */
export type { PriorityLimiterOptions, PriorityLimiterStats, ReleaseFn } from './limiter.js';
/**
 * `model_error` (HTTP failure, retries exhausted, unreachable, a 2xx that is no answer; see
 * `data.reason`), `model_unavailable` (a proxy's 502/503/504 page), `model_timeout` (a stream
 * went silent for `timeout_sec`) and `model_not_found`.
 */
export { ModelError, ModelNotFoundError, ModelTimeoutError, ModelUnavailableError } from './errors.js';
/** The `data.reason` of a {@link ModelError} and its constructor's details. */
export type { ModelErrorDetails, ModelErrorReason } from './errors.js';
/** Every priority, most urgent first. */
export { PRIORITIES } from './types.js';
/** Chat Completions wire types and the normalised result. */
export type {
  AssistantMessage,
  ChatDelta,
  ChatMessage,
  ChatOptions,
  ChatRequest,
  ChatResult,
  ChatUsage,
  Priority,
  SystemMessage,
  ToolCall,
  ToolCallMessagePart,
  ToolChoice,
  ToolDefinition,
  ToolMessage,
  UserMessage,
} from './types.js';
/** Local token estimates (≈ 4 characters per token) used when a server reports no usage. */
export { estimateInputTokens, estimateTokensFromChars } from './internal/completion.js';
