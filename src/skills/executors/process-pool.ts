import type { SandboxProcess } from './sandbox-process.js';

/** A lifecycle event of a sandbox process, for metrics and tests. */
export interface ToolProcessEvent {
  type: 'spawn' | 'reuse' | 'exit';
  /** `id@version` of the skill the process belongs to. */
  skill: string;
  pid: number;
  /** Exit code and signal (`exit` events only). */
  code?: number | null;
  signal?: NodeJS.Signals | null;
}

/** How long an idle process above the warm count is kept for the next burst. */
const LINGER_MS = 10_000;

interface Waiter {
  resolve: (proc: SandboxProcess | undefined) => void;
  reject: (err: unknown) => void;
}

/** Options of a {@link ProcessPool}. */
export interface ProcessPoolOptions {
  /** Idle processes kept per key; more linger briefly for the next burst. */
  warm: number;
  /** Processes of one key alive at once; further callers wait for a slot. */
  maxPerKey: number;
  onEvent?: ((event: ToolProcessEvent) => void) | undefined;
}

/**
 * Slots and warm processes per pool key (one skill version and permission set). A caller takes a
 * slot with {@link acquire} (getting an idle process or `undefined`: start your own), and gives it
 * back with {@link release}, which hands it straight to the next waiter when there is one.
 */
export class ProcessPool {
  private readonly idle = new Map<string, SandboxProcess[]>();
  private readonly busy = new Set<SandboxProcess>();
  /** Slots in use per key. */
  private readonly active = new Map<string, number>();
  private readonly waiters = new Map<string, Waiter[]>();
  private readonly lingering = new Map<SandboxProcess, NodeJS.Timeout>();
  private closed = false;

  constructor(private readonly opts: ProcessPoolOptions) {}

  /** Takes a slot of `key`: an idle process, or `undefined` (the caller starts one). */
  acquire(key: string, signal: AbortSignal, abortError: () => unknown): Promise<SandboxProcess | undefined> {
    const idle = this.takeIdle(key);
    const active = this.active.get(key) ?? 0;
    if (idle !== undefined || active < this.opts.maxPerKey) {
      this.active.set(key, active + 1);
      return Promise.resolve(idle);
    }
    return new Promise((resolve, reject) => {
      const list = this.waiters.get(key) ?? [];
      const onAbort = () => {
        const i = list.indexOf(waiter);
        if (i !== -1) list.splice(i, 1);
        reject(abortError());
      };
      const waiter: Waiter = {
        resolve: (proc) => {
          signal.removeEventListener('abort', onAbort);
          resolve(proc);
        },
        reject: (err) => {
          signal.removeEventListener('abort', onAbort);
          reject(err);
        },
      };
      signal.addEventListener('abort', onAbort, { once: true });
      list.push(waiter);
      this.waiters.set(key, list);
    });
  }

  /** Records a process started in a slot. */
  started(proc: SandboxProcess): void {
    this.opts.onEvent?.({ type: 'spawn', skill: proc.skillRef, pid: proc.pid });
    void proc.exited.then(() => {
      const list = this.idle.get(proc.key);
      const i = list?.indexOf(proc) ?? -1;
      if (list !== undefined && i !== -1) list.splice(i, 1);
      this.opts.onEvent?.({ type: 'exit', skill: proc.skillRef, pid: proc.pid, ...proc.exitInfo });
    });
  }

  /** Marks a process as running a call. */
  use(proc: SandboxProcess): void {
    this.busy.add(proc);
    proc.setRef(true);
  }

  /**
   * Gives a slot back. A healthy process (`reusable`) goes to the next waiter or is parked idle;
   * anything else is killed and the next waiter starts a fresh one.
   */
  release(key: string, proc: SandboxProcess | undefined, reusable: boolean): void {
    if (proc !== undefined) this.busy.delete(proc);
    const healthy = proc !== undefined && reusable && proc.alive && !this.closed;
    const next = this.closed ? undefined : this.waiters.get(key)?.shift();
    if (next !== undefined) {
      if (healthy) {
        this.opts.onEvent?.({ type: 'reuse', skill: proc.skillRef, pid: proc.pid });
        next.resolve(proc);
      } else {
        if (proc !== undefined) void proc.kill();
        next.resolve(undefined);
      }
      return;
    }
    this.active.set(key, Math.max(0, (this.active.get(key) ?? 1) - 1));
    if (proc === undefined) return;
    const list = this.idle.get(key) ?? [];
    if (!healthy || list.length >= Math.max(this.opts.warm, this.opts.maxPerKey)) {
      void proc.kill();
      return;
    }
    proc.setRef(false);
    list.push(proc);
    this.idle.set(key, list);
    if (list.length > this.opts.warm) {
      // Above the warm count a process lingers briefly for the next burst, then goes.
      const timer = setTimeout(() => {
        this.lingering.delete(proc);
        const i = list.indexOf(proc);
        if (i !== -1 && list.length > this.opts.warm) {
          list.splice(i, 1);
          void proc.kill();
        }
      }, LINGER_MS);
      timer.unref();
      this.lingering.set(proc, timer);
    }
  }

  private takeIdle(key: string): SandboxProcess | undefined {
    const list = this.idle.get(key);
    while (list !== undefined && list.length > 0) {
      const proc = list.pop()!;
      clearTimeout(this.lingering.get(proc));
      this.lingering.delete(proc);
      if (proc.alive) {
        this.opts.onEvent?.({ type: 'reuse', skill: proc.skillRef, pid: proc.pid });
        return proc;
      }
    }
    return undefined;
  }

  /** Rejects every waiter with `err` and kills every pooled and running process. */
  async close(err: unknown): Promise<void> {
    this.closed = true;
    for (const w of [...this.waiters.values()].flat()) w.reject(err);
    this.waiters.clear();
    for (const t of this.lingering.values()) clearTimeout(t);
    this.lingering.clear();
    const all = [...this.busy, ...[...this.idle.values()].flat()];
    this.idle.clear();
    await Promise.all(all.map((p) => p.kill()));
  }
}
