import { describe, expect, it } from 'vitest';
import { CompletionAccumulator } from '../../src/models/internal/completion.js';
import { backoffDelay, parseRetryAfter } from '../../src/models/internal/retry.js';
import { ThinkSplitter } from '../../src/models/internal/reasoning.js';
import { readSseData, readSseEvents } from '../../src/models/internal/sse.js';

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

describe('readSseEvents', () => {
  it('names each event (message by default) and reports every read', async () => {
    let reads = 0;
    const events = [];
    const body = byteStream(['data: a\n\nevent: error\ndata: b', 'oom\n\n: ping\n\ndata: c\n\n']);
    for await (const e of readSseEvents(body, () => reads++)) events.push(e);
    expect(events).toEqual([
      { event: 'message', data: 'a' },
      { event: 'error', data: 'boom' },
      { event: 'message', data: 'c' },
    ]);
    expect(reads).toBe(3);
  });
});

/** Feeds `text` to a splitter in the given pieces; returns the streamed parts and the result. */
function split(pieces: string[]): { streamed: { reasoning: string; answer: string }; result: unknown } {
  const s = new ThinkSplitter();
  const streamed = { reasoning: '', answer: '' };
  for (const p of [...pieces.map((x) => s.push(x)), s.end()]) {
    streamed.reasoning += p.reasoning;
    streamed.answer += p.answer;
  }
  return { streamed, result: s.result() };
}

describe('ThinkSplitter', () => {
  const cases: [string, { reasoning: string; answer: string }][] = [
    [
      '<think>\nplan\n</think>\n\nanswer <think>x</think>',
      { reasoning: 'plan', answer: 'answer <think>x</think>' },
    ],
    ['  <think>a</think> <think>b</think>\nok', { reasoning: 'ab', answer: 'ok' }],
    ['<think>never closed', { reasoning: 'never closed', answer: '' }],
    ['stripped opening</think>\n\nthe answer', { reasoning: 'stripped opening', answer: 'the answer' }],
    ['plain answer', { reasoning: '', answer: 'plain answer' }],
    ['<thin', { reasoning: '', answer: '<thin' }],
    ['<think></think>\n\n', { reasoning: '', answer: '' }],
  ];

  it('gives the same split however the text is cut into pieces', () => {
    for (const [text, expected] of cases) {
      expect(split([text]).result, text).toEqual(expected);
      for (let i = 0; i <= text.length; i++) {
        for (let j = i; j <= text.length; j++) {
          const pieces = [text.slice(0, i), text.slice(i, j), text.slice(j)];
          expect(split(pieces).result, `${text} cut at ${i},${j}`).toEqual(expected);
        }
      }
    }
  });

  it('never streams a tag, and streams an opening-tag block as reasoning', () => {
    const text = '<think>hidden</think>\n\nshown';
    for (let i = 0; i <= text.length; i++) {
      const { streamed } = split([text.slice(0, i), text.slice(i)]);
      expect(streamed).toEqual({ reasoning: 'hidden', answer: 'shown' });
    }
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
