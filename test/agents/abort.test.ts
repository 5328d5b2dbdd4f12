import { getEventListeners } from 'node:events';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  abortableSleep,
  linkedAbortController,
  throwIfAborted,
  toAbortError,
  withTimeout,
} from '../../src/agents/abort.js';
import { CancelledError, TimeoutError } from '../../src/errors/index.js';

afterEach(() => {
  vi.useRealTimers();
});

describe('linkedAbortController', () => {
  it('aborts the child with the parent reason', () => {
    const parent = new AbortController();
    const { signal } = linkedAbortController(parent.signal);
    const reason = new TimeoutError('too slow', 10);
    parent.abort(reason);
    expect(signal.aborted).toBe(true);
    expect(signal.reason).toBe(reason);
  });

  it('reaches grandchildren through a chain of links', () => {
    const root = new AbortController();
    const child = linkedAbortController(root.signal);
    const grandchild = linkedAbortController(child.signal);
    const greatGrandchild = linkedAbortController(undefined, grandchild.signal);
    root.abort('stop');
    expect(grandchild.signal.aborted).toBe(true);
    expect(greatGrandchild.signal.reason).toBe('stop');
  });

  it('aborts when any of several parents aborts, and is born aborted under an aborted parent', () => {
    const a = new AbortController();
    const b = new AbortController();
    const link = linkedAbortController(a.signal, b.signal);
    b.abort('b');
    expect(link.signal.reason).toBe('b');
    expect(getEventListeners(a.signal, 'abort')).toHaveLength(0);

    const born = linkedAbortController(b.signal);
    expect(born.signal.aborted).toBe(true);
    expect(born.signal.reason).toBe('b');
  });

  it('does not abort the parent when the child aborts', () => {
    const parent = new AbortController();
    const link = linkedAbortController(parent.signal);
    link.controller.abort();
    expect(parent.signal.aborted).toBe(false);
    link.dispose();
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(0);
  });

  it('keeps one listener on a parent with 10,000 children and none once they are disposed', () => {
    const parent = new AbortController();
    const links = Array.from({ length: 10_000 }, () => linkedAbortController(parent.signal));
    expect(getEventListeners(parent.signal, 'abort').length).toBeLessThanOrEqual(1);
    for (const l of links) l.dispose();
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(0);
    parent.abort();
    expect(links.some((l) => l.signal.aborted)).toBe(false);
  });

  it('stops propagating after dispose and tolerates repeated dispose', () => {
    const parent = new AbortController();
    const kept = linkedAbortController(parent.signal);
    const gone = linkedAbortController(parent.signal);
    gone.dispose();
    gone.dispose();
    parent.abort();
    expect(kept.signal.aborted).toBe(true);
    expect(gone.signal.aborted).toBe(false);
  });
});

describe('throwIfAborted / toAbortError', () => {
  it('does nothing for a live or missing signal', () => {
    expect(() => throwIfAborted(undefined)).not.toThrow();
    expect(() => throwIfAborted(new AbortController().signal)).not.toThrow();
  });

  it('turns a plain abort into CancelledError and keeps skillplane errors', () => {
    const plain = new AbortController();
    plain.abort();
    expect(() => throwIfAborted(plain.signal)).toThrow(CancelledError);

    const timed = new AbortController();
    const timeout = new TimeoutError('deadline', 5);
    timed.abort(timeout);
    expect(() => throwIfAborted(timed.signal)).toThrow(timeout);
    expect(toAbortError('why').cause).toBe('why');
  });
});

describe('abortableSleep', () => {
  it('resolves after the delay and removes its listener', async () => {
    vi.useFakeTimers();
    const c = new AbortController();
    let done = false;
    const p = abortableSleep(1_000, c.signal).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(999);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    await p;
    expect(done).toBe(true);
    expect(getEventListeners(c.signal, 'abort')).toHaveLength(0);
  });

  it('rejects with CancelledError as soon as the signal aborts and clears its timer', async () => {
    vi.useFakeTimers();
    const c = new AbortController();
    const p = abortableSleep(60_000, c.signal);
    c.abort();
    await expect(p).rejects.toBeInstanceOf(CancelledError);
    expect(vi.getTimerCount()).toBe(0);
    await expect(abortableSleep(10, c.signal)).rejects.toBeInstanceOf(CancelledError);
  });
});

describe('withTimeout', () => {
  it('aborts with the error made on expiry', async () => {
    vi.useFakeTimers();
    const t = withTimeout(undefined, 500, () => new TimeoutError('model call timed out', 500));
    await vi.advanceTimersByTimeAsync(500);
    expect(t.signal.reason).toBeInstanceOf(TimeoutError);
    expect(() => throwIfAborted(t.signal)).toThrow(TimeoutError);
    t.dispose();
  });

  it('follows the parent and leaves no timer or listener after dispose', () => {
    vi.useFakeTimers();
    const parent = new AbortController();
    const t = withTimeout(parent.signal, 500, () => new TimeoutError('late', 500));
    expect(vi.getTimerCount()).toBe(1);
    t.dispose();
    expect(vi.getTimerCount()).toBe(0);
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(0);

    const t2 = withTimeout(parent.signal, 500, () => new TimeoutError('late', 500));
    parent.abort('parent');
    expect(t2.signal.reason).toBe('parent');
    expect(vi.getTimerCount()).toBe(0);
  });
});
