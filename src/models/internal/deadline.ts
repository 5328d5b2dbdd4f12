/** The attempt's abort signal, and the switch from "waiting for the answer" to "streaming". */
export interface Deadline {
  signal: AbortSignal;
  /** From now on the timeout bounds each silence of the stream (an idle timeout), not the attempt. */
  streaming(): void;
  /** Bytes arrived: restarts the idle timer while streaming. */
  touch(): void;
  /** True once a started stream was silent for the timeout (the signal is then aborted). */
  idleExpired(): boolean;
}

/** How {@link withDeadline} names what stopped an attempt. */
export interface DeadlineErrors {
  /** The answer did not start within the timeout. */
  answerTimeout(): Error;
  /** A started stream was silent for the timeout. */
  streamTimeout(): Error;
  /** The caller's signal aborted. */
  cancelled(reason: unknown): Error;
  /** Something else aborted the controller (the client closed). */
  closed(err: unknown): Error;
}

/**
 * Runs `fn` with a signal that aborts when `parent` does, when `timeoutMs` passes (until `fn`
 * calls `streaming()`, then at every silence that long), or when `controller` is aborted by its
 * owner, and turns those aborts into the errors `errors` makes. Other failures pass through.
 */
export async function withDeadline<T>(
  controller: AbortController,
  parent: AbortSignal | undefined,
  timeoutMs: number,
  errors: DeadlineErrors,
  fn: (deadline: Deadline) => Promise<T>,
): Promise<T> {
  let phase: 'answer' | 'stream' = 'answer';
  let timedOut: 'answer' | 'stream' | undefined;
  const onAbort = (): void => controller.abort(parent?.reason);
  parent?.addEventListener('abort', onAbort, { once: true });
  const timer = setTimeout(() => {
    timedOut = phase;
    controller.abort(phase === 'stream' ? errors.streamTimeout() : errors.answerTimeout());
  }, timeoutMs);
  const deadline: Deadline = {
    signal: controller.signal,
    streaming: () => {
      phase = 'stream';
      timer.refresh();
    },
    touch: () => {
      if (phase === 'stream' && timedOut === undefined) timer.refresh();
    },
    idleExpired: () => timedOut === 'stream',
  };
  try {
    return await fn(deadline);
  } catch (err) {
    if (timedOut === 'stream') throw errors.streamTimeout();
    if (timedOut === 'answer') throw errors.answerTimeout();
    if (parent?.aborted === true) throw errors.cancelled(parent.reason);
    if (controller.signal.aborted) throw errors.closed(err);
    throw err;
  } finally {
    clearTimeout(timer);
    parent?.removeEventListener('abort', onAbort);
  }
}
