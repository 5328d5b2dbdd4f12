import { performance } from 'node:perf_hooks';
import { CancelledError, SkillExecutionError, TimeoutError, toSkillplaneError } from '../errors/index.js';
import { assertJsonLimits, findJsonLimitViolation } from '../limits/index.js';
import type { Skill, SkillCallContext, SkillExecutor } from './types.js';
import { assertMatchesSchema } from './validation.js';
import { PromptExecutor } from './executors/prompt.js';
import { WorkflowExecutor } from './executors/workflow.js';

/** What the runner needs from the registry. */
export interface SkillLookup {
  resolve(ref: string): Skill;
}

/** What the runner needs from the policy. */
export interface SkillGate {
  check(skill: Skill, opts: { approval?: SkillCallContext['approval'] }): void;
}

export interface SkillRunnerOptions {
  registry: SkillLookup;
  policy: SkillGate;
  /** Runs `entry` tool skills (sandboxed child process). */
  toolExecutor: SkillExecutor;
  /** Runs `command` tool skills (argv, no shell). */
  shellExecutor: SkillExecutor;
  /** Overrides the prompt executor (tests). */
  promptExecutor?: SkillExecutor;
  /** Size limits of inputs and outputs (`skills.max_input_*`, `skills.max_output_bytes`). */
  limits?: Partial<SkillIoLimits>;
}

/** Size limits of one skill call's input and output. */
export interface SkillIoLimits {
  maxInputBytes: number;
  maxInputDepth: number;
  maxInputStringLength: number;
  maxOutputBytes: number;
}

/** The defaults of {@link SkillIoLimits} (the config's). */
export const DEFAULT_SKILL_IO_LIMITS: SkillIoLimits = {
  maxInputBytes: 1024 * 1024,
  maxInputDepth: 64,
  maxInputStringLength: 512 * 1024,
  maxOutputBytes: 4 * 1024 * 1024,
};

/** The result of one skill call. */
export interface SkillCallResult {
  /** `id@version` of the skill that ran. */
  skill: string;
  output: unknown;
  durationMs: number;
}

/**
 * The one way to execute a skill: resolve the reference, apply policy (permissions and approval),
 * validate the input, run the right executor under the skill's timeout and the caller's signal,
 * validate the output. REST, MCP, OpenClaw, workflows and agents all call this.
 */
export class SkillRunner {
  private readonly registry: SkillLookup;
  private readonly policy: SkillGate;
  private readonly limits: SkillIoLimits;
  private readonly executors: {
    tool: SkillExecutor;
    shell: SkillExecutor;
    prompt: SkillExecutor;
    workflow: SkillExecutor;
  };

  constructor(options: SkillRunnerOptions) {
    this.registry = options.registry;
    this.policy = options.policy;
    this.limits = { ...DEFAULT_SKILL_IO_LIMITS, ...options.limits };
    this.executors = {
      tool: options.toolExecutor,
      shell: options.shellExecutor,
      prompt: options.promptExecutor ?? new PromptExecutor(),
      workflow: new WorkflowExecutor((ref, input, ctx) =>
        this.execute(ref, input, ctx).then((r) => r.output),
      ),
    };
  }

  /** Resolves a reference (`acme/search`, `acme/search@^1.2`, `acme__search`) or throws `not_found`. */
  resolve(ref: string): Skill {
    return this.registry.resolve(ref);
  }

  /**
   * Checks policy without running: throws `approval_required` or `permission_denied` exactly as
   * `execute` would. The runtime uses it to stop a run for approval before dispatching.
   */
  check(ref: string | Skill, approval?: SkillCallContext['approval']): Skill {
    const skill = typeof ref === 'string' ? this.registry.resolve(ref) : ref;
    this.policy.check(skill, approval === undefined ? {} : { approval });
    return skill;
  }

  /**
   * Checks an input against the size limits before anything recursive (schema validation,
   * serialisation) touches it: `input_invalid` naming the path and the limit.
   */
  assertInputLimits(skill: Skill, input: unknown): void {
    const l = this.limits;
    assertJsonLimits(
      input,
      { maxDepth: l.maxInputDepth, maxStringLength: l.maxInputStringLength, maxBytes: l.maxInputBytes },
      `input of ${skill.id}`,
    );
  }

  /**
   * Executes a skill: policy, input limits, input schema, the executor under the skill's timeout
   * and the caller's signal, output limits and schema. Errors are `SkillplaneError`s with a stable
   * `code`.
   */
  async execute(ref: string | Skill, input: unknown, ctx: SkillCallContext = {}): Promise<SkillCallResult> {
    const skill = this.check(ref, ctx.approval);
    this.assertInputLimits(skill, input);
    assertMatchesSchema(skill.inputSchema, input, `input of ${skill.id}`, 'input_invalid');
    const started = performance.now();
    const timeoutMs = Math.round(skill.manifest.timeouts.execute_sec * 1000);
    const controller = new AbortController();
    const parent = ctx.signal;
    const onAbort = () => controller.abort(parent?.reason ?? new CancelledError());
    if (parent?.aborted === true) onAbort();
    else parent?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(
      () =>
        controller.abort(new TimeoutError(`skill ${skill.id} timed out after ${timeoutMs} ms`, timeoutMs)),
      timeoutMs,
    );
    try {
      const output = await this.executorFor(skill).execute(skill, input, {
        ...ctx,
        signal: controller.signal,
      });
      controller.signal.throwIfAborted();
      this.assertOutputLimits(skill, output);
      if (skill.outputSchema !== undefined) {
        assertMatchesSchema(skill.outputSchema, output, `output of ${skill.id}`, 'output_invalid');
      }
      return { skill: skill.ref, output, durationMs: performance.now() - started };
    } catch (err) {
      // A timeout or cancel wins over whatever the executor threw while being torn down.
      if (controller.signal.aborted) throw toSkillplaneError(controller.signal.reason, 'cancelled');
      throw toSkillplaneError(err, 'skill_failed');
    } finally {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onAbort);
    }
  }

  /** An output deeper or larger than the limits fails as `output_too_large` / `output_invalid`. */
  private assertOutputLimits(skill: Skill, output: unknown): void {
    const l = this.limits;
    // Tool and command executors already cap the bytes they accept from their process.
    const v = findJsonLimitViolation(output, {
      maxDepth: l.maxInputDepth * 2,
      maxStringLength: l.maxOutputBytes,
      ...(skill.manifest.kind === 'tool' ? {} : { maxBytes: l.maxOutputBytes }),
    });
    if (v === undefined) return;
    const code = v.limit === 'bytes' || v.limit === 'string_length' ? 'output_too_large' : 'output_invalid';
    throw new SkillExecutionError(`output of ${skill.id}: ${v.message} (at ${v.path})`, code, {
      data: { skill_id: skill.id, path: v.path, limit: v.limit },
    });
  }

  private executorFor(skill: Skill): SkillExecutor {
    switch (skill.manifest.kind) {
      case 'tool':
        return skill.manifest.command !== undefined ? this.executors.shell : this.executors.tool;
      case 'prompt':
        return this.executors.prompt;
      case 'workflow':
        return this.executors.workflow;
    }
  }

  /** Stops warm processes. */
  async close(): Promise<void> {
    await Promise.all([this.executors.tool.close?.(), this.executors.shell.close?.()]);
  }
}
