import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { ChatMessage, ToolDefinition } from '../models/index.js';
import { buildAnswer, errorBody, garbageBody, htmlPage } from './scripted-wire.js';
import type { ScriptedReply } from './scripted-wire.js';

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

/** How the server answers one chat completion request; see {@link ScriptedReply}'s fields. */
export type { ScriptedReply } from './scripted-wire.js';

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

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
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
 * for one, and writing stops as soon as the client disconnects. A reply can also answer the way
 * real servers misbehave (see {@link ScriptedReply}): an `error` in a 200, no choices, `length`,
 * think tags, reasoning fields, a proxy's HTML page, garbage, a cut or stalled stream.
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
    // Only a client that left before the answer was written aborts the reply (an abort makes a
    // DOMException: 1 % of a benchmark's CPU when done for every finished answer).
    res.on('close', () => {
      if (!res.writableFinished) controller.abort();
    });
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
    const pause = async (ms: number | undefined): Promise<boolean> =>
      ms === undefined || ms <= 0 || (await delay(ms, true, { signal }).catch(() => false));
    if (!(await pause(reply.delay_ms))) return;
    if (reply.disconnect === true) {
      ex.req.socket.destroy();
      return;
    }
    const headers = reply.headers ?? {};
    if (reply.html_status !== undefined) {
      res.writeHead(reply.html_status, { ...headers, 'content-type': 'text/html; charset=utf-8' });
      res.end(htmlPage(reply.html_status));
      return;
    }
    if ((reply.status !== undefined && reply.status >= 400) || reply.error !== undefined) {
      const status = reply.status !== undefined && reply.status >= 400 ? reply.status : 500;
      sendJson(res, status, errorBody(reply.error ?? `scripted HTTP ${status}`, status), headers);
      return;
    }
    const body = ex.record.body;
    const stream = body.stream === true;
    const built = buildAnswer(
      reply,
      {
        id: `chatcmpl-${++completionId}`,
        model: typeof body.model === 'string' && body.model !== '' ? body.model : defaultModel,
        created: Math.floor(Date.now() / 1000),
        index: ex.record.index,
        promptChars: body.messages.reduce((n, m) => n + text(m.content).length, 0),
        includeUsage: body.stream_options?.include_usage === true,
      },
      stream,
    );
    if (built.kind === 'json') {
      const payload = reply.garbage === undefined ? JSON.stringify(built.body) : garbageBody(reply);
      res.writeHead(reply.status ?? 200, {
        ...headers,
        'content-type': 'application/json',
        'content-length': Buffer.byteLength(payload),
      });
      if (reply.stall_ms !== undefined) res.flushHeaders();
      if (!(await pause(reply.stall_ms))) return;
      res.end(payload);
      return;
    }
    res.writeHead(reply.status ?? 200, {
      ...headers,
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
    });
    const gap = reply.chunk_delay_ms ?? 0;
    if (gap <= 0 && built.stallAt === undefined) {
      res.end(built.lines.join(''));
      return;
    }
    res.flushHeaders();
    for (const [i, line] of built.lines.entries()) {
      if (signal.aborted) return;
      if (i === built.stallAt && !(await pause(reply.stall_ms))) return;
      res.write(line);
      if (!(await pause(gap))) return;
    }
    if (built.stallAt !== undefined && built.stallAt >= built.lines.length && !(await pause(reply.stall_ms)))
      return;
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
