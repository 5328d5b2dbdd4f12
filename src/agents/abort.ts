/**
 * Cancellation helpers: linked abort controllers (without one listener per child on a shared
 * parent), abortable sleeps and timeouts, and the conversion of abort reasons into skillplane errors.
 */
import { CancelledError, SkillplaneError } from '../errors/index.js';

/** A child controller linked to its parents; call `dispose()` once the child is no longer needed. */
export interface LinkedAbort {
  /** The child controller; aborting it does not affect the parents. */
  readonly controller: AbortController;
  /** Shorthand for `controller.signal`. */
  readonly signal: AbortSignal;
  /** Detaches the child from its parents (and clears any timer). Idempotent. */
  dispose(): void;
}

/**
 * Children registered on each parent signal. A parent gets a single `abort` listener whatever the
 * number of its live children, so 10,000 children neither leak listeners nor trip Node's
 * "possible EventTarget memory leak" warning; `dispose()` is O(1).
 */
interface Child {
  readonly controller: AbortController;
  readonly dispose: () => void;
}
interface ParentEntry {
  readonly children: Set<Child>;
  readonly listener: () => void;
}
const registry = new WeakMap<AbortSignal, ParentEntry>();

function attach(parent: AbortSignal, child: Child): void {
  let entry = registry.get(parent);
  if (entry === undefined) {
    const children = new Set<Child>();
    const listener = (): void => {
      registry.delete(parent);
      // Copy first: aborting a child may dispose other children of this parent synchronously.
      const all = [...children];
      children.clear();
      for (const c of all) {
        c.dispose(); // detach from its other parents
        c.controller.abort(parent.reason);
      }
    };
    entry = { children, listener };
    registry.set(parent, entry);
    parent.addEventListener('abort', listener, { once: true });
  }
  entry.children.add(child);
}

function detach(parent: AbortSignal, child: Child): void {
  const entry = registry.get(parent);
  if (entry === undefined) return;
  entry.children.delete(child);
  if (entry.children.size === 0) {
    parent.removeEventListener('abort', entry.listener);
    registry.delete(parent);
  }
}

/**
 * Creates a controller that aborts, with the parent's reason, as soon as any of `parents` aborts
 * (immediately when one already has). Undefined parents are ignored. Links chain: a child of a
 * child is aborted by the grandparent.
 */
export function linkedAbortController(...parents: (AbortSignal | undefined)[]): LinkedAbort {
  const controller = new AbortController();
  const linked: AbortSignal[] = [];
  let disposed = false;
  const child: Child = {
    controller,
    dispose: () => {
      if (disposed) return;
      disposed = true;
      for (const p of linked) detach(p, child);
      linked.length = 0;
    },
  };
  for (const parent of parents) {
    if (parent === undefined) continue;
    if (parent.aborted) {
      child.dispose();
      controller.abort(parent.reason);
      break;
    }
    attach(parent, child);
    linked.push(parent);
  }
  return { controller, signal: controller.signal, dispose: child.dispose };
}

/**
 * Turns an abort reason into the error to throw: a {@link SkillplaneError} (e.g. `TimeoutError`)
 * is kept as it is, anything else becomes a {@link CancelledError} with the reason as its cause.
 */
export function toAbortError(reason: unknown): SkillplaneError {
  if (reason instanceof SkillplaneError) return reason;
  const detail = reason instanceof Error && reason.message !== '' ? `: ${reason.message}` : '';
  return new CancelledError(`operation cancelled${detail}`, reason);
}

/** Throws {@link toAbortError}(reason) when `signal` has aborted; a no-op otherwise. */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw toAbortError(signal.reason);
}

/**
 * Resolves after `ms` milliseconds, or rejects with {@link toAbortError} of the reason as soon as
 * `signal` aborts (the timer is then cleared, and the listener is always removed).
 */
export function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (signal?.aborted === true) {
      reject(toAbortError(signal.reason));
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(toAbortError(signal?.reason));
    };
    const timer = setTimeout(
      () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      },
      Math.max(0, ms),
    );
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/**
 * A child of `signal` that also aborts after `ms` milliseconds with `makeError()` as its reason
 * (e.g. `() => new TimeoutError('model call timed out', ms)`). `dispose()` clears the timer and
 * the link; call it when the guarded operation settles. A non-finite `ms` means no deadline.
 */
export function withTimeout(
  signal: AbortSignal | undefined,
  ms: number,
  makeError: () => Error,
): LinkedAbort {
  const link = linkedAbortController(signal);
  if (!Number.isFinite(ms) || link.signal.aborted) return link;
  const timer = setTimeout(() => link.controller.abort(makeError()), Math.max(0, ms));
  const clear = (): void => clearTimeout(timer);
  link.signal.addEventListener('abort', clear, { once: true });
  return {
    controller: link.controller,
    signal: link.signal,
    dispose: () => {
      clear();
      link.signal.removeEventListener('abort', clear);
      link.dispose();
    },
  };
}
