import { afterEach, describe, expect, it } from 'vitest';
import { echoScript, replies, startScriptedModelServer } from '../../src/testing/index.js';
import type { ScriptedModelServer, ScriptedModelServerOptions } from '../../src/testing/index.js';

const servers: ScriptedModelServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(options: ScriptedModelServerOptions = {}): Promise<ScriptedModelServer> {
  const server = await startScriptedModelServer(options);
  servers.push(server);
  return server;
}

async function post(
  server: ScriptedModelServer,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${server.url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

/** Parsed `data:` payloads of an SSE body, `[DONE]` kept as a string. */
async function sse(res: Response): Promise<unknown[]> {
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((block) => block.startsWith('data: '))
    .map((block) => block.slice(6))
    .map((data) => (data === '[DONE]' ? data : (JSON.parse(data) as unknown)));
}

const tools = [{ type: 'function', function: { name: 'add', parameters: { type: 'object' } } }];

describe('startScriptedModelServer', () => {
  it('listens on 127.0.0.1 with a base URL ending in /v1 and lists its model', async () => {
    const server = await serve({ model: 'tiny' });
    expect(server.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
    const res = await fetch(`${server.url}/models`);
    expect(await res.json()).toMatchObject({ object: 'list', data: [{ id: 'tiny', object: 'model' }] });
  });

  it('echoes the last user message as a JSON chat.completion with usage', async () => {
    const server = await serve();
    const res = await post(server, { model: 'm', messages: [{ role: 'user', content: 'ping' }] });
    expect(res.headers.get('content-type')).toContain('application/json');
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toMatchObject({
      object: 'chat.completion',
      model: 'm',
      choices: [{ index: 0, message: { role: 'assistant', content: 'echo: ping' }, finish_reason: 'stop' }],
      usage: { prompt_tokens: 1, completion_tokens: 3, total_tokens: 4 },
    });
  });

  it('records each request with its body and headers', async () => {
    const server = await serve();
    const body = { messages: [{ role: 'user', content: 'hi' }] };
    await (await post(server, body, { traceparent: '00-abc', 'x-custom': 'yes' })).text();
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]).toMatchObject({ index: 0, body, aborted: false });
    expect(server.requests[0]?.headers).toMatchObject({ traceparent: '00-abc', 'x-custom': 'yes' });
  });

  it('streams SSE chunks ending with data: [DONE], usage last only when asked', async () => {
    const server = await serve({ script: replies(['alpha beta gamma', 'alpha beta gamma']) });
    const withUsage = await sse(
      await post(server, {
        messages: [{ role: 'user', content: 'x' }],
        stream: true,
        stream_options: { include_usage: true },
      }),
    );
    expect(withUsage.at(-1)).toBe('[DONE]');
    const usageChunk = withUsage.at(-2) as { choices: unknown[]; usage: unknown };
    expect(usageChunk.choices).toEqual([]);
    expect(usageChunk.usage).toMatchObject({ prompt_tokens: 1, completion_tokens: 4 });
    const withoutUsage = await sse(
      await post(server, { messages: [{ role: 'user', content: 'x' }], stream: true }),
    );
    expect(withoutUsage.some((e) => typeof e === 'object' && e !== null && 'usage' in e)).toBe(false);
    const text = withoutUsage
      .slice(0, -1)
      .map((e) => (e as { choices: { delta: { content?: string } }[] }).choices[0]?.delta.content ?? '')
      .join('');
    expect(text).toBe('alpha beta gamma');
  });

  it('streams each tool call as a header chunk then several argument fragments', async () => {
    const server = await serve({
      script: replies([{ tool_calls: [{ name: 'add', arguments: { a: 1, b: 2 } }] }]),
    });
    const events = await sse(
      await post(server, { messages: [{ role: 'user', content: 'x' }], tools, stream: true }),
    );
    type Chunk = {
      choices: {
        delta: {
          tool_calls?: { index: number; id?: string; function: { name?: string; arguments: string } }[];
        };
        finish_reason: string | null;
      }[];
    };
    const chunks = events.filter((e): e is Chunk => typeof e === 'object');
    const parts = chunks.flatMap((c) => c.choices[0]?.delta.tool_calls ?? []);
    expect(parts[0]).toMatchObject({ index: 0, id: 'call_0_0', function: { name: 'add', arguments: '' } });
    const argumentParts = parts.slice(1).map((p) => p.function.arguments);
    expect(argumentParts.length).toBeGreaterThan(1);
    expect(argumentParts.join('')).toBe('{"a":1,"b":2}');
    expect(chunks.at(-1)?.choices[0]?.finish_reason).toBe('tool_calls');
  });

  it('default script calls an offered tool once, then answers with the tool results', async () => {
    const server = await serve();
    const first = (await (
      await post(server, { messages: [{ role: 'user', content: 'call add {"a":1,"b":2}' }], tools })
    ).json()) as { choices: { message: { tool_calls: unknown[] }; finish_reason: string }[] };
    expect(first.choices[0]?.finish_reason).toBe('tool_calls');
    expect(first.choices[0]?.message.tool_calls).toEqual([
      { id: 'call_0_0', type: 'function', function: { name: 'add', arguments: '{"a":1,"b":2}' } },
    ]);
    const reply = await echoScript({
      index: 1,
      headers: {},
      body: {
        tools: [{ type: 'function', function: { name: 'add', parameters: {} } }],
        messages: [
          { role: 'user', content: 'call add {"a":1,"b":2}' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [{ id: 'c', type: 'function', function: { name: 'add', arguments: '{}' } }],
          },
          { role: 'tool', tool_call_id: 'c', content: '3' },
          { role: 'tool', tool_call_id: 'd', content: 'and more' },
        ],
      },
    });
    expect(reply).toEqual({ content: '3\nand more' });
  });

  it('default script echoes "call" when the tool is not offered', async () => {
    const reply = await echoScript({
      index: 0,
      headers: {},
      body: { messages: [{ role: 'user', content: 'call add' }] },
    });
    expect(reply).toEqual({ content: 'echo: call add' });
  });

  it('answers with the scripted status, headers and error body', async () => {
    const server = await serve({
      script: replies([{ status: 429, headers: { 'retry-after': '1' }, error: 'slow down' }]),
    });
    const res = await post(server, { messages: [] });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toEqual({
      error: { message: 'slow down', type: 'rate_limit_error', code: null },
    });
  });

  it('answers 500 once scripted replies are exhausted', async () => {
    const server = await serve({ script: replies(['only']) });
    await (await post(server, { messages: [] })).text();
    const res = await post(server, { messages: [] });
    expect(res.status).toBe(500);
    expect(JSON.stringify(await res.json())).toContain('exhausted after 1 requests');
  });

  it('refuses malformed bodies and unknown routes', async () => {
    const server = await serve();
    const bad = await fetch(`${server.url}/chat/completions`, { method: 'POST', body: 'nope' });
    expect(bad.status).toBe(400);
    expect((await fetch(`${server.url}/embeddings`)).status).toBe(404);
    expect(server.requests).toHaveLength(0);
  });

  it('passes the request index and body to the script', async () => {
    const seen: number[] = [];
    const server = await serve({
      script: ({ index, body }) => {
        seen.push(index);
        return { content: `#${index} ${body.messages.length}` };
      },
    });
    for (let i = 0; i < 3; i++)
      await (await post(server, { messages: [{ role: 'user', content: 'q' }] })).text();
    expect(seen).toEqual([0, 1, 2]);
  });
});
