/**
 * The bytes a scripted reply turns into: JSON completions, SSE chunk lines and the quirks of real
 * servers (error bodies with a 200, empty choices, think tags, reasoning fields, proxy pages,
 * garbage, cut and stalled streams). Pure functions; the server in `scripted-model-server.ts`
 * writes what they build.
 */

/** How the server answers one chat completion request. */
export interface ScriptedReply {
  /** Assistant text; streamed word by word (or in `chunk_chars` pieces). */
  content?: string;
  /** Tool calls; each one's arguments are streamed in several fragments. */
  tool_calls?: { name: string; arguments: object | string; id?: string }[];
  /** Reported usage; computed from the text when omitted; `false` sends no usage at all. */
  usage?: { prompt_tokens: number; completion_tokens: number } | false;
  /** HTTP status; >= 400 answers with an OpenAI-style error body. */
  status?: number;
  /** Extra response headers, e.g. `{'retry-after': '2'}`. */
  headers?: Record<string, string>;
  /** Wait before answering (honours client aborts). */
  delay_ms?: number;
  /** Wait between streamed chunks, to test mid-stream behaviour. */
  chunk_delay_ms?: number;
  /** Error message; without `status` the reply is a 500. */
  error?: string;
  /** Destroy the socket without answering (a connection failure). */
  disconnect?: boolean;
  /** Overrides `stop` / `tool_calls` (e.g. `length` for an answer cut at the token limit). */
  finish_reason?: string;
  /**
   * Answers HTTP 200 (or `status` below 400) with `{"error": error_body}`, as LM Studio does
   * without a loaded model (a string or an object such as `{message, type}`). Streamed: sent as a
   * chunk after the content, then the stream ends without a finish reason or `[DONE]`.
   */
  error_body?: unknown;
  /** Streamed `error_body` goes out as an `event: error` SSE event (text as is, objects as JSON). */
  error_event?: boolean;
  /** `true` answers with `choices: []`, `'missing'` with no `choices` member; streams send no choice. */
  empty_choices?: boolean | 'missing';
  /** Reasoning put in the content before the answer, as `<think>…</think>` (see `think_tags`). */
  think?: string;
  /**
   * `both` (default) `<think>r</think>\n\nanswer`; `close_only` `r</think>\n\nanswer` (the server
   * stripped the opening tag); `unclosed` `<think>r` + the content, never closed.
   */
  think_tags?: 'both' | 'close_only' | 'unclosed';
  /** Reasoning in a message field (vLLM, DeepSeek API); streamed as deltas before the content. */
  reasoning_content?: string;
  /** The field's name: `reasoning_content` (default) or `reasoning` (newer vLLM, OpenRouter). */
  reasoning_field?: 'reasoning_content' | 'reasoning';
  /** Stream text in pieces of this many characters (so tags split across chunks). */
  chunk_chars?: number;
  /** Answer with a proxy's HTML error page (`text/html`) with this status, e.g. 502. */
  html_status?: number;
  /** Answer 200 `application/json` with a body that is not JSON (`true`: a cut completion). */
  garbage?: string | true;
  /** Streams: close the connection after this many `data:` events, before the rest. */
  truncate_stream_after?: number;
  /** Streams: leave out the final `data: [DONE]`. */
  omit_done?: boolean;
  /**
   * Send nothing for this long after `stall_after` streamed events (default 1), then go on;
   * non-streamed, after the headers and before the body. Honours client aborts.
   */
  stall_ms?: number;
  /** Events sent before a `stall_ms` pause. */
  stall_after?: number;
}

/** The request facts a reply's body depends on. */
export interface WireContext {
  id: string;
  model: string;
  created: number;
  /** 0-based index of the request, for default tool-call ids. */
  index: number;
  /** Characters of the prompt, for computed usage. */
  promptChars: number;
  includeUsage: boolean;
}

/** An answer to write: a JSON completion, or SSE lines with an optional stall point. */
export type WireAnswer =
  { kind: 'json'; body: unknown } | { kind: 'sse'; lines: string[]; stallAt: number | undefined };

/** Approximate tokens of a text of `chars` characters. */
export const tokens = (chars: number): number => Math.max(1, Math.ceil(chars / 4));

/** An OpenAI-style error body for an HTTP error status. */
export function errorBody(message: string, status: number): unknown {
  const type = status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
  return { error: { message, type, code: null } };
}

/** The nginx-style page a reverse proxy answers when the model server behind it is down. */
export function htmlPage(status: number): string {
  const title = `${status} ${status === 502 ? 'Bad Gateway' : status === 503 ? 'Service Unavailable' : 'Error'}`;
  return [
    '<!DOCTYPE html>',
    `<html><head><title>${title}</title>`,
    `<style>body { font-family: sans-serif; } ${'.x { color: red; } '.repeat(40)}</style></head>`,
    `<body><center><h1>${title}</h1></center>`,
    `<hr><center>nginx/1.25.3</center>`,
    `<!-- ${'padding '.repeat(100)} -->`,
    `<p>${'The upstream server did not answer. '.repeat(20)}</p>`,
    '</body></html>',
  ].join('\n');
}

/** A body that is not JSON. */
export function garbageBody(reply: ScriptedReply): string {
  return reply.garbage === true || reply.garbage === undefined
    ? '{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assi'
    : reply.garbage;
}

/** Splits into ≥ 2 pieces when possible, so every tool call really arrives in fragments. */
function fragments(s: string): string[] {
  if (s.length < 2) return [s];
  const size = Math.max(1, Math.ceil(s.length / 3));
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

/** Streamed pieces of a text: words with their spaces, or fixed-size slices. */
function pieces(text: string, chunkChars: number | undefined): string[] {
  if (text === '') return [];
  if (chunkChars !== undefined && chunkChars > 0) {
    const out: string[] = [];
    for (let i = 0; i < text.length; i += chunkChars) out.push(text.slice(i, i + chunkChars));
    return out;
  }
  return text.match(/\s*\S+\s*/g) ?? [text];
}

/** The content as sent: the answer, with `think` wrapped in tags before it. */
function wireContent(reply: ScriptedReply): string | null {
  if (reply.think === undefined) return reply.content ?? null;
  const answer = reply.content ?? '';
  switch (reply.think_tags ?? 'both') {
    case 'close_only':
      return `${reply.think}</think>\n\n${answer}`;
    case 'unclosed':
      return `<think>${reply.think}${answer}`;
    default:
      return `<think>${reply.think}</think>\n\n${answer}`;
  }
}

/** Builds what to send for `reply`: the JSON completion, or the SSE lines of the stream. */
export function buildAnswer(reply: ScriptedReply, ctx: WireContext, stream: boolean): WireAnswer {
  const content = wireContent(reply);
  const reasoningField = reply.reasoning_field ?? 'reasoning_content';
  const toolCalls = (reply.tool_calls ?? []).map((c, i) => ({
    id: c.id ?? `call_${ctx.index}_${i}`,
    type: 'function' as const,
    function: {
      name: c.name,
      arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments),
    },
  }));
  const finishReason = reply.finish_reason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop');
  let usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | undefined;
  if (reply.usage !== false) {
    const outChars =
      (content?.length ?? 0) +
      (reply.reasoning_content?.length ?? 0) +
      toolCalls.reduce((n, c) => n + c.function.arguments.length, 0);
    const u = reply.usage ?? { prompt_tokens: tokens(ctx.promptChars), completion_tokens: tokens(outChars) };
    usage = { ...u, total_tokens: u.prompt_tokens + u.completion_tokens };
  }
  const envelope = { id: ctx.id, created: ctx.created, model: ctx.model };

  if (!stream) {
    if (reply.error_body !== undefined) return { kind: 'json', body: { error: reply.error_body } };
    const message = {
      role: 'assistant',
      content,
      ...(reply.reasoning_content === undefined ? {} : { [reasoningField]: reply.reasoning_content }),
      ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
    };
    const choices =
      reply.empty_choices === 'missing'
        ? {}
        : {
            choices:
              reply.empty_choices === true
                ? []
                : [{ index: 0, message, finish_reason: finishReason, logprobs: null }],
          };
    return {
      kind: 'json',
      body: { ...envelope, object: 'chat.completion', ...choices, ...(usage === undefined ? {} : { usage }) },
    };
  }

  const data = (payload: unknown): string => `data: ${JSON.stringify(payload)}\n\n`;
  const chunk = (delta: unknown, finish: string | null = null): string =>
    data({
      ...envelope,
      object: 'chat.completion.chunk',
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    });
  const lines: string[] = [];
  let ended = false;
  if (reply.empty_choices === undefined || reply.empty_choices === false) {
    lines.push(chunk({ role: 'assistant', content: '' }));
    if (reply.garbage !== undefined) lines.push(`data: ${garbageBody(reply)}\n\n`);
    for (const piece of pieces(reply.reasoning_content ?? '', reply.chunk_chars))
      lines.push(chunk({ [reasoningField]: piece }));
    for (const piece of pieces(content ?? '', reply.chunk_chars)) lines.push(chunk({ content: piece }));
    toolCalls.forEach((c, index) => {
      lines.push(
        chunk({
          tool_calls: [
            { index, id: c.id, type: 'function', function: { name: c.function.name, arguments: '' } },
          ],
        }),
      );
      for (const part of fragments(c.function.arguments)) {
        lines.push(chunk({ tool_calls: [{ index, function: { arguments: part } }] }));
      }
    });
    if (reply.error_body !== undefined) {
      const e = reply.error_body;
      lines.push(
        reply.error_event === true
          ? `event: error\ndata: ${typeof e === 'string' ? e : JSON.stringify(e)}\n\n`
          : data({ error: e }),
      );
      ended = true;
    } else {
      lines.push(chunk({}, finishReason));
    }
  }
  if (!ended) {
    if (usage !== undefined && ctx.includeUsage) {
      lines.push(data({ ...envelope, object: 'chat.completion.chunk', choices: [], usage }));
    }
    if (reply.omit_done !== true) lines.push('data: [DONE]\n\n');
  }
  const cut = reply.truncate_stream_after === undefined ? lines : lines.slice(0, reply.truncate_stream_after);
  const stallAt = reply.stall_ms !== undefined && reply.stall_ms > 0 ? (reply.stall_after ?? 1) : undefined;
  return { kind: 'sse', lines: cut, stallAt };
}
