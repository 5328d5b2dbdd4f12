/** One Server-Sent Event as it came over the wire. */
export interface SseMessage {
  /** `id:` — for a run's stream, the event seq. */
  id: string | undefined;
  /** `event:` — defaults to `message`. */
  event: string;
  data: string;
  /** `retry:` in ms, when the block carried one. */
  retry: number | undefined;
}

/**
 * Parses an SSE byte stream (WHATWG rules: `\n`, `\r\n` or `\r` line ends, `:` comments, multi-line
 * `data:`), yielding one message per dispatched block. A block with only `retry:` is yielded with
 * empty data so the caller can learn the reconnect delay.
 */
export async function* parseSse(body: AsyncIterable<Uint8Array>): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffer = '';
  let id: string | undefined;
  let event = '';
  let data: string[] = [];
  let retry: number | undefined;
  let any = false;

  const dispatch = (): SseMessage | undefined => {
    const msg = any
      ? { id, event: event === '' ? 'message' : event, data: data.join('\n'), retry }
      : undefined;
    event = '';
    data = [];
    retry = undefined;
    any = false;
    return msg;
  };

  const line = (text: string): SseMessage | undefined => {
    if (text === '') return dispatch();
    if (text.startsWith(':')) return undefined;
    const i = text.indexOf(':');
    const field = i < 0 ? text : text.slice(0, i);
    const value = i < 0 ? '' : text.slice(i + 1).replace(/^ /, '');
    switch (field) {
      case 'id':
        if (!value.includes('\0')) id = value;
        any = true;
        break;
      case 'event':
        event = value;
        any = true;
        break;
      case 'data':
        data.push(value);
        any = true;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) {
          retry = Number(value);
          any = true;
        }
        break;
      default:
        break;
    }
    return undefined;
  };

  for await (const chunk of body) {
    buffer += decoder.decode(chunk, { stream: true });
    for (;;) {
      const m = /\r\n|\r|\n/.exec(buffer);
      if (m === null) break;
      // A lone `\r` at the end may be the first half of `\r\n`: wait for more bytes.
      if (m[0] === '\r' && m.index === buffer.length - 1) break;
      const text = buffer.slice(0, m.index);
      buffer = buffer.slice(m.index + m[0].length);
      const msg = line(text);
      if (msg !== undefined) yield msg;
    }
  }
  // An unterminated last block is not dispatched (the stream was cut mid-event).
}
