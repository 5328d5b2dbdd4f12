import { afterEach, describe, expect, it } from 'vitest';
import { replies, startScriptedModelServer } from '../../src/testing/index.js';
import type { ScriptedModelServer, ScriptedReply } from '../../src/testing/index.js';

const servers: ScriptedModelServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

/** Posts one request to a server answering `reply`. */
async function answer(reply: ScriptedReply, stream = false): Promise<Response> {
  const server = await startScriptedModelServer({ script: replies([reply]) });
  servers.push(server);
  return fetch(`${server.url}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      messages: [{ role: 'user', content: 'x' }],
      stream,
      ...(stream ? { stream_options: { include_usage: true } } : {}),
    }),
  });
}

interface Block {
  event: string | undefined;
  data: string;
}

/** The SSE blocks of a body: event name (if any) and raw data. */
async function blocks(res: Response): Promise<Block[]> {
  const text = await res.text();
  return text
    .split('\n\n')
    .filter((b) => b !== '')
    .map((b) => {
      const event = /^event: (.*)$/m.exec(b)?.[1];
      const data = /^data: (.*)$/m.exec(b)?.[1] ?? '';
      return { event, data };
    });
}

type Delta = Record<string, unknown>;
/** The deltas of the parsed chunks that have a choice. */
function deltas(list: Block[]): Delta[] {
  return list
    .filter((b) => b.data.startsWith('{'))
    .flatMap((b) => (JSON.parse(b.data) as { choices?: { delta: Delta }[] }).choices ?? [])
    .map((c) => c.delta);
}

describe('scripted server quirks', () => {
  it('answers error_body with a 200 JSON body holding only the error', async () => {
    const res = await answer({ error_body: { message: 'No models loaded', type: 'x' } });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ error: { message: 'No models loaded', type: 'x' } });
  });

  it('streams error_body as a last chunk without finish or [DONE], or as an error event', async () => {
    const chunk = await blocks(await answer({ content: 'a b', error_body: 'oops' }, true));
    expect(chunk.at(-1)).toEqual({ event: undefined, data: '{"error":"oops"}' });
    expect(chunk.some((b) => b.data === '[DONE]' || b.data.includes('"finish_reason":"stop"'))).toBe(false);
    const event = await blocks(await answer({ error_body: 'oops', error_event: true }, true));
    expect(event.at(-1)).toEqual({ event: 'error', data: 'oops' });
  });

  it('answers empty_choices with choices: [] or no choices member, and streams no choice', async () => {
    expect(await (await answer({ empty_choices: true })).json()).toMatchObject({ choices: [] });
    expect(await (await answer({ empty_choices: 'missing' })).json()).not.toHaveProperty('choices');
    const stream = await blocks(await answer({ content: 'x', empty_choices: true }, true));
    expect(deltas(stream)).toEqual([]);
    expect(stream.at(-1)?.data).toBe('[DONE]');
  });

  it('puts think in the content with the chosen tags', async () => {
    const content = async (reply: ScriptedReply): Promise<unknown> =>
      ((await (await answer(reply)).json()) as { choices: { message: { content: unknown } }[] }).choices[0]
        ?.message.content;
    expect(await content({ think: 'r', content: 'a' })).toBe('<think>r</think>\n\na');
    expect(await content({ think: 'r', think_tags: 'close_only', content: 'a' })).toBe('r</think>\n\na');
    expect(await content({ think: 'r', think_tags: 'unclosed' })).toBe('<think>r');
  });

  it('sends reasoning_content under the chosen field, streamed before the content', async () => {
    const json = (await (
      await answer({ reasoning_content: 'why', reasoning_field: 'reasoning' })
    ).json()) as {
      choices: { message: Delta }[];
    };
    expect(json.choices[0]?.message).toMatchObject({ reasoning: 'why' });
    const stream = deltas(await blocks(await answer({ reasoning_content: 'why not', content: 'ok' }, true)));
    expect(stream.slice(1, 3)).toEqual([{ reasoning_content: 'why ' }, { reasoning_content: 'not' }]);
    expect(stream[3]).toEqual({ content: 'ok' });
  });

  it('streams text in chunk_chars pieces and reports finish_reason length', async () => {
    const list = await blocks(
      await answer({ think: 'ab', content: 'cd', chunk_chars: 3, finish_reason: 'length' }, true),
    );
    const pieces = deltas(list).map((d) => d.content);
    expect(pieces.slice(1, -1)).toEqual(['<th', 'ink', '>ab', '</t', 'hin', 'k>\n', '\ncd']);
    expect(list.some((b) => b.data.includes('"finish_reason":"length"'))).toBe(true);
  });

  it('answers html_status with a text/html proxy page', async () => {
    const res = await answer({ html_status: 502 });
    expect(res.status).toBe(502);
    expect(res.headers.get('content-type')).toContain('text/html');
    expect(await res.text()).toMatch(/^<!DOCTYPE html>[\s\S]*<h1>502 Bad Gateway<\/h1>/);
  });

  it('answers garbage with a 200 JSON content type whose body does not parse', async () => {
    const res = await answer({ garbage: 'not json' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/json');
    expect(await res.text()).toBe('not json');
    const stream = await blocks(await answer({ content: 'x', garbage: true }, true));
    expect(() => JSON.parse(stream[1]?.data ?? '')).toThrow();
  });

  it('cuts a stream after truncate_stream_after events and can leave out [DONE]', async () => {
    const cut = await blocks(await answer({ content: 'a b c d', truncate_stream_after: 3 }, true));
    expect(cut).toHaveLength(3);
    const noDone = await blocks(await answer({ content: 'a', omit_done: true }, true));
    expect(noDone.some((b) => b.data === '[DONE]')).toBe(false);
    expect(noDone.some((b) => b.data.includes('"finish_reason":"stop"'))).toBe(true);
  });

  it('sends nothing for stall_ms after stall_after events', async () => {
    const res = await answer({ content: 'a b', stall_ms: 80, stall_after: 1 }, true);
    const reader = res.body!.getReader();
    const first = await reader.read();
    const firstAt = Date.now();
    expect(new TextDecoder().decode(first.value)).toContain('"role":"assistant"');
    let rest = '';
    for (let r = await reader.read(); !r.done; r = await reader.read())
      rest += new TextDecoder().decode(r.value);
    expect(Date.now() - firstAt).toBeGreaterThanOrEqual(60);
    expect(rest).toContain('data: [DONE]');
  });
});
