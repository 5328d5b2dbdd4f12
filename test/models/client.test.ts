import { afterEach, describe, expect, it, vi } from 'vitest';
import { modelBackendSchema } from '../../src/config/index.js';
import type { ModelBackendConfig } from '../../src/config/index.js';
import { CancelledError, TimeoutError } from '../../src/errors/index.js';
import { ModelClient, ModelError, ModelRegistry } from '../../src/models/index.js';
import type { ChatDelta, ChatRequest, ModelClientOptions } from '../../src/models/index.js';
import { replies, startScriptedModelServer } from '../../src/testing/index.js';
import type { Script, ScriptedModelServer } from '../../src/testing/index.js';

const servers: ScriptedModelServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

async function serve(script?: Script): Promise<ScriptedModelServer> {
  const server = await startScriptedModelServer(script === undefined ? {} : { script });
  servers.push(server);
  return server;
}

function backend(url: string, overrides: Partial<ModelBackendConfig> = {}): ModelBackendConfig {
  return modelBackendSchema.parse({ base_url: url, model: 'test-model', ...overrides });
}

function client(
  server: ScriptedModelServer,
  overrides: Partial<ModelBackendConfig> = {},
  options: ModelClientOptions = {},
): { client: ModelClient; sleeps: number[] } {
  const sleeps: number[] = [];
  const sleep = async (ms: number): Promise<void> => {
    sleeps.push(ms);
  };
  return {
    client: new ModelClient('local', backend(server.url, overrides), {
      sleep,
      random: () => 0.5,
      ...options,
    }),
    sleeps,
  };
}

const hello: ChatRequest = { messages: [{ role: 'user', content: 'hello there' }] };
const weatherTool: ChatRequest['tools'] = [
  {
    type: 'function',
    function: { name: 'get_weather', description: 'Weather', parameters: { type: 'object' } },
  },
];

describe('ModelClient', () => {
  it('returns a JSON reply with the usage the server reported', async () => {
    const server = await serve(
      replies([{ content: 'Hi!', usage: { prompt_tokens: 12, completion_tokens: 3 } }]),
    );
    const { client: c } = client(server);
    const result = await c.chat({ ...hello, temperature: 0.2, max_tokens: 50 });
    expect(result).toEqual({
      message: { role: 'assistant', content: 'Hi!', tool_calls: [] },
      finish_reason: 'stop',
      truncated: false,
      reasoning: null,
      usage: { input_tokens: 12, output_tokens: 3, estimated: false },
      model: 'test-model',
      cost_usd: 0,
    });
    expect(server.requests[0]?.body).toMatchObject({
      model: 'test-model',
      messages: hello.messages,
      temperature: 0.2,
      max_tokens: 50,
      stream: false,
    });
  });

  it('streams text deltas over SSE and takes usage from the last chunk', async () => {
    const server = await serve(
      replies([{ content: 'one two three four', usage: { prompt_tokens: 7, completion_tokens: 4 } }]),
    );
    const { client: c } = client(server);
    const deltas: ChatDelta[] = [];
    const result = await c.chat(hello, { onDelta: (d) => deltas.push(d) });
    expect(deltas.length).toBeGreaterThan(1);
    expect(deltas.map((d) => d.content).join('')).toBe('one two three four');
    expect(result.message.content).toBe('one two three four');
    expect(result.usage).toEqual({ input_tokens: 7, output_tokens: 4, estimated: false });
    expect(server.requests[0]?.body).toMatchObject({ stream: true, stream_options: { include_usage: true } });
    expect(server.requests[0]?.headers.accept).toBe('text/event-stream');
  });

  it('accumulates streamed tool-call fragments by index', async () => {
    const server = await serve(
      replies([
        {
          tool_calls: [
            { name: 'get_weather', arguments: { city: 'Paris', unit: 'celsius' } },
            { name: 'get_weather', arguments: '{"city":"Oslo"}' },
          ],
        },
      ]),
    );
    const { client: c } = client(server);
    const fragments: NonNullable<ChatDelta['tool_call']>[] = [];
    const result = await c.chat(
      { ...hello, tools: weatherTool, tool_choice: 'auto' },
      { onDelta: (d) => d.tool_call !== undefined && fragments.push(d.tool_call) },
    );
    expect(
      fragments.filter((f) => f.index === 0 && f.arguments_fragment !== undefined).length,
    ).toBeGreaterThan(1);
    expect(fragments[0]).toMatchObject({ index: 0, id: 'call_0_0', name: 'get_weather' });
    expect(result.finish_reason).toBe('tool_calls');
    expect(result.message.content).toBeNull();
    expect(result.message.tool_calls).toEqual([
      {
        id: 'call_0_0',
        name: 'get_weather',
        arguments: '{"city":"Paris","unit":"celsius"}',
        parsedArguments: { city: 'Paris', unit: 'celsius' },
      },
      {
        id: 'call_0_1',
        name: 'get_weather',
        arguments: '{"city":"Oslo"}',
        parsedArguments: { city: 'Oslo' },
      },
    ]);
    expect(server.requests[0]?.body).toMatchObject({ tools: weatherTool, tool_choice: 'auto' });
  });

  it('returns JSON tool calls, leaving parsedArguments undefined for invalid JSON', async () => {
    const server = await serve(replies([{ tool_calls: [{ name: 'get_weather', arguments: '{"city":' }] }]));
    const { client: c } = client(server);
    const result = await c.chat({ ...hello, tools: weatherTool });
    expect(result.message.tool_calls).toEqual([
      { id: 'call_0_0', name: 'get_weather', arguments: '{"city":' },
    ]);
  });

  it('estimates usage locally when the server reports none', async () => {
    const server = await serve(
      replies([
        { content: 'abcdefgh', usage: false },
        { content: 'abcdefgh', usage: false },
      ]),
    );
    const { client: c } = client(server);
    const json = await c.chat(hello);
    const streamed = await c.chat(hello, { onDelta: () => undefined });
    for (const result of [json, streamed]) {
      expect(result.usage.estimated).toBe(true);
      expect(result.usage.input_tokens).toBeGreaterThan(0);
      expect(result.usage.output_tokens).toBe(2);
    }
  });

  it('computes the cost from the backend prices', async () => {
    const server = await serve(
      replies([{ content: 'ok', usage: { prompt_tokens: 1000, completion_tokens: 500 } }]),
    );
    const { client: c } = client(server, { price_per_1k_input: 0.5, price_per_1k_output: 1.5 });
    const result = await c.chat(hello);
    expect(result.cost_usd).toBeCloseTo(1.25, 10);
    expect(c.estimateCost(2000, 1000)).toBeCloseTo(2.5, 10);
  });

  it('retries a 429 after the Retry-After seconds', async () => {
    const server = await serve(replies([{ status: 429, headers: { 'retry-after': '2' } }, 'done']));
    const { client: c, sleeps } = client(server);
    const result = await c.chat(hello);
    expect(result.message.content).toBe('done');
    expect(sleeps).toEqual([2000]);
    expect(server.requests).toHaveLength(2);
  });

  it('retries a 429 after a Retry-After HTTP date', async () => {
    const now = Date.parse('2026-11-02T10:00:00Z');
    const server = await serve(
      replies([{ status: 429, headers: { 'retry-after': 'Mon, 02 Nov 2026 10:00:03 GMT' } }, 'done']),
    );
    const { client: c, sleeps } = client(server, {}, { now: () => now });
    await c.chat(hello);
    expect(sleeps).toEqual([3000]);
  });

  it('retries a 503 with exponential backoff and jitter', async () => {
    const server = await serve(replies([{ status: 503 }, { status: 503 }, 'recovered']));
    const { client: c, sleeps } = client(server, { max_retries: 2 });
    const result = await c.chat(hello);
    expect(result.message.content).toBe('recovered');
    // base 500 ms doubling, half fixed + half jitter (random = 0.5)
    expect(sleeps).toEqual([375, 750]);
  });

  it('gives up after max_retries with a model_error carrying the status', async () => {
    const server = await serve(() => ({ status: 503, error: 'overloaded' }));
    const { client: c, sleeps } = client(server, { max_retries: 2 });
    const err = await c.chat(hello).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ModelError);
    expect(err).toMatchObject({ code: 'model_error', data: { status: 503, backend: 'local' } });
    expect((err as ModelError).message).toContain('overloaded');
    expect(server.requests).toHaveLength(3);
    expect(sleeps).toHaveLength(2);
  });

  it('does not retry a 400', async () => {
    const server = await serve(replies([{ status: 400, error: 'bad tool schema' }, 'never']));
    const { client: c, sleeps } = client(server, { max_retries: 3 });
    await expect(c.chat(hello)).rejects.toMatchObject({
      code: 'model_error',
      data: { status: 400, backend: 'local' },
    });
    expect(server.requests).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('retries a dropped connection', async () => {
    const server = await serve(replies([{ disconnect: true }, 'after reconnect']));
    const { client: c, sleeps } = client(server);
    const result = await c.chat(hello);
    expect(result.message.content).toBe('after reconnect');
    expect(sleeps).toEqual([375]);
  });

  it('reports an unreachable server as model_error without status', async () => {
    const server = await serve();
    const url = server.url;
    await server.close();
    servers.length = 0;
    const c = new ModelClient('gone', backend(url, { max_retries: 1 }), { sleep: async () => undefined });
    const err = await c.chat(hello).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'model_error', data: { status: null, backend: 'gone' } });
    // It says where to look, not only "fetch failed".
    expect((err as Error).message).toMatch(
      /^cannot reach model backend gone: .*connection refused.*is the model server running\? \(models\.gone\.base_url/i,
    );
  });

  it('fails with a timeout when the server is slower than timeout_sec', async () => {
    const server = await serve(replies([{ content: 'late', delay_ms: 5_000 }]));
    const { client: c } = client(server, { timeout_sec: 0.1 });
    const err = await c.chat(hello).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ code: 'timeout', data: { timeout_ms: 100 } });
    expect(server.requests).toHaveLength(1);
    await vi.waitFor(() => expect(server.requests[0]?.aborted).toBe(true));
  });

  it('aborting mid-stream cancels the HTTP request', async () => {
    const server = await serve(
      replies([{ content: 'a b c d e f g h i j k l m n o p', chunk_delay_ms: 30, usage: false }]),
    );
    const { client: c } = client(server);
    const controller = new AbortController();
    const deltas: string[] = [];
    const pending = c.chat(hello, {
      signal: controller.signal,
      onDelta: (d) => {
        deltas.push(d.content ?? '');
        if (deltas.length === 2) controller.abort();
      },
    });
    await expect(pending).rejects.toBeInstanceOf(CancelledError);
    await expect(pending).rejects.toMatchObject({ code: 'cancelled' });
    await vi.waitFor(() => expect(server.requests[0]?.aborted).toBe(true));
    expect(deltas.length).toBeLessThan(16);
    expect(c.stats().inFlight).toBe(0);
  });

  it('cancels a call still waiting for a backend slot without sending it', async () => {
    const server = await serve(replies([{ content: 'slow', delay_ms: 200 }]));
    const { client: c } = client(server, { max_concurrency: 1 });
    const first = c.chat(hello);
    const controller = new AbortController();
    const second = c.chat(hello, { signal: controller.signal, priority: 'batch' });
    await vi.waitFor(() => expect(c.stats().waiting.batch).toBe(1));
    controller.abort();
    await expect(second).rejects.toMatchObject({ code: 'cancelled' });
    await expect(first).resolves.toMatchObject({ message: { content: 'slow' } });
    expect(server.requests).toHaveLength(1);
  });

  it('forwards traceparent, tracestate and the API key', async () => {
    const server = await serve();
    const { client: c } = client(server, { api_key: 'sk-test' });
    const traceparent = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    await c.chat(hello, { traceparent, tracestate: 'vendor=abc' });
    expect(server.requests[0]?.headers).toMatchObject({
      traceparent,
      tracestate: 'vendor=abc',
      authorization: 'Bearer sk-test',
    });
  });

  it('sends no Authorization header without an api_key', async () => {
    const server = await serve();
    const { client: c } = client(server);
    await c.chat(hello);
    expect(server.requests[0]?.headers.authorization).toBeUndefined();
    expect(server.requests[0]?.headers.traceparent).toBeUndefined();
  });

  it('lists the models of the backend', async () => {
    const server = await serve();
    const { client: c } = client(server);
    await expect(c.listModels()).resolves.toEqual(['scripted-model']);
  });

  it('aborts in-flight calls when closed', async () => {
    const server = await serve(replies([{ content: 'never', delay_ms: 5_000 }]));
    const { client: c } = client(server);
    const pending = c.chat(hello);
    await vi.waitFor(() => expect(server.requests).toHaveLength(1));
    c.close();
    await expect(pending).rejects.toMatchObject({ code: 'cancelled' });
    await expect(c.chat(hello)).rejects.toMatchObject({ code: 'cancelled' });
  });
});

describe('ModelRegistry', () => {
  it('gives one client per configured backend and refuses unknown names', async () => {
    const server = await serve();
    const registry = new ModelRegistry({
      default: backend(server.url),
      big: backend(server.url, { model: 'big' }),
    });
    expect(registry.names()).toEqual(['default', 'big']);
    expect(registry.get('big').model).toBe('big');
    expect(() => registry.get('nope')).toThrow(expect.objectContaining({ code: 'model_not_found' }));
    const result = await registry.get('default').chat(hello);
    expect(result.message.content).toBe('echo: hello there');
    registry.close();
    await expect(registry.get('default').chat(hello)).rejects.toMatchObject({ code: 'cancelled' });
  });
});
