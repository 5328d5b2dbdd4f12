import { spawn } from 'node:child_process';
import { realpathSync } from 'node:fs';
import {
  CancelledError,
  PermissionDeniedError,
  SkillExecutionError,
  SkillplaneError,
  TimeoutError,
  ValidationError,
} from '../../errors/index.js';
import type { SkillPolicy } from '../policy.js';
import { getPath } from '../template.js';
import type { Skill, SkillCallContext, SkillExecutor } from '../types.js';

const PLACEHOLDER = /\{\{\s*([A-Za-z0-9_.-]+)\s*\}\}/g;
const DEFAULT_STDOUT_LIMIT = 4 * 1024 * 1024;
const STDERR_TAIL = 8 * 1024;
const KILL_WAIT_MS = 2_000;

/** Options of {@link ShellExecutor}. */
export interface ShellExecutorOptions {
  /** Grants shell only when both the manifest and the config do. */
  policy: SkillPolicy;
  /** Stdout bytes kept; more fails the call with `output_too_large` (default 4 MB). */
  stdoutLimitBytes?: number;
}

/** Output of a command skill whose stdout is not JSON. */
export interface ShellSkillOutput {
  stdout: string;
  stderr: string;
  exit_code: number;
}

/**
 * Fills `{{field}}` placeholders of each argv element from `input`. Every element stays exactly
 * one argument whatever the value holds (no shell, no splitting); values must be strings,
 * numbers or booleans, anything else is a `ValidationError`.
 */
export function renderArgv(command: string[], input: unknown): string[] {
  return command.map((element, index) =>
    element.replace(PLACEHOLDER, (_match, path: string) => {
      const value = getPath(input, path);
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        return String(value);
      }
      throw new ValidationError(
        `command argument ${index} needs {{${path}}} to be a string, number or boolean`,
        [{ path: `command.${index}`, message: `{{${path}}} is ${value === null ? 'null' : typeof value}` }],
      );
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
 * Refused before spawning unless `permissions.shell` and `skills.allow_shell` are both true.
 * Stdout that parses as JSON is the output; otherwise `{stdout, stderr, exit_code}`.
 */
export class ShellExecutor implements SkillExecutor {
  private readonly policy: SkillPolicy;
  private readonly stdoutLimit: number;
  private readonly running = new Set<number>();

  constructor(options: ShellExecutorOptions) {
    this.policy = options.policy;
    this.stdoutLimit = options.stdoutLimitBytes ?? DEFAULT_STDOUT_LIMIT;
  }

  /**
   * Runs the command. Errors: `permission_denied` (shell not granted), `validation_failed`
   * (a placeholder value that is not a scalar), `skill_failed` (non-zero exit; `data` holds the
   * exit code and the stderr tail), `timeout` and `cancelled` (the process group is killed).
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
    const argv = renderArgv(command, input);
    const dir = realpathSync(skill.dir);
    const bounds = permissions.roots.length > 0 ? permissions.roots : [dir];
    const cwd = this.policy.resolveInsideRoots(bounds[0]!, bounds, { mustExist: true, field: 'cwd' });
    if (ctx.signal.aborted) throw abortError(ctx.signal);
    const env: Record<string, string> = {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      LANG: 'C.UTF-8',
      HOME: cwd,
    };
    if (ctx.traceparent !== undefined) env.SKILLPLANE_TRACEPARENT = ctx.traceparent;
    return this.run(skill, argv, cwd, env, input, ctx.signal);
  }

  /** Kills every running command. */
  async close(): Promise<void> {
    for (const pid of this.running) killGroup(pid);
    this.running.clear();
  }

  private run(
    skill: Skill,
    argv: string[],
    cwd: string,
    env: Record<string, string>,
    input: unknown,
    signal: AbortSignal,
  ): Promise<unknown> {
    const timeoutMs = Math.round(skill.manifest.timeouts.execute_sec * 1000);
    const [file, ...args] = argv as [string, ...string[]];
    return new Promise<unknown>((resolve, reject) => {
      const child = spawn(file, args, {
        cwd,
        env,
        shell: false,
        // Its own process group, so a timeout or cancel kills everything it started.
        detached: true,
        stdio: ['pipe', 'pipe', 'pipe'],
      });
      const pid = child.pid;
      if (pid !== undefined) this.running.add(pid);
      let stdout = '';
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
      const finish = (code: number | null) => {
        clearTimeout(timer);
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
      child.stdout.setEncoding('utf8');
      child.stderr.setEncoding('utf8');
      child.stdout.on('data', (chunk: string) => {
        stdout += chunk;
        if (stdout.length > this.stdoutLimit) {
          stop(
            new SkillExecutionError(
              `command of skill ${skill.id} wrote more than ${this.stdoutLimit} bytes`,
              'output_too_large',
            ),
          );
        }
      });
      child.stderr.on('data', (chunk: string) => {
        stderr = (stderr + chunk).slice(-STDERR_TAIL);
      });
      // A command that exits without reading stdin must not crash the parent with EPIPE.
      child.stdin.on('error', () => undefined);
      child.once('error', (err) => {
        stop(
          new SkillExecutionError(`could not start ${file}: ${err.message}`, 'skill_failed', { cause: err }),
        );
        finish(null);
      });
      // The leader is gone: clean up anything it left running in its group.
      child.once('exit', () => killGroup(pid));
      child.once('close', (code) => finish(code));
      signal.addEventListener('abort', onAbort, { once: true });
      const timer = setTimeout(
        () => stop(new TimeoutError(`skill ${skill.id} timed out after ${timeoutMs} ms`, timeoutMs)),
        timeoutMs,
      );
      child.stdin.end(`${JSON.stringify(input ?? null)}\n`);
    });
  }
}

function abortError(signal: AbortSignal): SkillplaneError {
  const reason: unknown = signal.reason;
  if (reason instanceof SkillplaneError) return reason;
  return new CancelledError('skill call cancelled', reason);
}
