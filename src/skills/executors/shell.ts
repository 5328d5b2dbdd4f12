import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import {
  CancelledError,
  PermissionDeniedError,
  SkillExecutionError,
  SkillplaneError,
  ValidationError,
} from '../../errors/index.js';
import type { SkillPolicy } from '../policy.js';
import { getPath } from '../template.js';
import type { Skill, SkillCallContext, SkillExecutor } from '../types.js';
import {
  buildLaunch,
  DEFAULT_SANDBOX_LIMITS,
  detectConfinement,
  type Confinement,
  type SandboxLimits,
  type SandboxMode,
} from './confinement.js';

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g;
const DEFAULT_STDOUT_LIMIT = 4 * 1024 * 1024;
const STDERR_TAIL = 8 * 1024;
const KILL_WAIT_MS = 2_000;
/** A `..` path segment anywhere in a value. */
const PARENT_SEGMENT = /(^|[/\\])\.\.([/\\]|$)/;

/** Options of {@link ShellExecutor}. */
export interface ShellExecutorOptions {
  /** Grants shell only when both the manifest and the config do. */
  policy: SkillPolicy;
  /** Output bytes kept; more fails the call with `output_too_large` (`skills.max_output_bytes`). */
  stdoutLimitBytes?: number;
  /** OS confinement: a mode to detect (default `auto`), or a detected {@link Confinement}. */
  sandbox?: SandboxMode | Confinement;
  /** Per-process resource limits (`skills.sandbox_limits`). */
  limits?: SandboxLimits;
}

/** Output of a command skill whose stdout is not JSON. */
export interface ShellSkillOutput {
  stdout: string;
  stderr: string;
  exit_code: number;
}

/** How placeholder values may look (the manifest's `placeholders`). */
export interface PlaceholderRules {
  allow_leading_dash: boolean;
  allow_paths: boolean;
}

const STRICT_RULES: PlaceholderRules = { allow_leading_dash: false, allow_paths: false };

function refuse(index: number, path: string, message: string): never {
  throw new ValidationError(
    `command argument ${index}: {{${path}}} ${message}`,
    [{ path, message: `${message} (command argument ${index})` }],
    'input_invalid',
  );
}

/**
 * Fills `{{field}}` placeholders of each argv element from `input`. Every element stays exactly
 * one argument whatever the value holds (no shell, no splitting); values must be strings,
 * numbers or booleans. Refused with `input_invalid`: a NUL anywhere; unless `rules` allow it, a
 * value that starts an element with `-` while no `--` precedes it (it would be read as an
 * option), an absolute path, or a `..` segment.
 */
export function renderArgv(
  command: string[],
  input: unknown,
  rules: PlaceholderRules = STRICT_RULES,
): string[] {
  const endOfOptions = command.indexOf('--');
  return command.map((element, index) =>
    element.replace(PLACEHOLDER, (_match, path: string, offset: number) => {
      const value = getPath(input, path);
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        throw new ValidationError(
          `command argument ${index} needs {{${path}}} to be a string, number or boolean`,
          [{ path: `command.${index}`, message: `{{${path}}} is ${value === null ? 'null' : typeof value}` }],
          'input_invalid',
        );
      }
      const text = String(value);
      const atStart = offset === 0;
      if (text.includes('\0')) refuse(index, path, 'holds a NUL character');
      if (
        atStart &&
        text.startsWith('-') &&
        !rules.allow_leading_dash &&
        (endOfOptions === -1 || endOfOptions > index)
      ) {
        refuse(
          index,
          path,
          'starts with "-" and would be read as an option (add "--" before it in the command)',
        );
      }
      if (!rules.allow_paths && typeof value === 'string') {
        if (text.startsWith('/') || /^[A-Za-z]:[\\/]/.test(text)) refuse(index, path, 'is an absolute path');
        if (PARENT_SEGMENT.test(text)) refuse(index, path, 'climbs out of its folder with ".."');
      }
      return text;
    }),
  );
}

/** Kills the whole process group of a detached child; quiet when it is already gone. */
function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is already gone.
  }
}

/**
 * Runs `command: [argv]` tool skills: spawned without a shell, argv filled from the validated
 * input, the input JSON on stdin, a minimal environment, the first root as working directory.
 * Under OS confinement the command sees only the system folders (read-only), its roots and its
 * write paths, has no network and cannot signal anything outside its own PID namespace.
 * Refused before spawning unless `permissions.shell` and `skills.allow_shell` are both true.
 * Stdout that parses as JSON is the output; otherwise `{stdout, stderr, exit_code}`.
 */
export class ShellExecutor implements SkillExecutor {
  private readonly policy: SkillPolicy;
  private readonly stdoutLimit: number;
  private readonly limits: SandboxLimits;
  private readonly confinement: Promise<Confinement>;
  private readonly running = new Set<number>();

  constructor(options: ShellExecutorOptions) {
    this.policy = options.policy;
    this.stdoutLimit = options.stdoutLimitBytes ?? DEFAULT_STDOUT_LIMIT;
    this.limits = options.limits ?? DEFAULT_SANDBOX_LIMITS;
    const sandbox = options.sandbox ?? 'auto';
    this.confinement = typeof sandbox === 'string' ? detectConfinement(sandbox) : Promise.resolve(sandbox);
    this.confinement.catch(() => undefined);
  }

  /**
   * Runs the command. Errors: `permission_denied` (shell not granted), `input_invalid`
   * (a placeholder value that is not a scalar or breaks the placeholder rules), `skill_failed`
   * (non-zero exit; `data` holds the exit code and the stderr tail), `output_too_large`,
   * `timeout` and `cancelled` (the process group is killed).
   */
  async execute(
    skill: Skill,
    input: unknown,
    ctx: SkillCallContext & { signal: AbortSignal },
  ): Promise<unknown> {
    const { command } = skill.manifest;
    if (command === undefined)
      throw new SkillExecutionError(`skill ${skill.id} has no command`, 'skill_invalid');
    const permissions = this.policy.effectivePermissions(skill);
    if (!permissions.shell) {
      throw new PermissionDeniedError(`skill ${skill.id} may not run a command: shell is not granted`, {
        skill_id: skill.id,
        field: 'permissions.shell',
      });
    }
    const argv = renderArgv(command, input, skill.manifest.placeholders ?? STRICT_RULES);
    const dir = realpathSync(skill.dir);
    const bounds = permissions.roots.length > 0 ? permissions.roots : [dir];
    const cwd = this.policy.resolveInsideRoots(bounds[0]!, bounds, { mustExist: true, field: 'cwd' });
    const confinement = await this.confinement;
    if (ctx.signal.aborted) throw abortError(ctx.signal);
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      LANG: 'C.UTF-8',
      HOME: cwd,
    };
    if (ctx.traceparent !== undefined) env.SKILLPLANE_TRACEPARENT = ctx.traceparent;
    if (ctx.idempotencyKey !== undefined) env.SKILLPLANE_IDEMPOTENCY_KEY = ctx.idempotencyKey;
    if (ctx.attempt !== undefined) env.SKILLPLANE_ATTEMPT = String(ctx.attempt);
    const launch = buildLaunch(confinement, {
      argv,
      cwd,
      env,
      readOnly: [dir, ...permissions.fsRead],
      writable: permissions.fsWrite,
      limits: this.limits,
    });
    return this.run(skill, launch, input, ctx.signal);
  }

  /** Kills every running command. */
  async close(): Promise<void> {
    for (const pid of this.running) killGroup(pid);
    this.running.clear();
  }

  private run(
    skill: Skill,
    launch: ReturnType<typeof buildLaunch>,
    input: unknown,
    signal: AbortSignal,
  ): Promise<unknown> {
    return new Promise<unknown>((resolve, reject) => {
      const child = spawn(launch.file, launch.args, {
        cwd: launch.cwd,
        env: launch.env,
        shell: false,
        // Its own process group, so a timeout or cancel kills everything it started.
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const pid = child.pid;
      if (pid !== undefined) this.running.add(pid);
      const chunks: Buffer[] = [];
      let stdoutBytes = 0;
      let stderr = '';
      let failure: SkillplaneError | undefined;
      let killTimer: NodeJS.Timeout | undefined;
      const stop = (err: SkillplaneError) => {
        if (failure !== undefined) return;
        failure = err;
        killGroup(pid);
        // A stray grandchild might keep the pipes open: settle anyway after a while.
        killTimer = setTimeout(() => finish(null), KILL_WAIT_MS);
      };
      const onAbort = () => stop(abortError(signal));
      let settled = false;
      const finish = (code: number | null) => {
        if (settled) return;
        settled = true;
        clearTimeout(killTimer);
        signal.removeEventListener('abort', onAbort);
        if (pid !== undefined) this.running.delete(pid);
        if (failure !== undefined) return reject(failure);
        if (code !== 0) {
          return reject(
            new SkillExecutionError(`command of skill ${skill.id} exited with code ${code}`, 'skill_failed', {
              data: { skill_id: skill.id, exit_code: code, stderr: stderr.slice(-STDERR_TAIL) },
            }),
          );
        }
        const stdout = Buffer.concat(chunks, stdoutBytes).toString('utf8');
        const text = stdout.trim();
        if (text !== '') {
          try {
            return resolve(JSON.parse(text) as unknown);
          } catch {
            // Not JSON: return the raw streams.
          }
        }
        const output: ShellSkillOutput = { stdout, stderr: stderr.slice(-STDERR_TAIL), exit_code: 0 };
        return resolve(output);
      };
      child.stdout.on('data', (chunk: Buffer) => {
        if (failure !== undefined) return;
        stdoutBytes += chunk.length;
        if (stdoutBytes > this.stdoutLimit) {
          stop(
            new SkillExecutionError(
              `command of skill ${skill.id} wrote more than ${this.stdoutLimit} bytes`,
              'output_too_large',
            ),
          );
          return;
        }
        chunks.push(chunk);
      });
      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk: string) => {
        stderr = (stderr + chunk).slice(-STDERR_TAIL);
      });
      // A command that exits without reading stdin must not crash the parent with EPIPE.
      child.stdin.on('error', () => undefined);
      child.once('error', (err) => {
        stop(
          new SkillExecutionError(`could not start ${launch.file}: ${err.message}`, 'skill_failed', {
            cause: err,
          }),
        );
        finish(null);
      });
      // The leader is gone: clean up anything it left running in its group.
      child.once('exit', () => killGroup(pid));
      child.once('close', (code) => finish(code));
      signal.addEventListener('abort', onAbort, { once: true });
      try {
        child.stdin.end(`${JSON.stringify(input ?? null)}\n`);
      } catch (err) {
        stop(
          new ValidationError(
            `input of ${skill.id} cannot be serialised: ${(err as Error).message}`,
            [],
            'input_invalid',
          ),
        );
      }
    });
  }
}

function abortError(signal: AbortSignal): SkillplaneError {
  const reason: unknown = signal.reason;
  if (reason instanceof SkillplaneError) return reason;
  return new CancelledError('skill call cancelled', reason);
}
