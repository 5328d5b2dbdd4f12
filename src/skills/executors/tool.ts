import { fork } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CancelledError, SkillExecutionError, SkillplaneError, TimeoutError } from '../../errors/index.js';
import type { EffectivePermissions, SkillPolicy } from '../policy.js';
import type { Skill, SkillCallContext, SkillExecutor } from '../types.js';

const CHILD_URL = new URL('./sandbox/child.mjs', import.meta.url);
const GUARD_URL = new URL('./sandbox/network-guard.mjs', import.meta.url);
const DEFAULT_STDERR_LIMIT = 8 * 1024;
const KILL_WAIT_MS = 2_000;

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

/** Options of {@link ToolExecutor}. */
export interface ToolExecutorOptions {
  /** Computes what each skill may read, write and reach. */
  policy: SkillPolicy;
  /** Idle processes kept per skill for reuse (`skills.warm_processes`, default 2; 0 disables). */
  warmProcesses?: number;
  /**
   * Processes of one skill alive at once (`skills.max_processes_per_skill`, default 4). Calls
   * beyond it wait for a process to come free, so a burst never forks a process per call.
   */
  maxProcessesPerSkill?: number;
  /** Bytes of stderr kept for crash reports (default 8 KB). */
  stderrLimitBytes?: number;
  /** Called on every spawn, reuse and exit. */
  onProcessEvent?: (event: ToolProcessEvent) => void;
}

/** How long an idle process above `warmProcesses` is kept for the next burst. */
const LINGER_MS = 10_000;

/** A call waiting for a process of its skill. */
interface Waiter {
  resolve: (proc: SandboxProcess) => void;
  reject: (err: unknown) => void;
}

/** What a loaded skill's processes are keyed and started with. */
interface Prepared {
  key: string;
  entry: string;
  permissions: EffectivePermissions;
}

/** What the child sends back. */
type ChildMessage =
  | { type: 'ready' }
  | { type: 'result'; id: number; ok: true; output: unknown }
  | {
      type: 'result';
      id: number;
      ok: false;
      error: { code: string; message: string; original_code?: string };
    }
  | { type: 'log'; id: number; level: 'debug' | 'info' | 'warn' | 'error'; msg: string; data?: unknown };

interface PendingCall {
  id: number;
  settle: (message: ChildMessage & { type: 'result' }) => void;
  log: (message: ChildMessage & { type: 'log' }) => void;
  /** The process ended while this call was running; `onPurpose` when the executor killed it. */
  exit: (onPurpose: boolean) => void;
}

/** One sandboxed child process, bound to one skill and one permission set. */
class SandboxProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  pending: PendingCall | undefined;
  /** Set when the parent kills the process on purpose, so the exit is not a crash. */
  killedOnPurpose = false;
  private stderr = '';

  constructor(
    readonly key: string,
    readonly skillRef: string,
    child: ChildProcess,
    private readonly stderrLimit: number,
  ) {
    this.child = child;
    if (child.pid === undefined) throw new SkillExecutionError(`could not start a process for ${skillRef}`);
    this.pid = child.pid;
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-this.stderrLimit);
    });
    this.exited = new Promise((resolve) => {
      // 'close' rather than 'exit': it comes after stderr is drained, so crash reports are complete.
      child.once('close', (code, signal) => {
        this.exitInfo = { code, signal };
        this.pending?.exit(this.killedOnPurpose);
        resolve();
      });
    });
    this.ready = new Promise((resolve, reject) => {
      const onMessage = (message: ChildMessage) => {
        if (message.type === 'ready') {
          child.off('message', onMessage);
          resolve();
        }
      };
      child.on('message', onMessage);
      child.once('error', reject);
      void this.exited.then(() =>
        reject(
          new SkillExecutionError(`sandbox for ${skillRef} exited before it was ready`, 'skill_failed', {
            data: this.crashData(),
          }),
        ),
      );
    });
    // Silence the unhandled rejection when nobody awaits `ready` (it is awaited in `run`).
    this.ready.catch(() => undefined);
    child.on('message', (message: ChildMessage) => {
      const pending = this.pending;
      if (pending === undefined || message.type === 'ready' || message.id !== pending.id) return;
      if (message.type === 'log') pending.log(message);
      else pending.settle(message);
    });
  }

  get alive(): boolean {
    return this.exitInfo === undefined && this.child.connected;
  }

  /** Details for a crash error: exit code, signal and the tail of stderr. */
  crashData(): Record<string, unknown> {
    return {
      exit_code: this.exitInfo?.code ?? null,
      signal: this.exitInfo?.signal ?? null,
      stderr: this.stderr,
    };
  }

  /** Keeps or stops the parent's event loop waiting on this process. */
  setRef(ref: boolean): void {
    const channel = (this.child as ChildProcess & { channel?: { ref(): void; unref(): void } }).channel;
    if (ref) {
      this.child.ref();
      channel?.ref();
    } else {
      this.child.unref();
      channel?.unref();
    }
  }

  /** SIGKILLs the process and waits (bounded) until it is gone. */
  async kill(): Promise<void> {
    this.killedOnPurpose = true;
    if (this.exitInfo === undefined) this.child.kill('SIGKILL');
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.exited,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, KILL_WAIT_MS);
      }),
    ]);
    clearTimeout(timer);
  }
}

/** The realpath of a file under the sandbox folder (works from `src/` and from `dist/`). */
function sandboxPath(url: URL): string {
  return realpathSync(fileURLToPath(url));
}

/** Refuses paths that Node 20's flag parser would split or treat as wildcards. */
function assertFlagSafe(path: string): string {
  if (path.includes(',')) {
    throw new SkillExecutionError(`path ${path} holds a comma and cannot be granted`, 'permission_denied');
  }
  return path;
}

/**
 * Runs `entry` tool skills (`export default async (input, ctx) => output`) in a child process
 * under Node's permission model: reads limited to the skill folder, its roots and `fs.read`;
 * writes to `fs.write`; no child processes, workers or addons; network limited to the
 * manifest's host patterns by a preloaded guard. Idle processes are kept warm per skill and
 * permission set, and never shared between skills.
 */
export class ToolExecutor implements SkillExecutor {
  private readonly policy: SkillPolicy;
  private readonly warmProcesses: number;
  private readonly stderrLimit: number;
  private readonly onProcessEvent: ((event: ToolProcessEvent) => void) | undefined;
  private readonly idle = new Map<string, SandboxProcess[]>();
  private readonly busy = new Set<SandboxProcess>();
  private readonly maxPerSkill: number;
  /** Busy processes per pool key. */
  private readonly active = new Map<string, number>();
  /** Calls waiting for a process of a pool key, first come first served. */
  private readonly waiters = new Map<string, Waiter[]>();
  /** Idle processes above the warm count, with the timer that ends them. */
  private readonly lingering = new Map<SandboxProcess, NodeJS.Timeout>();
  /** Pool key, entry and permissions per loaded skill object (a reload makes new objects). */
  private readonly prepared = new WeakMap<Skill, Prepared>();
  private nextCallId = 1;
  private closed = false;

  constructor(options: ToolExecutorOptions) {
    this.policy = options.policy;
    this.warmProcesses = options.warmProcesses ?? 2;
    this.maxPerSkill = Math.max(1, options.maxProcessesPerSkill ?? 4);
    this.stderrLimit = options.stderrLimitBytes ?? DEFAULT_STDERR_LIMIT;
    this.onProcessEvent = options.onProcessEvent;
  }

  /**
   * Runs the skill's entry with `input`. Errors: `permission_denied` (the sandbox refused an
   * access), `skill_failed` (the skill threw or its process crashed; `data.stderr` holds the
   * tail), `timeout` (`timeouts.execute_sec` passed; the process is killed) and `cancelled`
   * (`ctx.signal` aborted; the process is killed before this rejects).
   */
  async execute(
    skill: Skill,
    input: unknown,
    ctx: SkillCallContext & { signal: AbortSignal },
  ): Promise<unknown> {
    if (this.closed) throw new SkillExecutionError('the tool executor is closed', 'executor_closed');
    if (ctx.signal.aborted) throw this.abortError(ctx.signal);
    const { entry: entryField } = skill.manifest;
    if (entryField === undefined) {
      throw new SkillExecutionError(`skill ${skill.id} has no entry module`, 'skill_invalid');
    }
    const { key, entry, permissions } = this.prepare(skill, entryField);
    const proc = await this.acquire(key, ctx.signal, () => this.spawn(skill, permissions, entry, key));
    this.busy.add(proc);
    proc.setRef(true);
    let reusable = false;
    try {
      const result = await this.run(proc, skill, input, ctx);
      reusable = true;
      return result;
    } catch (err) {
      // A skill that threw leaves a healthy process; anything else may not.
      reusable = err instanceof SkillExecutionError && proc.alive && !proc.killedOnPurpose;
      throw err;
    } finally {
      this.busy.delete(proc);
      this.release(proc, reusable, () => this.spawn(skill, permissions, entry, key));
    }
  }

  /** Resolves (once per loaded skill) what its processes are keyed and started with. */
  private prepare(skill: Skill, entryField: string): Prepared {
    const cached = this.prepared.get(skill);
    if (cached !== undefined) return cached;
    const permissions = this.policy.effectivePermissions(skill);
    const dir = realpathSync(skill.dir);
    const entry = this.policy.resolveInsideRoots(entryField, [dir], {
      base: dir,
      mustExist: true,
      field: 'entry',
    });
    const key = `${skill.ref}#${createHash('sha256')
      .update(JSON.stringify({ permissions, entry, mtime: skill.mtimeMs }))
      .digest('hex')}`;
    const prepared = { key, entry, permissions };
    this.prepared.set(skill, prepared);
    return prepared;
  }

  /** An idle process, a new one while under the per-skill cap, or the next one to come free. */
  private acquire(key: string, signal: AbortSignal, spawn: () => SandboxProcess): Promise<SandboxProcess> {
    const idle = this.takeIdle(key);
    const active = this.active.get(key) ?? 0;
    if (idle !== undefined || active < this.maxPerSkill) {
      this.active.set(key, active + 1);
      return Promise.resolve(idle ?? spawn());
    }
    return new Promise<SandboxProcess>((resolve, reject) => {
      const list = this.waiters.get(key) ?? [];
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
      const onAbort = () => {
        const i = list.indexOf(waiter);
        if (i !== -1) list.splice(i, 1);
        reject(this.abortError(signal));
      };
      signal.addEventListener('abort', onAbort, { once: true });
      list.push(waiter);
      this.waiters.set(key, list);
    });
  }

  /** Kills every pooled and running process. */
  async close(): Promise<void> {
    this.closed = true;
    for (const w of [...this.waiters.values()].flat()) {
      w.reject(new SkillExecutionError('the tool executor is closed', 'executor_closed'));
    }
    this.waiters.clear();
    for (const t of this.lingering.values()) clearTimeout(t);
    this.lingering.clear();
    const all = [...this.busy, ...[...this.idle.values()].flat()];
    this.idle.clear();
    await Promise.all(all.map((p) => p.kill()));
  }

  private takeIdle(key: string): SandboxProcess | undefined {
    const list = this.idle.get(key);
    while (list !== undefined && list.length > 0) {
      const proc = list.pop()!;
      clearTimeout(this.lingering.get(proc));
      this.lingering.delete(proc);
      if (proc.alive) {
        this.onProcessEvent?.({ type: 'reuse', skill: proc.skillRef, pid: proc.pid });
        return proc;
      }
    }
    return undefined;
  }

  private release(proc: SandboxProcess, reusable: boolean, spawn: () => SandboxProcess): void {
    const next = this.closed ? undefined : this.waiters.get(proc.key)?.shift();
    if (next !== undefined) {
      // Hand the slot straight to the next caller: the process itself if healthy, else a new one.
      if (reusable && proc.alive) {
        this.onProcessEvent?.({ type: 'reuse', skill: proc.skillRef, pid: proc.pid });
        next.resolve(proc);
      } else {
        void proc.kill();
        next.resolve(spawn());
      }
      return;
    }
    this.active.set(proc.key, Math.max(0, (this.active.get(proc.key) ?? 1) - 1));
    const list = this.idle.get(proc.key) ?? [];
    if (
      reusable &&
      !this.closed &&
      proc.alive &&
      list.length < Math.max(this.warmProcesses, this.maxPerSkill)
    ) {
      proc.setRef(false);
      list.push(proc);
      this.idle.set(proc.key, list);
      if (list.length > this.warmProcesses) {
        // Above the warm count a process lingers briefly for the next burst, then goes.
        const timer = setTimeout(() => {
          this.lingering.delete(proc);
          const i = list.indexOf(proc);
          if (i !== -1 && list.length > this.warmProcesses) {
            list.splice(i, 1);
            void proc.kill();
          }
        }, LINGER_MS);
        timer.unref();
        this.lingering.set(proc, timer);
      }
      return;
    }
    void proc.kill();
  }

  private spawn(skill: Skill, permissions: EffectivePermissions, entry: string, key: string): SandboxProcess {
    const childPath = sandboxPath(CHILD_URL);
    const sandboxDir = dirname(childPath);
    const guardPath = sandboxPath(GUARD_URL);
    const read = [sandboxDir, ...permissions.fsRead].map(assertFlagSafe);
    const write = permissions.fsWrite.map(assertFlagSafe);
    const config = {
      entry,
      dir: realpathSync(skill.dir),
      roots: permissions.roots,
      fsRead: permissions.fsRead,
      fsWrite: permissions.fsWrite,
      network: permissions.network,
    };
    const execArgv = [
      '--experimental-permission',
      ...read.map((p) => `--allow-fs-read=${p}`),
      ...write.map((p) => `--allow-fs-write=${p}`),
      '--disable-warning=ExperimentalWarning',
      '--import',
      guardPath,
    ];
    const child = fork(childPath, [Buffer.from(JSON.stringify(config)).toString('base64url')], {
      execPath: process.execPath,
      execArgv,
      cwd: permissions.roots[0] ?? config.dir,
      // No secrets from the parent: only what Node needs to run.
      env: {
        PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
        NODE_ENV: process.env.NODE_ENV ?? 'production',
      },
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      serialization: 'json',
    });
    const proc = new SandboxProcess(key, skill.ref, child, this.stderrLimit);
    this.onProcessEvent?.({ type: 'spawn', skill: skill.ref, pid: proc.pid });
    void proc.exited.then(() => {
      const list = this.idle.get(key);
      const i = list?.indexOf(proc) ?? -1;
      if (list !== undefined && i !== -1) list.splice(i, 1);
      this.onProcessEvent?.({ type: 'exit', skill: skill.ref, pid: proc.pid, ...proc.exitInfo });
    });
    return proc;
  }

  private async run(
    proc: SandboxProcess,
    skill: Skill,
    input: unknown,
    ctx: SkillCallContext & { signal: AbortSignal },
  ): Promise<unknown> {
    const timeoutMs = Math.round(skill.manifest.timeouts.execute_sec * 1000);
    const id = this.nextCallId++;
    const { signal } = ctx;
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    try {
      return await new Promise<unknown>((resolve, reject) => {
        let stopping = false;
        const stop = (err: SkillplaneError) => {
          if (stopping) return;
          stopping = true;
          if (proc.alive) proc.child.send({ type: 'cancel', id }, () => undefined);
          void proc.kill().then(() => reject(err));
        };
        onAbort = () => stop(this.abortError(signal));
        signal.addEventListener('abort', onAbort, { once: true });
        timer = setTimeout(
          () => stop(new TimeoutError(`skill ${skill.id} timed out after ${timeoutMs} ms`, timeoutMs)),
          timeoutMs,
        );
        proc.pending = {
          id,
          exit: (onPurpose) => {
            if (stopping) return;
            if (onPurpose) return reject(new CancelledError('the tool executor was closed'));
            reject(
              new SkillExecutionError(
                `the process of skill ${skill.id} exited unexpectedly`,
                // A crash may be passing (memory, a signal): callers may retry a safe skill.
                'skill_crashed',
                {
                  data: { skill_id: skill.id, ...proc.crashData() },
                },
              ),
            );
          },
          settle: (message) => {
            if (message.ok) resolve(message.output);
            else {
              const { code, message: text, original_code } = message.error;
              reject(
                new SkillExecutionError(`skill ${skill.id} failed: ${text}`, code, {
                  data: { skill_id: skill.id, ...(original_code === undefined ? {} : { original_code }) },
                }),
              );
            }
          },
          log: (message) => forwardLog(ctx, skill, message),
        };
        proc.ready.then(
          () => {
            if (signal.aborted || !proc.alive) return;
            proc.child.send(
              {
                type: 'call',
                id,
                input,
                ctx: { traceparent: ctx.traceparent, tracestate: ctx.tracestate, runId: ctx.runId },
              },
              (err) => {
                if (err !== null) reject(new SkillExecutionError(`could not send the input: ${err.message}`));
              },
            );
          },
          (err: unknown) => reject(err),
        );
      });
    } finally {
      clearTimeout(timer);
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
      proc.pending = undefined;
    }
  }

  private abortError(signal: AbortSignal): SkillplaneError {
    const reason: unknown = signal.reason;
    if (reason instanceof SkillplaneError) return reason;
    return new CancelledError('skill call cancelled', reason);
  }
}

/** Forwards a log line of the skill to the caller's logger. */
function forwardLog(ctx: SkillCallContext, skill: Skill, message: ChildMessage & { type: 'log' }): void {
  const logger = ctx.logger;
  if (logger === undefined) return;
  const fields = { skill: skill.ref, ...(isRecord(message.data) ? message.data : { data: message.data }) };
  logger[message.level](fields, message.msg);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
