// The executor of `entry` tool skills: one sandboxed child process per call, taken from a warm
// pool keyed by skill and permissions, spoken to over a framed channel; the call's deadline and
// cancel kill it.
import { createHash } from 'node:crypto';
import { mkdtempSync, realpathSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CancelledError, SkillExecutionError, SkillplaneError } from '../../errors/index.js';
import { safeJsonStringify } from '../../limits/index.js';
import type { Tracing } from '../../tracing/index.js';
import type { EffectivePermissions, SkillPolicy } from '../policy.js';
import type { Skill, SkillCallContext, SkillExecutor } from '../types.js';
import { forwardLog, recordChildSpan } from './child-reports.js';
import {
  DEFAULT_SANDBOX_LIMITS,
  detectConfinement,
  type Confinement,
  type SandboxLimits,
  type SandboxMode,
} from './confinement.js';
import { EgressProxy } from './egress-proxy.js';
import { ProcessPool, type ToolProcessEvent } from './process-pool.js';
import { SandboxProcess } from './sandbox-process.js';
import { crashError } from './tool-crash.js';
import { assertFlagSafe, sandboxFiles, toolLaunch } from './tool-launch.js';

export type { ToolProcessEvent } from './process-pool.js';

const DEFAULT_STDERR_LIMIT = 8 * 1024;
const DEFAULT_OUTPUT_LIMIT = 4 * 1024 * 1024;
/** Room for the frame envelope around the output. */
const FRAME_OVERHEAD = 64 * 1024;

/** Options of {@link ToolExecutor}. */
export interface ToolExecutorOptions {
  /** Computes what each skill may read, write and reach. */
  policy: SkillPolicy;
  /** Idle processes kept per skill for reuse (`skills.warm_processes`, default 2). */
  warmProcesses?: number;
  /**
   * Processes of one skill alive at once (`skills.max_processes_per_skill`, default 4). Calls
   * beyond it wait for a process to come free, so a burst never forks a process per call.
   */
  maxProcessesPerSkill?: number;
  /** Bytes of stderr kept for crash reports (default 8 KB). */
  stderrLimitBytes?: number;
  /** Largest output of one call (`skills.max_output_bytes`, default 4 MB). */
  maxOutputBytes?: number;
  /** OS confinement: a mode to detect (default `auto`), or a detected {@link Confinement}. */
  sandbox?: SandboxMode | Confinement;
  /** Per-process resource limits (`skills.sandbox_limits`). */
  limits?: SandboxLimits;
  /** Called on every spawn, reuse and exit. */
  onProcessEvent?: (event: ToolProcessEvent) => void;
  /** Makes the span each child reports of its call (under the call's `traceparent`). */
  tracing?: Tracing;
}

/** What a loaded skill's processes are keyed and started with. */
interface Prepared {
  key: string;
  entry: string;
  permissions: EffectivePermissions;
}

/**
 * Runs `entry` tool skills (`export default async (input, ctx) => output`) in sandboxed child
 * processes. Under OS confinement each process has its own user, PID, mount and network
 * namespaces (only the skill folder, its roots and its write paths exist there; no signal reaches
 * the server; the network is reachable only through an egress proxy that checks resolved
 * addresses) and rlimits; in every mode it runs under Node's permission model (reads limited to
 * the grant, writes to `fs.write`, no child processes, workers or addons) with a heap limit and
 * preloaded fs and network guards. The parent talks to it over a framed channel and trusts
 * nothing it sends. Idle processes are kept warm per skill and permission set, never shared.
 */
export class ToolExecutor implements SkillExecutor {
  private readonly policy: SkillPolicy;
  private readonly stderrLimit: number;
  private readonly maxOutputBytes: number;
  private readonly limits: SandboxLimits;
  private readonly pool: ProcessPool;
  private readonly prepared = new WeakMap<Skill, Prepared>();
  private confinement: Promise<Confinement>;
  private runtimeDir: string | undefined;
  private nextCallId = 1;
  private closed = false;
  private readonly tracing: Tracing | undefined;

  constructor(options: ToolExecutorOptions) {
    this.policy = options.policy;
    this.tracing = options.tracing?.enabled === true ? options.tracing : undefined;
    this.stderrLimit = options.stderrLimitBytes ?? DEFAULT_STDERR_LIMIT;
    this.maxOutputBytes = options.maxOutputBytes ?? DEFAULT_OUTPUT_LIMIT;
    this.limits = options.limits ?? DEFAULT_SANDBOX_LIMITS;
    this.pool = new ProcessPool({
      warm: options.warmProcesses ?? 2,
      maxPerKey: Math.max(1, options.maxProcessesPerSkill ?? 4),
      onEvent: options.onProcessEvent,
    });
    const sandbox = options.sandbox ?? 'auto';
    this.confinement = typeof sandbox === 'string' ? detectConfinement(sandbox) : Promise.resolve(sandbox);
    // Awaited on every spawn; a failure surfaces there, not as an unhandled rejection.
    this.confinement.catch(() => undefined);
  }

  /** The confinement this executor's processes run under. */
  getConfinement(): Promise<Confinement> {
    return this.confinement;
  }

  /**
   * Runs the skill's entry with `input`. Errors: `permission_denied` (the sandbox refused an
   * access), `skill_failed` (the skill threw), `skill_crashed` (its process died; `data.stderr`
   * holds the tail), `resource_exhausted` (a memory or CPU limit), `skill_protocol_violation`
   * (it wrote something other than the protocol on its channel), `output_too_large`, `timeout`
   * (`timeouts.execute_sec` passed; the process is killed) and `cancelled` (`ctx.signal` aborted;
   * the process is killed before this rejects).
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
    const prepared = this.prepare(skill, entryField);
    const id = this.nextCallId++;
    // Serialised before a process is taken: an input that cannot be sent costs nothing.
    const frame = safeJsonStringify(
      {
        type: 'call',
        id,
        input,
        ctx: {
          traceparent: ctx.traceparent,
          tracestate: ctx.tracestate,
          runId: ctx.runId,
          idempotencyKey: ctx.idempotencyKey,
          attempt: ctx.attempt,
        },
      },
      `input of ${skill.id}`,
    );
    let proc = await this.pool.acquire(prepared.key, ctx.signal, () => this.abortError(ctx.signal));
    let reusable = false;
    try {
      proc ??= await this.spawn(skill, prepared);
      this.pool.use(proc);
      const result = await this.run(proc, skill, id, frame, ctx);
      reusable = true;
      return result;
    } catch (err) {
      // A skill that threw leaves a healthy process; anything else may not.
      reusable = err instanceof SkillExecutionError && proc !== undefined && proc.alive;
      throw err;
    } finally {
      this.pool.release(prepared.key, proc, reusable);
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
    for (const p of [...permissions.fsRead, ...permissions.fsWrite]) assertFlagSafe(p);
    const key = `${skill.ref}#${createHash('sha256')
      .update(JSON.stringify({ permissions, entry, mtime: skill.mtimeMs }))
      .digest('hex')}`;
    const prepared = { key, entry, permissions };
    this.prepared.set(skill, prepared);
    return prepared;
  }

  /** A private folder for egress sockets, made on first use. */
  private socketDir(): string {
    this.runtimeDir ??= mkdtempSync(join(tmpdir(), 'skillplane-egress-'));
    return this.runtimeDir;
  }

  private async spawn(skill: Skill, prepared: Prepared): Promise<SandboxProcess> {
    const confinement = await this.confinement;
    if (this.closed) throw new SkillExecutionError('the tool executor is closed', 'executor_closed');
    const { permissions, entry, key } = prepared;
    const files = sandboxFiles();
    const namespaced = confinement.kind === 'namespaces';
    const egress =
      namespaced && permissions.network.length > 0
        ? await EgressProxy.open(this.socketDir(), permissions.network)
        : undefined;
    const dir = realpathSync(skill.dir);
    const launch = toolLaunch({
      confinement,
      files,
      permissions,
      entry,
      dir,
      egress,
      maxOutputBytes: this.maxOutputBytes,
      limits: this.limits,
    });
    const proc = new SandboxProcess({
      key,
      skillRef: skill.ref,
      launch,
      stderrLimit: this.stderrLimit,
      maxFrameBytes: this.maxOutputBytes + FRAME_OVERHEAD,
      egress,
    });
    this.pool.started(proc);
    return proc;
  }

  private async run(
    proc: SandboxProcess,
    skill: Skill,
    id: number,
    frame: string,
    ctx: SkillCallContext & { signal: AbortSignal },
  ): Promise<unknown> {
    const { signal } = ctx;
    let onAbort: (() => void) | undefined;
    let sentAt = Date.now();
    try {
      return await new Promise<unknown>((resolve, reject) => {
        let stopping = false;
        const stop = (err: SkillplaneError) => {
          if (stopping) return;
          stopping = true;
          proc.send(JSON.stringify({ type: 'cancel', id }));
          void proc.kill().then(() => reject(err));
        };
        onAbort = () => stop(this.abortError(signal));
        signal.addEventListener('abort', onAbort, { once: true });
        proc.pending = {
          id,
          exit: (onPurpose) => {
            if (stopping) return;
            if (onPurpose && proc.violation === undefined) {
              return reject(new CancelledError('the tool executor was closed'));
            }
            if (proc.violation !== undefined) return;
            reject(crashError(skill, proc, this.limits));
          },
          violation: (reason) => {
            if (stopping) return;
            stopping = true;
            reject(
              new SkillExecutionError(
                `skill ${skill.id} broke the sandbox protocol (${reason}); its process was killed`,
                'skill_protocol_violation',
                { data: { skill_id: skill.id, reason } },
              ),
            );
          },
          settle: (message) => {
            // Once stopping, the call ends with the abort's reason (timeout or cancel), not with
            // whatever the child answered to the cancel frame before it was killed.
            if (stopping) return;
            if (this.tracing !== undefined)
              recordChildSpan(this.tracing, skill, ctx, message, sentAt, proc.pid);
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
            sentAt = Date.now();
            proc.send(frame);
          },
          (err: unknown) => {
            // A deadline or cancel that kills a process still starting ends the call with its
            // own reason, not with "exited before it was ready".
            if (!stopping) reject(err);
          },
        );
      });
    } finally {
      if (onAbort !== undefined) signal.removeEventListener('abort', onAbort);
      proc.pending = undefined;
    }
  }

  /** Kills every pooled and running process. */
  async close(): Promise<void> {
    this.closed = true;
    await this.pool.close(new SkillExecutionError('the tool executor is closed', 'executor_closed'));
    if (this.runtimeDir !== undefined) rmSync(this.runtimeDir, { recursive: true, force: true });
  }

  private abortError(signal: AbortSignal): SkillplaneError {
    const reason: unknown = signal.reason;
    if (reason instanceof SkillplaneError) return reason;
    return new CancelledError('skill call cancelled', reason);
  }
}
