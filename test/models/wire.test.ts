import { describe, expect, it } from 'vitest';
import { CompletionAccumulator } from '../../src/models/internal/completion.js';
import { backoffDelay, parseRetryAfter } from '../../src/models/internal/retry.js';
import { readSseData } from '../../src/models/internal/sse.js';

function byteStream(parts: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const p of parts) controller.enqueue(encoder.encode(p));
      controller.close();
    },
  });
}

async function collect(parts: string[]): Promise<string[]> {
  const out: string[] = [];
  for await (const data of readSseData(byteStream(parts))) out.push(data);
  return out;
}

describe('readSseData', () => {
  it('joins events split across reads, with LF or CRLF line ends, skipping comments', async () => {
    expect(
      await collect(['data: {"a"', ':1}\n', '\n: keep-alive\n\nda', 'ta: x\r', '\n\r\ndata: [DONE]\n\n']),
    ).toEqual(['{"a":1}', 'x', '[DONE]']);
  });

  it('joins multi-line data and yields a last event without a trailing blank line', async () => {
    expect(await collect(['data: one\ndata:two\n\ndata: tail'])).toEqual(['one\ntwo', 'tail']);
  });
});

describe('parseRetryAfter', () => {
  it('reads delta-seconds and HTTP dates, ignoring garbage', () => {
    const now = Date.parse('2026-11-02T10:00:00Z');
    expect(parseRetryAfter('2', now)).toBe(2000);
    expect(parseRetryAfter('0.5', now)).toBe(500);
    expect(parseRetryAfter('Mon, 02 Nov 2026 10:00:05 GMT', now)).toBe(5000);
    expect(parseRetryAfter('Mon, 02 Nov 2026 09:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(null, now)).toBeUndefined();
  });

  it('backs off exponentially up to the cap, jitter spanning the upper half', () => {
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, () => 0, 500, 2000))).toEqual([250, 500, 1000, 1000]);
    expect(backoffDelay(1, () => 0.999999, 500, 2000)).toBe(1000);
  });
});

describe('CompletionAccumulator', () => {
  it('accepts tool-call chunks without index (matched by id) and object arguments', () => {
    const acc = new CompletionAccumulator();
    acc.applyChunk(
      { choices: [{ delta: { tool_calls: [{ id: 'a', function: { name: 'f', arguments: '{"x":' } }] } }] },
      undefined,
    );
    acc.applyChunk(
      { choices: [{ delta: { tool_calls: [{ id: 'a', function: { arguments: '1}' } }] } }] },
      undefined,
    );
    acc.applyChunk(
      { choices: [{ delta: { tool_calls: [{ id: 'b', function: { name: 'g', arguments: { y: 2 } } }] } }] },
      undefined,
    );
    acc.applyChunk({ model: 'served', choices: [{ delta: {}, finish_reason: 'tool_calls' }] }, undefined);
    const result = acc.result({ messages: [{ role: 'user', content: 'hi' }] }, 'configured');
    expect(result.model).toBe('served');
    expect(result.tool_calls).toEqual([
      { id: 'a', name: 'f', arguments: '{"x":1}', parsedArguments: { x: 1 } },
      { id: 'b', name: 'g', arguments: '{"y":2}', parsedArguments: { y: 2 } },
    ]);
    expect(result.usage.estimated).toBe(true);
  });

  it('generates an id for a tool call the server left without one and parses empty arguments as {}', () => {
    const acc = new CompletionAccumulator();
    acc.applyCompletion({
      choices: [{ message: { content: null, tool_calls: [{ function: { name: 'f', arguments: '' } }] } }],
    });
    const [call] = acc.result({ messages: [] }, 'm').tool_calls;
    expect(call?.id).toMatch(/^call_/);
    expect(call?.parsedArguments).toEqual({});
  });
});
