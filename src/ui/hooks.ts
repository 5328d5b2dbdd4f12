// Small hooks of the pages: load data (and reload it), coalesce bursts of refreshes, repeat.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

/** A value loaded by `load`, its error, and a reload that keeps the old value while loading. */
export interface Loaded<T> {
  value: T | undefined;
  error: unknown;
  reload(): void;
}

/** Loads `load()` when `deps` change; `reload` asks again (the newest answer wins). */
export function useLoad<T>(load: (signal: AbortSignal) => Promise<T>, deps: unknown[]): Loaded<T> {
  const [state, setState] = useState<{ value: T | undefined; error: unknown }>({
    value: undefined,
    error: undefined,
  });
  const [tick, setTick] = useState(0);
  const latest = useRef(load);
  latest.current = load;
  useEffect(() => {
    const controller = new AbortController();
    latest
      .current(controller.signal)
      .then((value) => {
        if (!controller.signal.aborted) setState({ value, error: undefined });
      })
      .catch((error: unknown) => {
        if (!controller.signal.aborted) setState((s) => ({ value: s.value, error }));
      });
    return () => controller.abort();
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  return { ...state, reload };
}

/** `fn`, called at most once per `ms` however often the returned function is (the last call wins). */
export function useCoalesced(fn: () => void, ms: number): () => void {
  const latest = useRef(fn);
  latest.current = fn;
  const timer = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  return useCallback(() => {
    if (timer.current !== undefined) return;
    timer.current = setTimeout(() => {
      timer.current = undefined;
      latest.current();
    }, ms);
  }, [ms]);
}

/** Calls `fn` every `ms` while the component is shown. */
export function useEvery(fn: () => void, ms: number): void {
  const latest = useRef(fn);
  latest.current = fn;
  useEffect(() => {
    const id = setInterval(() => latest.current(), ms);
    return () => clearInterval(id);
  }, [ms]);
}

/** Re-renders every `ms`, for ages and running durations. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(Date.now());
  useEvery(() => setNow(Date.now()), ms);
  return now;
}
