import { randomUUID } from 'node:crypto';
import type { ChatDelta, ChatMessage, ChatRequest, ChatUsage, ToolCall, ToolDefinition } from '../types.js';
import { ThinkSplitter } from './reasoning.js';

/** Roughly four characters per token: good enough for budgets when a server reports no usage. */
export function estimateTokensFromChars(chars: number): number {
  return Math.ceil(chars / 4);
}

/** Local estimate of a request's prompt tokens (messages, tool calls and tool schemas). */
export function estimateInputTokens(messages: ChatMessage[], tools: ToolDefinition[] | undefined): number {
  let chars = 0;
  for (const m of messages) {
    chars += 4 + (m.content?.length ?? 0);
    if (m.role === 'assistant' && m.tool_calls !== undefined) {
      for (const c of m.tool_calls) chars += c.function.name.length + c.function.arguments.length;
    }
  }
  if (tools !== undefined && tools.length > 0) chars += JSON.stringify(tools).length;
  return estimateTokensFromChars(chars);
}

type Json = Record<string, unknown>;

function asObject(v: unknown): Json | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Json) : undefined;
}

function asString(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

function asCount(v: unknown): number | undefined {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : undefined;
}

/** The `message` of an `error` member a server put in a body, if any. */
export function errorMessageOf(body: unknown): string | undefined {
  const obj = asObject(body);
  if (obj === undefined || obj.error === undefined || obj.error === null) return undefined;
  if (typeof obj.error === 'string') return obj.error;
  return asString(asObject(obj.error)?.message) ?? JSON.stringify(obj.error);
}

/** `reasoning_content` (vLLM, DeepSeek API), else `reasoning` (newer vLLM, OpenRouter, Ollama). */
function reasoningOf(message: Json): string | undefined {
  // Servers that send both mean the same text: take one, never both.
  const content = asString(message.reasoning_content);
  return content !== undefined && content !== '' ? content : asString(message.reasoning);
}

interface PartialToolCall {
  id: string | undefined;
  name: string;
  arguments: string;
}

/** What a {@link CompletionAccumulator} built. */
export interface AccumulatedCompletion {
  /** The answer, without leading think blocks; null when there are only tool calls. */
  content: string | null;
  /** `reasoning_content` / `reasoning` and leading think blocks, joined; null when none. */
  reasoning: string | null;
  tool_calls: ToolCall[];
  finish_reason: string | null;
  usage: ChatUsage;
  model: string;
}

/**
 * Builds one result from a JSON completion or from a sequence of streamed chunks. Streamed tool
 * calls arrive as fragments keyed by `index`; their `arguments` strings are concatenated. Reasoning
 * (`reasoning_content`, or `reasoning` as some servers name it, and leading `<think>` blocks of the
 * content) is kept apart from the answer.
 */
export class CompletionAccumulator {
  private rawContent = '';
  private sawContent = false;
  private sawChoiceFlag = false;
  private fieldReasoning = '';
  private readonly splitter = new ThinkSplitter();
  private flushed = false;
  private readonly toolCalls = new Map<number, PartialToolCall>();
  private lastToolIndex: number | undefined;
  private finishReason: string | null = null;
  private model: string | undefined;
  private usage: { input: number; output: number } | undefined;

  /** Applies a non-streamed `chat.completion` body. */
  applyCompletion(body: unknown): void {
    const obj = asObject(body) ?? {};
    this.readEnvelope(obj);
    const choice = this.firstChoice(obj);
    if (choice === undefined) return;
    const message = asObject(choice.message) ?? {};
    this.fieldReasoning += reasoningOf(message) ?? '';
    const content = asString(message.content);
    if (content !== undefined) {
      this.rawContent += content;
      this.splitter.push(content);
      this.sawContent = true;
    }
    const calls = Array.isArray(message.tool_calls) ? message.tool_calls : [];
    calls.forEach((raw, i) => this.applyToolCall(raw, i, undefined));
    this.readFinish(choice);
  }

  /** Applies one streamed `chat.completion.chunk`, reporting increments to `onDelta`. */
  applyChunk(body: unknown, onDelta: ((delta: ChatDelta) => void) | undefined): void {
    const obj = asObject(body) ?? {};
    this.readEnvelope(obj);
    const choice = this.firstChoice(obj);
    if (choice === undefined) return;
    const delta = asObject(choice.delta) ?? asObject(choice.message) ?? {};
    const reasoning = reasoningOf(delta);
    if (reasoning !== undefined && reasoning !== '') {
      this.fieldReasoning += reasoning;
      onDelta?.({ reasoning });
    }
    const content = asString(delta.content);
    if (content !== undefined && content !== '') {
      this.rawContent += content;
      this.sawContent = true;
      this.emit(this.splitter.push(content), onDelta);
    }
    if (Array.isArray(delta.tool_calls)) {
      for (const raw of delta.tool_calls) this.applyToolCall(raw, undefined, onDelta);
    }
    this.readFinish(choice);
  }

  /** Emits what the think-tag splitter still held back (a partial tag); call once at the end. */
  flush(onDelta: ((delta: ChatDelta) => void) | undefined): void {
    if (this.flushed) return;
    this.flushed = true;
    this.emit(this.splitter.end(), onDelta);
  }

  get finished(): boolean {
    return this.finishReason !== null;
  }

  /** Whether any choice arrived (a body or a stream without one is no answer at all). */
  get sawChoice(): boolean {
    return this.sawChoiceFlag;
  }

  /** The accumulated result; usage falls back to a local estimate when the server sent none. */
  result(req: ChatRequest, fallbackModel: string): AccumulatedCompletion {
    this.flush(undefined);
    const toolCalls: ToolCall[] = [...this.toolCalls.entries()]
      .sort(([a], [b]) => a - b)
      .map(([, c]) =>
        withParsedArguments({ id: c.id ?? `call_${randomUUID()}`, name: c.name, arguments: c.arguments }),
      );
    const split = this.splitter.result();
    const reasoning = [this.fieldReasoning.trim(), split.reasoning].filter((r) => r !== '').join('\n');
    // With tool calls, an answer that was only reasoning is no answer; a literal "" stays "".
    const explicitEmpty = this.sawContent && this.rawContent === '';
    const content = toolCalls.length === 0 || split.answer !== '' || explicitEmpty ? split.answer : null;
    let usage: ChatUsage;
    if (this.usage !== undefined) {
      usage = { input_tokens: this.usage.input, output_tokens: this.usage.output, estimated: false };
    } else {
      let outChars = (content?.length ?? 0) + reasoning.length;
      for (const c of toolCalls) outChars += c.name.length + c.arguments.length;
      usage = {
        input_tokens: estimateInputTokens(req.messages, req.tools),
        output_tokens: estimateTokensFromChars(outChars),
        estimated: true,
      };
    }
    return {
      content,
      reasoning: reasoning === '' ? null : reasoning,
      tool_calls: toolCalls,
      finish_reason: this.finishReason,
      usage,
      model: this.model ?? fallbackModel,
    };
  }

  private emit(
    piece: { reasoning: string; answer: string },
    onDelta: ((d: ChatDelta) => void) | undefined,
  ): void {
    if (piece.reasoning !== '') onDelta?.({ reasoning: piece.reasoning });
    if (piece.answer !== '') onDelta?.({ content: piece.answer });
  }

  private readEnvelope(obj: Json): void {
    const model = asString(obj.model);
    if (model !== undefined && model !== '') this.model = model;
    const usage = asObject(obj.usage);
    const input = asCount(usage?.prompt_tokens);
    const output = asCount(usage?.completion_tokens);
    if (input !== undefined && output !== undefined) this.usage = { input, output };
  }

  private firstChoice(obj: Json): Json | undefined {
    if (!Array.isArray(obj.choices)) return undefined;
    const choice = obj.choices
      .map(asObject)
      .find((c) => c !== undefined && (c.index === undefined || c.index === 0));
    if (choice !== undefined) this.sawChoiceFlag = true;
    return choice;
  }

  private readFinish(choice: Json): void {
    const reason = asString(choice.finish_reason);
    if (reason !== undefined) this.finishReason = reason;
  }

  private applyToolCall(
    raw: unknown,
    position: number | undefined,
    onDelta: ((d: ChatDelta) => void) | undefined,
  ): void {
    const call = asObject(raw);
    if (call === undefined) return;
    const fn = asObject(call.function) ?? {};
    const id = asString(call.id) || undefined;
    const name = asString(fn.name) || undefined;
    const args =
      typeof fn.arguments === 'string'
        ? fn.arguments
        : fn.arguments === undefined
          ? ''
          : JSON.stringify(fn.arguments);
    const index = this.resolveIndex(call.index, id, position);
    const entry = this.toolCalls.get(index) ?? { id: undefined, name: '', arguments: '' };
    if (id !== undefined) entry.id = id;
    // The spec sends the name once; some servers repeat it in every fragment.
    if (name !== undefined && name !== entry.name) entry.name += name;
    entry.arguments += args;
    this.toolCalls.set(index, entry);
    this.lastToolIndex = index;
    if (onDelta !== undefined) {
      const tool_call: NonNullable<ChatDelta['tool_call']> = { index };
      if (id !== undefined) tool_call.id = id;
      if (name !== undefined) tool_call.name = name;
      if (args !== '') tool_call.arguments_fragment = args;
      onDelta({ tool_call });
    }
  }

  /** `index` when the server sends it (the spec); else match by id, else continue the last call. */
  private resolveIndex(raw: unknown, id: string | undefined, position: number | undefined): number {
    if (typeof raw === 'number' && Number.isInteger(raw) && raw >= 0) return raw;
    if (position !== undefined) return position;
    if (id !== undefined) {
      for (const [i, c] of this.toolCalls) if (c.id === id) return i;
      return this.toolCalls.size === 0 ? 0 : Math.max(...this.toolCalls.keys()) + 1;
    }
    return this.lastToolIndex ?? 0;
  }
}

function withParsedArguments(call: ToolCall): ToolCall {
  if (call.arguments.trim() === '') return { ...call, parsedArguments: {} };
  try {
    return { ...call, parsedArguments: JSON.parse(call.arguments) as unknown };
  } catch {
    return call;
  }
}
