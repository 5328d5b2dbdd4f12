import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { ChatMessage, ToolDefinition } from '../models/index.js';

/** The JSON body of a chat completion request as the server received it (not validated further). */
export interface ScriptedRequestBody {
  model?: string;
  messages: ChatMessage[];
  tools?: ToolDefinition[];
  tool_choice?: unknown;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  [field: string]: unknown;
}

/** What a script sees: the body, the headers (lower-cased) and the 0-based chat request count. */
export interface ScriptedRequest {
  body: ScriptedRequestBody;
  headers: IncomingHttpHeaders;
  index: number;
}

/** How the server answers one chat completion request. */
export interface ScriptedReply {
  /** Assistant text; streamed word by word. */
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
  /** Overrides `stop` / `tool_calls`. */
  finish_reason?: string;
}

/** Produces the reply to one request. */
export type Script = (req: ScriptedRequest) => ScriptedReply | Promise<ScriptedReply>;

/** One chat completion request the server received. */
export interface RecordedRequest {
  index: number;
  body: ScriptedRequestBody;
  headers: IncomingHttpHeaders;
  /** True once the client closed the connection before the response was complete. */
  aborted: boolean;
}

/** Options of {@link startScriptedModelServer}. */
export interface ScriptedModelServerOptions {
  /** Default {@link echoScript}. */
  script?: Script;
  /** Model name reported when the request names none; also the one listed by `GET /v1/models`. */
  model?: string;
}

/** A running scripted server. */
export interface ScriptedModelServer {
  /** Base URL ending in `/v1`, ready for a backend's `base_url`. */
  url: string;
  /** Every `POST /v1/chat/completions` received, in order. */
  requests: RecordedRequest[];
  /** Stops listening and drops open connections. */
  close(): Promise<void>;
}

/**
 * Answers with a fixed sequence of replies (a string is `{content}`), one per request; a request
 * beyond the end gets a 500 naming the exhaustion.
 */
export function replies(list: (string | ScriptedReply)[]): Script {
  let next = 0;
  return () => {
    const reply = list[next++];
    if (reply === undefined) throw new Error(`scripted replies exhausted after ${list.length} requests`);
    return typeof reply === 'string' ? { content: reply } : reply;
  };
}

function text(content: unknown): string {
  return typeof content === 'string'
    ? content
    : content === null || content === undefined
      ? ''
      : JSON.stringify(content);
}

/**
 * The default script, deterministic from the conversation:
 * - trailing `tool` messages → answers with their contents joined by newlines;
 * - last user message `call <tool> <json>` and that tool offered → calls it (arguments as given,
 *   `{}` when omitted);
 * - otherwise → `echo: <last user message>`.
 */
export const echoScript: Script = ({ body }) => {
  const messages = Array.isArray(body.messages) ? body.messages : [];
  const toolResults: string[] = [];
  for (let i = messages.length - 1; i >= 0 && messages[i]?.role === 'tool'; i--) {
    toolResults.unshift(text(messages[i]?.content));
  }
  if (toolResults.length > 0) return { content: toolResults.join('\n') };
  const lastUser = [...messages].reverse().find((m) => m.role === 'user');
  const said = text(lastUser?.content);
  const call = /^\s*call\s+([A-Za-z0-9_.-]+)(?:\s+([\s\S]*))?$/.exec(said);
  const name = call?.[1];
  if (name !== undefined && (body.tools ?? []).some((t) => t.function.name === name)) {
    const args = call?.[2]?.trim() ?? '';
    return { tool_calls: [{ name, arguments: args === '' ? '{}' : args }] };
  }
  return { content: `echo: ${said}` };
};

const tokens = (chars: number): number => Math.max(1, Math.ceil(chars / 4));

function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
  });
  res.end(payload);
}

function errorBody(message: string, status: number): unknown {
  const type = status === 429 ? 'rate_limit_error' : status >= 500 ? 'server_error' : 'invalid_request_error';
  return { error: { message, type, code: null } };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Splits into ≥ 2 pieces when possible, so every tool call really arrives in fragments. */
function fragments(s: string): string[] {
  if (s.length < 2) return [s];
  const size = Math.max(1, Math.ceil(s.length / 3));
  const out: string[] = [];
  for (let i = 0; i < s.length; i += size) out.push(s.slice(i, i + size));
  return out;
}

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  record: RecordedRequest;
  /** Aborted when the client goes away or the server closes. */
  signal: AbortSignal;
}

/**
 * Starts a real HTTP server on 127.0.0.1 (random port) speaking the OpenAI Chat Completions API:
 * `POST /v1/chat/completions` (JSON, or SSE with `data: [DONE]` when `stream: true`, tool calls
 * streamed as fragments, usage in a last chunk when `stream_options.include_usage`) and
 * `GET /v1/models`. Replies come from `script`. There is no artificial delay unless a reply asks
 * for one, and writing stops as soon as the client disconnects.
 */
export async function startScriptedModelServer(
  options: ScriptedModelServerOptions = {},
): Promise<ScriptedModelServer> {
  const script = options.script ?? echoScript;
  const defaultModel = options.model ?? 'scripted-model';
  const requests: RecordedRequest[] = [];
  let completionId = 0;

  const server = createServer((req, res) => {
    const controller = new AbortController();
    res.on('close', () => controller.abort());
    handle(req, res, controller.signal).catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) sendJson(res, 500, errorBody(String(err), 500));
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 30_000;

  async function handle(req: IncomingMessage, res: ServerResponse, signal: AbortSignal): Promise<void> {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method === 'GET' && path === '/v1/models') {
      sendJson(res, 200, {
        object: 'list',
        data: [{ id: defaultModel, object: 'model', created: 0, owned_by: 'skillplane-testing' }],
      });
      return;
    }
    if (req.method !== 'POST' || path !== '/v1/chat/completions') {
      sendJson(res, 404, errorBody(`no route for ${req.method ?? '?'} ${path}`, 404));
      return;
    }
    let body: ScriptedRequestBody;
    try {
      body = JSON.parse(await readBody(req)) as ScriptedRequestBody;
    } catch {
      sendJson(res, 400, errorBody('request body is not JSON', 400));
      return;
    }
    if (typeof body !== 'object' || body === null || !Array.isArray(body.messages)) {
      sendJson(res, 400, errorBody('messages must be an array', 400));
      return;
    }
    const record: RecordedRequest = { index: requests.length, body, headers: req.headers, aborted: false };
    requests.push(record);
    res.on('close', () => {
      if (!res.writableFinished) record.aborted = true;
    });
    let reply: ScriptedReply;
    try {
      reply = await script({ body, headers: req.headers, index: record.index });
    } catch (err) {
      sendJson(res, 500, errorBody(err instanceof Error ? err.message : String(err), 500));
      return;
    }
    await answer({ req, res, record, signal }, reply);
  }

  async function answer(ex: Exchange, reply: ScriptedReply): Promise<void> {
    const { res, signal } = ex;
    if (reply.delay_ms !== undefined && reply.delay_ms > 0) {
      const waited = await delay(reply.delay_ms, true, { signal }).catch(() => false);
      if (!waited) return;
    }
    if (reply.disconnect === true) {
      ex.req.socket.destroy();
      return;
    }
    const headers = reply.headers ?? {};
    if ((reply.status !== undefined && reply.status >= 400) || reply.error !== undefined) {
      const status = reply.status !== undefined && reply.status >= 400 ? reply.status : 500;
      sendJson(res, status, errorBody(reply.error ?? `scripted HTTP ${status}`, status), headers);
      return;
    }
    const body = ex.record.body;
    const id = `chatcmpl-${++completionId}`;
    const model = typeof body.model === 'string' && body.model !== '' ? body.model : defaultModel;
    const created = Math.floor(Date.now() / 1000);
    const content = reply.content ?? null;
    const toolCalls = (reply.tool_calls ?? []).map((c, i) => ({
      id: c.id ?? `call_${ex.record.index}_${i}`,
      type: 'function' as const,
      function: {
        name: c.name,
        arguments: typeof c.arguments === 'string' ? c.arguments : JSON.stringify(c.arguments),
      },
    }));
    const finishReason = reply.finish_reason ?? (toolCalls.length > 0 ? 'tool_calls' : 'stop');
    let usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | undefined;
    if (reply.usage !== false) {
      const promptChars = body.messages.reduce((n, m) => n + text(m.content).length, 0);
      const outChars =
        (content?.length ?? 0) + toolCalls.reduce((n, c) => n + c.function.arguments.length, 0);
      const u = reply.usage ?? { prompt_tokens: tokens(promptChars), completion_tokens: tokens(outChars) };
      usage = { ...u, total_tokens: u.prompt_tokens + u.completion_tokens };
    }
    if (body.stream !== true) {
      const message = {
        role: 'assistant',
        content,
        ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
      };
      sendJson(
        res,
        reply.status ?? 200,
        {
          id,
          object: 'chat.completion',
          created,
          model,
          choices: [{ index: 0, message, finish_reason: finishReason, logprobs: null }],
          ...(usage === undefined ? {} : { usage }),
        },
        headers,
      );
      return;
    }

    const chunk = (delta: unknown, finish: string | null = null): unknown => ({
      id,
      object: 'chat.completion.chunk',
      created,
      model,
      choices: [{ index: 0, delta, finish_reason: finish, logprobs: null }],
    });
    const events: unknown[] = [chunk({ role: 'assistant', content: '' })];
    for (const piece of content?.match(/\s*\S+\s*/g) ?? (content ? [content] : []))
      events.push(chunk({ content: piece }));
    toolCalls.forEach((c, index) => {
      events.push(
        chunk({
          tool_calls: [
            { index, id: c.id, type: 'function', function: { name: c.function.name, arguments: '' } },
          ],
        }),
      );
      for (const part of fragments(c.function.arguments)) {
        events.push(chunk({ tool_calls: [{ index, function: { arguments: part } }] }));
      }
    });
    events.push(chunk({}, finishReason));
    if (usage !== undefined && body.stream_options?.include_usage === true) {
      events.push({ id, object: 'chat.completion.chunk', created, model, choices: [], usage });
    }
    const lines = [...events.map((e) => `data: ${JSON.stringify(e)}\n\n`), 'data: [DONE]\n\n'];
    res.writeHead(reply.status ?? 200, {
      ...headers,
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
    });
    const pause = reply.chunk_delay_ms ?? 0;
    if (pause <= 0) {
      res.end(lines.join(''));
      return;
    }
    for (const line of lines) {
      if (signal.aborted) return;
      res.write(line);
      const waited = await delay(pause, true, { signal }).catch(() => false);
      if (!waited) return;
    }
    res.end();
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err === undefined ? resolve() : reject(err)));
        server.closeAllConnections();
      }),
  };
}
