import { describe, expect, it, vi } from 'vitest';
import { TimeoutError } from '../../src/errors/index.js';
import { ModelError } from '../../src/models/index.js';
import { closeServersAfterEach, hello, rejection, rig, streamed } from './harness.js';

closeServersAfterEach();

const noModel = {
  message: 'No models loaded. Please load a model in the developer page.',
  type: 'invalid_request',
};

describe('ModelClient with answers that are no answer', () => {
  it('fails a 200 carrying an error object with model_error quoting it, without retrying', async () => {
    const { client, server, sleeps } = await rig([{ error_body: noModel }, 'never'], { max_retries: 3 });
    const err = await rejection(client.chat(hello));
    expect(err).toBeInstanceOf(ModelError);
    expect(err).toMatchObject({
      code: 'model_error',
      data: { status: 200, backend: 'local', reason: 'error_body', retryable: false },
    });
    expect((err as Error).message).toContain('No models loaded. Please load a model');
    expect(server.requests).toHaveLength(1);
    expect(sleeps).toEqual([]);
  });

  it('fails a 200 whose error is a bare string the same way', async () => {
    const { client } = await rig([{ error_body: 'No models loaded' }]);
    const err = await rejection(client.chat(hello));
    expect(err).toMatchObject({ code: 'model_error', data: { reason: 'error_body' } });
    expect((err as Error).message).toMatch(/: No models loaded$/);
  });

  it('cuts a long server error message to a sane length', async () => {
    const { client } = await rig([{ error_body: { message: `boom ${'x'.repeat(5_000)}` } }]);
    const err = (await rejection(client.chat(hello))) as Error;
    expect(err.message).toContain('boom xxx');
    expect(err.message.length).toBeLessThan(400);
    expect(err.message).toMatch(/…$/);
  });

  it('retries a 200 error that names a transient code, then succeeds', async () => {
    const { client, server, sleeps } = await rig([
      { error_body: { message: 'upstream overloaded', code: 503 } },
      'recovered',
    ]);
    const result = await client.chat(hello);
    expect(result.message.content).toBe('recovered');
    expect(server.requests).toHaveLength(2);
    expect(sleeps).toEqual([375]);
  });

  it('fails a 200 with choices: [] as no_choices, without retrying', async () => {
    const { client, server } = await rig([{ empty_choices: true }, 'never']);
    await expect(client.chat(hello)).rejects.toMatchObject({
      code: 'model_error',
      data: { status: 200, reason: 'no_choices', retryable: false },
    });
    expect(server.requests).toHaveLength(1);
  });

  it('fails a 200 without a choices member as no_choices', async () => {
    const { client } = await rig([{ empty_choices: 'missing' }]);
    await expect(client.chat(hello)).rejects.toMatchObject({
      code: 'model_error',
      data: { reason: 'no_choices' },
    });
  });

  it('fails a stream that finishes without any choice as no_choices', async () => {
    const { client, server } = await rig([{ empty_choices: true }, 'never']);
    await expect(streamed(client)).rejects.toMatchObject({
      code: 'model_error',
      data: { reason: 'no_choices', retryable: false },
    });
    expect(server.requests).toHaveLength(1);
  });

  it('fails on an error chunk mid-stream, quoting it, after the deltas before it', async () => {
    const { client, server } = await rig([
      { content: 'partial answer', error_body: { message: 'CUDA out of memory' } },
      'never',
    ]);
    const deltas: string[] = [];
    const err = await rejection(client.chat(hello, { onDelta: (d) => deltas.push(d.content ?? '') }));
    expect(err).toMatchObject({
      code: 'model_error',
      data: { status: 200, reason: 'stream_error', retryable: false },
    });
    expect((err as Error).message).toContain('CUDA out of memory');
    expect(deltas.join('')).toBe('partial answer');
    expect(server.requests).toHaveLength(1);
  });

  it('fails on an SSE error event with a plain-text payload', async () => {
    const { client } = await rig([{ content: 'a b', error_body: 'model crashed', error_event: true }]);
    const err = await rejection(streamed(client));
    expect(err).toMatchObject({ code: 'model_error', data: { reason: 'stream_error' } });
    expect((err as Error).message).toMatch(/failed mid-stream: model crashed$/);
  });

  it('fails garbage JSON with a 200 as malformed_json, without retrying', async () => {
    const { client, server } = await rig([{ garbage: true }, 'never'], { max_retries: 2 });
    const err = await rejection(client.chat(hello));
    expect(err).toMatchObject({
      code: 'model_error',
      data: { status: 200, reason: 'malformed_json', retryable: false },
    });
    expect((err as Error).message).toContain('malformed JSON: {"id":"chatcmpl-1"');
    expect(server.requests).toHaveLength(1);
  });

  it('fails a garbage chunk in a stream as malformed_json', async () => {
    const { client } = await rig([{ content: 'x', garbage: 'not json at all' }]);
    const err = await rejection(streamed(client));
    expect(err).toMatchObject({ code: 'model_error', data: { reason: 'malformed_json' } });
    expect((err as Error).message).toContain('not json at all');
  });
});

describe('ModelClient behind a proxy', () => {
  it('reports an HTML 502 page as model_unavailable with a short tag-free message, after retries', async () => {
    const { client, server, sleeps } = await rig([{ html_status: 502 }, { html_status: 502 }], {
      max_retries: 1,
    });
    const err = await rejection(client.chat(hello));
    expect(err).toBeInstanceOf(ModelError);
    expect(err).toMatchObject({
      code: 'model_unavailable',
      data: { status: 502, backend: 'local', reason: 'gateway_page' },
    });
    const message = (err as Error).message;
    expect(message).toMatch(/^model backend local answered HTTP 502: 502 Bad Gateway 502 Bad Gateway nginx/);
    expect(message).not.toMatch(/[<>]|color: red|padding/);
    expect(message.length).toBeLessThan(280);
    expect(server.requests).toHaveLength(2);
    expect(sleeps).toHaveLength(1);
  });

  it('recovers when the proxy answers again', async () => {
    const { client } = await rig([{ html_status: 503 }, 'back']);
    await expect(client.chat(hello)).resolves.toMatchObject({ message: { content: 'back' } });
  });

  it('keeps an HTML 404 a model_error (a wrong base_url, not an outage), stripped and short', async () => {
    const { client, server } = await rig([{ html_status: 404 }, 'never']);
    const err = await rejection(client.chat(hello));
    expect(err).toMatchObject({ code: 'model_error', data: { status: 404, reason: 'http_status' } });
    expect((err as Error).message).not.toContain('<');
    expect((err as Error).message.length).toBeLessThan(280);
    expect(server.requests).toHaveLength(1);
  });
});

describe('ModelClient with cut and stalled streams', () => {
  it('fails a stream closed before any finish reason as stream_truncated once deltas went out', async () => {
    // 1 role chunk + 2 content chunks, then the connection closes.
    const { client, server } = await rig([
      { content: 'one two three four', truncate_stream_after: 3 },
      'never',
    ]);
    const err = await rejection(streamed(client));
    expect(err).toMatchObject({
      code: 'model_error',
      data: { status: 200, reason: 'stream_truncated', retryable: true },
    });
    expect(server.requests).toHaveLength(1);
  });

  it('retries a truncated stream that delivered nothing to the caller', async () => {
    const { client, server } = await rig([{ content: 'one two', truncate_stream_after: 2 }, 'whole answer']);
    const result = await client.chat({ ...hello, stream: true });
    expect(result.message.content).toBe('whole answer');
    expect(server.requests).toHaveLength(2);
  });

  it('accepts a complete answer whose stream closed before [DONE]', async () => {
    const { client } = await rig([{ content: 'all of it', omit_done: true }]);
    const { result } = await streamed(client);
    expect(result).toMatchObject({ message: { content: 'all of it' }, finish_reason: 'stop' });
  });

  it('accepts a complete answer whose stream then went silent instead of sending [DONE]', async () => {
    const { client } = await rig(
      [{ content: 'done here', omit_done: true, stall_ms: 5_000, stall_after: 99 }],
      {
        timeout_sec: 0.15,
      },
    );
    const { result } = await streamed(client);
    expect(result).toMatchObject({ message: { content: 'done here' }, finish_reason: 'stop' });
  });

  it('fails a stream that stalls longer than timeout_sec with model_timeout, not retried', async () => {
    const { client, server } = await rig([{ content: 'a b c', stall_ms: 5_000, stall_after: 2 }, 'never'], {
      timeout_sec: 0.15,
    });
    const err = await rejection(streamed(client));
    expect(err).toBeInstanceOf(TimeoutError);
    expect(err).toMatchObject({ code: 'model_timeout', data: { timeout_ms: 150, backend: 'local' } });
    expect(server.requests).toHaveLength(1);
    await vi.waitFor(() => expect(server.requests[0]?.aborted).toBe(true));
  });

  it('lets a steady stream run past timeout_sec: the limit bounds silences, not the stream', async () => {
    const { client } = await rig([{ content: 'a b c d e f g h', chunk_delay_ms: 30 }], { timeout_sec: 0.15 });
    const started = Date.now();
    const { result } = await streamed(client);
    expect(result.message.content).toBe('a b c d e f g h');
    expect(Date.now() - started).toBeGreaterThan(150);
  });

  it('keeps timeout for an answer that never starts, non-streamed body stalls included', async () => {
    const { client } = await rig([{ content: 'late', stall_ms: 5_000 }], { timeout_sec: 0.1 });
    await expect(client.chat(hello)).rejects.toMatchObject({ code: 'timeout', data: { timeout_ms: 100 } });
  });
});

describe('ModelClient with tool calls and usage from real servers', () => {
  it('keeps streamed tool-call arguments that are not JSON as the raw string', async () => {
    const { client } = await rig([{ tool_calls: [{ name: 'get_weather', arguments: "{city: 'Paris'" }] }]);
    const { result } = await streamed(client, {
      ...hello,
      tools: [{ type: 'function', function: { name: 'get_weather', parameters: { type: 'object' } } }],
    });
    expect(result.message.tool_calls).toEqual([
      { id: 'call_0_0', name: 'get_weather', arguments: "{city: 'Paris'" },
    ]);
  });

  it('estimates usage locally when a stream reports none, counting the reasoning', async () => {
    const { client } = await rig([{ content: 'abcd', reasoning_content: 'x'.repeat(40), usage: false }]);
    const { result } = await streamed(client);
    expect(result.usage).toMatchObject({ estimated: true, output_tokens: 11 });
    expect(result.usage.input_tokens).toBeGreaterThan(0);
  });
});
