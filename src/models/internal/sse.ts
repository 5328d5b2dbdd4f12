/** One Server-Sent Event: its `event` name (`message` when none was given) and its `data`. */
export interface SseEvent {
  event: string;
  data: string;
}

/**
 * Yields the `data` payload of each Server-Sent Event in a byte stream. Multi-line data is joined
 * with `\n`; comments and other fields are ignored. Stops when the stream ends.
 */
export async function* readSseData(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<string, void, undefined> {
  for await (const e of readSseEvents(body)) yield e.data;
}

/**
 * Yields each Server-Sent Event of a byte stream with its name (`event: error` is how some servers
 * report a failure mid-stream). `onBytes` is called for every chunk read, comments included, so a
 * caller can tell a silent connection from a slow one.
 */
export async function* readSseEvents(
  body: ReadableStream<Uint8Array>,
  onBytes?: () => void,
): AsyncGenerator<SseEvent, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] = [];
  let event = '';
  const dispatch = (): SseEvent => ({ event: event === '' ? 'message' : event, data: data.join('\n') });
  try {
    for (;;) {
      const { value, done } = await reader.read();
      onBytes?.();
      buffer += done ? decoder.decode() : decoder.decode(value, { stream: true });
      let start = 0;
      for (;;) {
        const nl = nextLineBreak(buffer, start);
        if (nl === -1) break;
        const line = buffer.slice(start, nl);
        // A `\r` at the very end may be the first half of `\r\n`: wait for more bytes.
        if (buffer[nl] === '\r' && nl + 1 === buffer.length && !done) break;
        start = nl + (buffer[nl] === '\r' && buffer[nl + 1] === '\n' ? 2 : 1);
        if (line === '') {
          if (data.length > 0) yield dispatch();
          data = [];
          event = '';
        } else if (line.startsWith('data:')) {
          data.push(fieldValue(line, 5));
        } else if (line.startsWith('event:')) {
          event = fieldValue(line, 6);
        }
      }
      buffer = buffer.slice(start);
      if (done) {
        if (buffer.startsWith('data:')) data.push(fieldValue(buffer, 5));
        if (data.length > 0) yield dispatch();
        return;
      }
    }
  } finally {
    reader.releaseLock();
  }
}

function nextLineBreak(s: string, from: number): number {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c === 10 || c === 13) return i;
  }
  return -1;
}

/** The value of an SSE field line after its `name:` (one leading space dropped). */
function fieldValue(line: string, colonEnd: number): string {
  return line.charCodeAt(colonEnd) === 32 ? line.slice(colonEnd + 1) : line.slice(colonEnd);
}
