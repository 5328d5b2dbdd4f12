/**
 * Yields the `data` payload of each Server-Sent Event in a byte stream. Multi-line data is joined
 * with `\n`; comments and other fields are ignored. Stops when the stream ends.
 */
export async function* readSseData(
  body: ReadableStream<Uint8Array>,
): AsyncGenerator<string, void, undefined> {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let data: string[] = [];
  try {
    for (;;) {
      const { value, done } = await reader.read();
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
          if (data.length > 0) yield data.join('\n');
          data = [];
        } else if (line.startsWith('data:')) {
          data.push(line.charCodeAt(5) === 32 ? line.slice(6) : line.slice(5));
        }
      }
      buffer = buffer.slice(start);
      if (done) {
        if (buffer.startsWith('data:'))
          data.push(buffer.charCodeAt(5) === 32 ? buffer.slice(6) : buffer.slice(5));
        if (data.length > 0) yield data.join('\n');
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
