// A run's event stream as the client follows it: Server-Sent Events resumed with `Last-Event-ID`
// after a drop (bounded retries with backoff), each event once and in order, to the terminal one.
import {
  apiErrorFrom,
  describeNetworkFailure,
  SkillplaneApiError,
  SkillplaneConnectionError,
} from './errors.js';
import { isTerminal, isTerminalEvent } from '../vocabulary/index.js';
import { sleep } from './query.js';
import { parseSse, type SseMessage } from './sse.js';
import type { ClientTransport } from './transport.js';
import type { ApiRun, EventsOptions, RunEvent } from './types.js';

/** Statuses worth reconnecting an event stream on: the server is restarting or a proxy hiccupped. */
const RETRYABLE_STATUSES = new Set([502, 503, 504]);
/**
 * A run's events from `afterSeq` on, until its terminal event. A dropped connection is resumed
 * with `Last-Event-ID` (bounded retries with exponential backoff); every event is yielded exactly
 * once, in seq order. Breaking out of the loop or aborting `signal` closes the stream.
 */
export async function* followRunEvents(
  transport: ClientTransport,
  getRun: (id: string, options: { signal?: AbortSignal }) => Promise<ApiRun>,
  runId: string,
  options: EventsOptions = {},
): AsyncGenerator<RunEvent> {
  const maxRetries = options.maxRetries ?? 5;
  const baseMs = options.retryBaseMs ?? 500;
  const path = `/v1/agents/runs/${encodeURIComponent(runId)}/events`;
  let last = options.afterSeq ?? 0;
  let failures = 0;
  let lastError: unknown;

  const retry = async (err: unknown): Promise<void> => {
    lastError = err;
    failures += 1;
    if (failures > maxRetries)
      throw new SkillplaneConnectionError(
        `event stream of ${runId} dropped; gave up after ${maxRetries} reconnects`,
        lastError,
        { url: transport.baseUrl, ...describeNetworkFailure(lastError) },
      );
    const delay = Math.min(10_000, baseMs * 2 ** (failures - 1));
    await sleep(delay * (0.75 + Math.random() * 0.5), options.signal);
  };

  for (;;) {
    options.signal?.throwIfAborted();
    const controller = new AbortController();
    const signal =
      options.signal === undefined ? controller.signal : AbortSignal.any([options.signal, controller.signal]);
    let res: Response;
    try {
      res = await transport.fetchImpl(transport.url(path), {
        method: 'GET',
        headers: transport.headers({
          accept: 'text/event-stream',
          ...(last > 0 ? { 'last-event-id': String(last) } : {}),
        }),
        signal,
      });
    } catch (err) {
      options.signal?.throwIfAborted();
      await retry(err);
      continue;
    }
    if (!res.ok) {
      const err = await apiErrorFrom(res);
      if (!RETRYABLE_STATUSES.has(res.status)) throw err;
      await retry(err);
      continue;
    }
    try {
      if (res.body === null) throw new SkillplaneConnectionError('event stream has no body');
      for await (const msg of parseSse(res.body)) {
        if (msg.event === 'error') {
          lastError = new SkillplaneConnectionError(`server ended the stream: ${msg.data}`);
          break;
        }
        const event = runEventOf(msg);
        if (event === undefined || event.seq <= last) continue;
        last = event.seq;
        failures = 0;
        yield event;
        if (isTerminalEvent(event.type)) return;
      }
    } catch (err) {
      options.signal?.throwIfAborted();
      if (err instanceof SyntaxError) throw err;
      lastError = err;
    } finally {
      // The consumer broke out, we returned, or the stream failed: release the connection.
      controller.abort();
    }
    // The stream ended without a terminal event: a restart, a drop, or a run that settled
    // without one (the server closes the stream after its history). Ask the run which.
    const run = await getRun(runId, options.signal === undefined ? {} : { signal: options.signal }).catch(
      (err: unknown) => {
        if (err instanceof SkillplaneApiError && !RETRYABLE_STATUSES.has(err.status)) throw err;
        return undefined;
      },
    );
    if (run !== undefined && isTerminal(run.status)) {
      // Anything written before the close is in the store: one last read without waiting.
      const rest = await readRemaining(transport, path, last, options.signal);
      for (const e of rest) {
        if (e.seq <= last) continue;
        last = e.seq;
        yield e;
      }
      return;
    }
    await retry(lastError ?? new SkillplaneConnectionError(`event stream of ${runId} ended early`));
  }
}

/**
 * The run event a message carries, or none: a `retry:`-only block, and the frames a server in
 * Opta-LMX mode writes beside ours (`run.update`, `run.completed` with `{type, run}`, `data:
 * [DONE]`), which carry no `seq`. Anything else that is not JSON is a broken stream (SyntaxError).
 */
function runEventOf(msg: SseMessage): RunEvent | undefined {
  if (msg.data === '' || msg.data === '[DONE]') return undefined;
  const event = JSON.parse(msg.data) as RunEvent;
  return typeof event.seq === 'number' ? event : undefined;
}

/** The events after `after` of a terminal run (its stream closes once the history is sent). */
async function readRemaining(
  transport: ClientTransport,
  path: string,
  after: number,
  signal: AbortSignal | undefined,
): Promise<RunEvent[]> {
  const res = await transport.fetchImpl(transport.url(path), {
    method: 'GET',
    headers: transport.headers({ accept: 'text/event-stream', 'last-event-id': String(after) }),
    ...(signal === undefined ? {} : { signal }),
  });
  if (!res.ok) throw await apiErrorFrom(res);
  const out: RunEvent[] = [];
  if (res.body === null) return out;
  for await (const msg of parseSse(res.body)) {
    const event = msg.event === 'error' ? undefined : runEventOf(msg);
    if (event !== undefined) out.push(event);
  }
  return out;
}
