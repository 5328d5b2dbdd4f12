/**
 * Wire-level types of the OpenAI Chat Completions API as skillplane uses it, plus the normalised
 * result the client hands back. Messages are kept in the wire shape so a conversation can be sent
 * back to the server unchanged.
 */

/** Run priority, also used to order waiters of a backend's concurrency limiter. */
export type { Priority } from '../vocabulary/index.js';
import type { Priority } from '../vocabulary/index.js';

/** Every priority, most urgent first. */
export { PRIORITIES } from '../vocabulary/index.js';

/** A tool call as it appears in an assistant message on the wire. */
export interface ToolCallMessagePart {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** A system prompt. */
export interface SystemMessage {
  role: 'system';
  content: string;
  name?: string;
}

/** A user turn. */
export interface UserMessage {
  role: 'user';
  content: string;
  name?: string;
}

/** An assistant turn: text, tool calls, or both. */
export interface AssistantMessage {
  role: 'assistant';
  content: string | null;
  tool_calls?: ToolCallMessagePart[];
  name?: string;
}

/** The result of one tool call, answering the assistant's call with the same id. */
export interface ToolMessage {
  role: 'tool';
  tool_call_id: string;
  content: string;
}

/** One message of a conversation, in the OpenAI wire shape. */
export type ChatMessage = SystemMessage | UserMessage | AssistantMessage | ToolMessage;

/** A function the model may call; `parameters` is a JSON Schema for its arguments. */
export interface ToolDefinition {
  type: 'function';
  function: { name: string; description?: string; parameters: Record<string, unknown> };
}

/** How the model may use the tools (Ollama ignores this; see DESIGN interop notes). */
export type ToolChoice = 'auto' | 'none' | 'required' | { type: 'function'; function: { name: string } };

/** One chat completion request, without the model (the backend config names it). */
export interface ChatRequest {
  messages: ChatMessage[];
  tools?: ToolDefinition[];
  tool_choice?: ToolChoice;
  temperature?: number;
  max_tokens?: number;
  /** Force streaming on or off; by default the client streams when an `onDelta` callback is given. */
  stream?: boolean;
}

/** A tool call the model made, its arguments accumulated into one raw string. */
export interface ToolCall {
  id: string;
  name: string;
  /** The raw JSON string the model produced (may be invalid JSON). */
  arguments: string;
  /** `arguments` parsed as JSON; undefined when it does not parse. An empty string parses as `{}`. */
  parsedArguments?: unknown;
}

/** Token usage of one call; `estimated` when the server sent none and it was counted locally. */
export interface ChatUsage {
  input_tokens: number;
  output_tokens: number;
  estimated: boolean;
}

/** The normalised outcome of one chat call. */
export interface ChatResult {
  /**
   * The answer: `content` is the text without reasoning (leading `<think>…</think>` blocks are
   * removed), null when the model only called tools.
   */
  message: { role: 'assistant'; content: string | null; tool_calls: ToolCall[] };
  /** `stop`, `tool_calls`, `length`, … as the server reported it; null when it sent none. */
  finish_reason: string | null;
  /**
   * True when the model stopped at the token limit (`finish_reason` `length`, or `max_tokens` as
   * some servers say): `message` holds the cut-off answer. The runtime records a `truncated`
   * warning on the step and the run; the call itself succeeds.
   */
  truncated: boolean;
  /**
   * The model's reasoning, kept apart from the answer: `reasoning_content` (vLLM, DeepSeek API)
   * or `reasoning` (the name some servers use), then the text of leading `<think>` blocks
   * (DeepSeek-R1, QwQ, Qwen3; also `…</think>` when the server stripped the opening tag), joined
   * by a newline and trimmed. Null when there was none. Never sent back to the model.
   */
  reasoning: string | null;
  usage: ChatUsage;
  /** The model name the server reported (falls back to the configured one). */
  model: string;
  /** usage × the backend's prices. */
  cost_usd: number;
}

/**
 * One streamed increment: a piece of answer text, a piece of reasoning, or a fragment of a tool
 * call keyed by `index`. Think-tag text arrives as `reasoning`, except when the server stripped
 * the opening tag: then it streams as `content` until `</think>` shows what it was (the final
 * {@link ChatResult} is split correctly either way).
 */
export interface ChatDelta {
  content?: string;
  reasoning?: string;
  tool_call?: { index: number; id?: string; name?: string; arguments_fragment?: string };
}

/** Per-call options of {@link ChatRequest} execution. */
export interface ChatOptions {
  /** Aborts the call (queue wait, backoff and HTTP request alike) with a `CancelledError`. */
  signal?: AbortSignal;
  /** Orders this call among the backend's waiters; default `normal`. */
  priority?: Priority;
  /** W3C trace context forwarded as request headers. */
  traceparent?: string;
  tracestate?: string;
  /** Called for each streamed increment; giving it turns streaming on. */
  onDelta?: (delta: ChatDelta) => void;
}
