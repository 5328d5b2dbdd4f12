import { describe, expect, it } from 'vitest';
import { closeServersAfterEach, hello, rig, streamed } from './harness.js';

closeServersAfterEach();

const weather = [
  { type: 'function' as const, function: { name: 'get_weather', parameters: { type: 'object' } } },
];

describe('ModelClient truncation', () => {
  it('marks an answer cut at the token limit as truncated, keeping finish_reason and the text', async () => {
    const { client } = await rig([{ content: 'The answer is', finish_reason: 'length' }]);
    const result = await client.chat(hello);
    expect(result).toMatchObject({
      message: { content: 'The answer is' },
      finish_reason: 'length',
      truncated: true,
    });
  });

  it('marks a streamed answer cut at the token limit as truncated', async () => {
    const { client } = await rig([{ content: 'The answer is', finish_reason: 'length' }]);
    const { result, deltas } = await streamed(client);
    expect(deltas.map((d) => d.content ?? '').join('')).toBe('The answer is');
    expect(result).toMatchObject({ finish_reason: 'length', truncated: true });
  });

  it('does not mark a complete answer as truncated', async () => {
    const { client } = await rig(['whole', 'whole']);
    expect((await client.chat(hello)).truncated).toBe(false);
    expect((await streamed(client)).result.truncated).toBe(false);
  });
});

describe('ModelClient reasoning', () => {
  it('takes a leading <think> block out of the answer into reasoning', async () => {
    const { client } = await rig([{ think: '\nThe user greets me.\n', content: 'Hello!' }]);
    const result = await client.chat(hello);
    expect(result.message.content).toBe('Hello!');
    expect(result.reasoning).toBe('The user greets me.');
  });

  it('splits reasoning…</think>answer when the server stripped the opening tag', async () => {
    const { client } = await rig([{ think: 'Short thought.', think_tags: 'close_only', content: 'Hi.' }]);
    const result = await client.chat(hello);
    expect(result).toMatchObject({ message: { content: 'Hi.' }, reasoning: 'Short thought.' });
  });

  it('treats an unclosed leading <think> as reasoning only, with an empty answer', async () => {
    const { client } = await rig([
      { think: 'Still thinking about', think_tags: 'unclosed', finish_reason: 'length' },
    ]);
    const result = await client.chat(hello);
    expect(result).toMatchObject({
      message: { content: '' },
      reasoning: 'Still thinking about',
      truncated: true,
    });
  });

  it('leaves a <think> that is not at the start in the answer', async () => {
    const text = 'Use the tags like this: <think>plan</think> then answer.';
    const { client } = await rig([text, text]);
    expect(await client.chat(hello)).toMatchObject({ message: { content: text }, reasoning: null });
    expect((await streamed(client)).result).toMatchObject({ message: { content: text }, reasoning: null });
  });

  it('returns reasoning_content apart from the answer', async () => {
    const { client } = await rig([{ reasoning_content: 'Think first.', content: '42' }]);
    expect(await client.chat(hello)).toMatchObject({ message: { content: '42' }, reasoning: 'Think first.' });
  });

  it('reads a reasoning field as some servers name it', async () => {
    const { client } = await rig([
      { reasoning_content: 'Named reasoning.', reasoning_field: 'reasoning', content: 'ok' },
    ]);
    expect(await client.chat(hello)).toMatchObject({
      message: { content: 'ok' },
      reasoning: 'Named reasoning.',
    });
  });

  it('joins reasoning_content and think blocks', async () => {
    const { client } = await rig([
      { reasoning_content: 'From the field.', think: 'From the tags.', content: 'ok' },
    ]);
    expect((await client.chat(hello)).reasoning).toBe('From the field.\nFrom the tags.');
  });

  it('streams think-tag text as reasoning deltas even with tags split across chunks', async () => {
    const { client } = await rig([{ think: 'Let me see: 2+2.', content: 'It is 4.', chunk_chars: 3 }]);
    const { result, deltas } = await streamed(client);
    const content = deltas.map((d) => d.content ?? '').join('');
    const reasoning = deltas.map((d) => d.reasoning ?? '').join('');
    expect(content).toBe('It is 4.');
    expect(reasoning).toBe('Let me see: 2+2.');
    expect(deltas.some((d) => (d.content ?? '').includes('<') || (d.reasoning ?? '').includes('<'))).toBe(
      false,
    );
    expect(result).toMatchObject({ message: { content: 'It is 4.' }, reasoning: 'Let me see: 2+2.' });
  });

  it('streams reasoning_content deltas apart from the content', async () => {
    const { client } = await rig([{ reasoning_content: 'step one step two', content: 'done now' }]);
    const { result, deltas } = await streamed(client);
    expect(deltas.filter((d) => d.reasoning !== undefined).length).toBeGreaterThan(1);
    expect(deltas.map((d) => d.reasoning ?? '').join('')).toBe('step one step two');
    expect(deltas.map((d) => d.content ?? '').join('')).toBe('done now');
    expect(result).toMatchObject({ message: { content: 'done now' }, reasoning: 'step one step two' });
  });

  it('splits a streamed reply whose opening tag was stripped in the final result', async () => {
    const { client } = await rig([
      { think: 'quietly', think_tags: 'close_only', content: 'loud', chunk_chars: 4 },
    ]);
    const { result } = await streamed(client);
    expect(result).toMatchObject({ message: { content: 'loud' }, reasoning: 'quietly' });
  });

  it('gives null content for tool calls preceded only by reasoning', async () => {
    const { client } = await rig([
      { think: 'I need the weather.', tool_calls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] },
      { think: 'I need the weather.', tool_calls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] },
    ]);
    for (const result of [
      await client.chat({ ...hello, tools: weather }),
      (await streamed(client, { ...hello, tools: weather })).result,
    ]) {
      expect(result.message.content).toBeNull();
      expect(result.reasoning).toBe('I need the weather.');
      expect(result.message.tool_calls[0]).toMatchObject({
        name: 'get_weather',
        parsedArguments: { city: 'Oslo' },
      });
    }
  });
});
