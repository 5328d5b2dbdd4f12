// Bounding a wait on the broker: by an abort signal, or by a time limit.

/** Awaits `p` unless `signal` aborts first (then rejects with its reason; `p` is left to settle). */
export function abortable<T>(p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason as Error);
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason as Error);
    signal.addEventListener('abort', onAbort, { once: true });
    p.then(
      (v) => {
        signal.removeEventListener('abort', onAbort);
        resolve(v);
      },
      (e: unknown) => {
        signal.removeEventListener('abort', onAbort);
        reject(e as Error);
      },
    );
  });
}

/** Settles with `p`, or rejects after `ms` (broker reads of the status page). */
export function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  const ac = new AbortController();
  const t = setTimeout(() => ac.abort(new Error(`${what} took more than ${ms} ms`)), ms);
  return abortable(p, ac.signal).finally(() => clearTimeout(t));
}
