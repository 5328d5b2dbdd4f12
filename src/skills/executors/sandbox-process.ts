import { spawn, type ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { SkillExecutionError } from '../../errors/index.js';
import { FrameReader, type ChildMessage } from './channel.js';
import type { Launch } from './confinement.js';
import type { EgressProxy } from './egress-proxy.js';

const KILL_WAIT_MS = 2_000;

/** A result frame. */
export type ResultMessage = Extract<ChildMessage, { type: 'result' }>;
/** A log frame. */
export type LogMessage = Extract<ChildMessage, { type: 'log' }>;

/** The call a process is running, and how to settle it. */
export interface PendingCall {
  id: number;
  settle: (message: ResultMessage) => void;
  log: (message: LogMessage) => void;
  /** The process ended while this call was running; `onPurpose` when the executor killed it. */
  exit: (onPurpose: boolean) => void;
  /** The process broke the channel protocol (it is being killed). */
  violation: (reason: string) => void;
}

/** Options of a {@link SandboxProcess}. */
export interface SandboxProcessOptions {
  key: string;
  skillRef: string;
  launch: Launch;
  stderrLimit: number;
  /** Largest frame accepted from the child (the output limit plus envelope). */
  maxFrameBytes: number;
  /** The process's egress proxy, closed when it exits. */
  egress?: EgressProxy | undefined;
}

/**
 * One sandboxed child process, bound to one skill and one permission set. The parent trusts
 * nothing it sends: frames are checked by a {@link FrameReader}, the first violation kills it.
 */
export class SandboxProcess {
  readonly key: string;
  readonly skillRef: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  pending: PendingCall | undefined;
  /** Set when the parent kills the process on purpose, so the exit is not a crash. */
  killedOnPurpose = false;
  /** Why the process was killed for breaking the protocol, if it was. */
  violation: string | undefined;
  private stderr = '';
  private readonly input: Writable;
  private readonly frames: Readable;
  private readonly egress: EgressProxy | undefined;

  constructor(opts: SandboxProcessOptions) {
    this.key = opts.key;
    this.skillRef = opts.skillRef;
    this.egress = opts.egress;
    const { launch } = opts;
    const child = spawn(launch.file, launch.args, {
      cwd: launch.cwd,
      env: launch.env,
      // Its own process group, so a kill reaches bubblewrap and everything under it.
      detached: true,
      stdio: ['pipe', 'ignore', 'pipe', 'pipe'],
    });
    this.child = child;
    if (child.pid === undefined) {
      void this.egress?.close();
      throw new SkillExecutionError(`could not start a process for ${opts.skillRef}`);
    }
    this.pid = child.pid;
    this.input = child.stdin!;
    this.frames = child.stdio[3] as Readable;
    this.input.on('error', () => undefined);
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      this.stderr = (this.stderr + chunk).slice(-opts.stderrLimit);
    });
    let onReady: (() => void) | undefined;
    const reader = new FrameReader(
      opts.maxFrameBytes,
      (message) => {
        if (message.type === 'ready') return onReady?.();
        const pending = this.pending;
        if (pending === undefined || message.id !== pending.id) {
          return this.violate(`a ${message.type} frame for call ${message.id}, which is not running`);
        }
        if (message.type === 'log') pending.log(message);
        else pending.settle(message);
      },
      (reason) => this.violate(reason),
    );
    this.frames.on('data', (chunk: Buffer) => {
      // Nothing the child sends may throw in the parent.
      try {
        reader.push(chunk);
      } catch (err) {
        this.violate(`a frame that broke the reader: ${(err as Error).message}`);
      }
    });
    this.frames.on('error', () => undefined);
    this.exited = new Promise((resolve) => {
      // 'close' rather than 'exit': it comes after stderr is drained, so crash reports are complete.
      child.once('close', (code, signal) => {
        this.exitInfo = { code, signal };
        void this.egress?.close();
        this.pending?.exit(this.killedOnPurpose);
        resolve();
      });
    });
    this.ready = new Promise((resolve, reject) => {
      onReady = () => {
        onReady = undefined;
        resolve();
      };
      child.once('error', reject);
      void this.exited.then(() =>
        reject(
          new SkillExecutionError(`sandbox for ${opts.skillRef} exited before it was ready`, 'skill_failed', {
            data: this.crashData(),
          }),
        ),
      );
    });
    // Silence the unhandled rejection when nobody awaits `ready` (it is awaited in `run`).
    this.ready.catch(() => undefined);
  }

  get alive(): boolean {
    return this.exitInfo === undefined && this.violation === undefined && !this.killedOnPurpose;
  }

  /** Sends one frame to the child; false when it cannot be written (the child is gone). */
  send(frame: string): boolean {
    if (!this.alive || this.input.destroyed) return false;
    this.input.write(`${frame}\n`);
    return true;
  }

  /** Details for a crash error: exit code, signal and the tail of stderr. */
  crashData(): Record<string, unknown> {
    return {
      exit_code: this.exitInfo?.code ?? null,
      signal: this.exitInfo?.signal ?? null,
      stderr: this.stderr,
    };
  }

  /** The tail of the child's stderr. */
  get stderrTail(): string {
    return this.stderr;
  }

  /** Keeps or stops the parent's event loop waiting on this process. */
  setRef(ref: boolean): void {
    const handles = [this.child, this.input, this.frames, this.child.stderr] as (
      { ref?: () => void; unref?: () => void } | null | undefined
    )[];
    for (const h of handles) {
      if (ref) h?.ref?.();
      else h?.unref?.();
    }
  }

  private violate(reason: string): void {
    if (this.violation !== undefined) return;
    this.violation = reason;
    this.pending?.violation(reason);
    void this.kill();
  }

  /** SIGKILLs the process group and waits (bounded) until it is gone. */
  async kill(): Promise<void> {
    this.killedOnPurpose = true;
    if (this.exitInfo === undefined) {
      try {
        process.kill(-this.pid, 'SIGKILL');
      } catch {
        this.child.kill('SIGKILL');
      }
    }
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
