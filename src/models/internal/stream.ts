import { SkillplaneError } from '../../errors/index.js';
import type { ChatDelta } from '../types.js';
import { isJson, quote, serverErrorOf } from './answer.js';
import type { CompletionAccumulator } from './completion.js';
import type { Deadline } from './deadline.js';
import type { Failures } from './failures.js';
import { readSseEvents } from './sse.js';

/** What {@link readCompletionStream} reads into and reports with. */
export interface StreamReading {
  acc: CompletionAccumulator;
  onDelta: ((d: ChatDelta) => void) | undefined;
  /** The HTTP status of the answer, for errors. */
  status: number;
  deadline: Deadline;
  failures: Failures;
}

/**
 * Reads a Chat Completions SSE stream into `acc`. The stream must end with `[DONE]` or at least
 * carry a finish reason: a complete answer whose connection closed, reset or went silent before
 * `[DONE]` is accepted. Before that, the end of the stream is `stream_truncated` (retryable); an
 * `error` event or chunk is `stream_error`; a stream without any choice is `no_choices`.
 */
export async function readCompletionStream(
  body: ReadableStream<Uint8Array>,
  r: StreamReading,
): Promise<void> {
  const { acc, deadline, failures, status } = r;
  let done = false;
  try {
    done = await readChunks(body, r);
  } catch (err) {
    // Cancellation and close still win; a reset or a silence after the finish reason does not.
    const lostAfterFinish =
      acc.finished && (deadline.signal.aborted ? deadline.idleExpired() : !(err instanceof SkillplaneError));
    if (!lostAfterFinish) throw err;
  }
  if (!done && !acc.finished) {
    throw failures.fail('closed the stream before it finished (no [DONE], no finish_reason)', {
      status,
      reason: 'stream_truncated',
      retryable: true,
    });
  }
  if (!acc.sawChoice) throw failures.noChoices(status);
  acc.flush(r.onDelta);
}

/** Applies each chunk to `acc`; true when `[DONE]` arrived. */
async function readChunks(body: ReadableStream<Uint8Array>, r: StreamReading): Promise<boolean> {
  const { acc, failures, status } = r;
  for await (const { event, data } of readSseEvents(body, r.deadline.touch)) {
    if (data.trim() === '[DONE]') return true;
    // `event: error` may carry plain text rather than JSON.
    const chunk =
      event === 'error' && !isJson(data) ? { error: data } : failures.parseJson(data, status, null);
    const serverError =
      serverErrorOf(chunk) ?? (event === 'error' ? { message: quote(data), transient: false } : undefined);
    if (serverError !== undefined) {
      throw failures.fail(`failed mid-stream: ${serverError.message}`, {
        status,
        reason: 'stream_error',
        retryable: serverError.transient,
      });
    }
    acc.applyChunk(chunk, r.onDelta);
  }
  return false;
}
