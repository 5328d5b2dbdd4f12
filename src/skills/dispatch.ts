import type { Skill, SkillCallContext, SkillExecutor } from './types.js';

/**
 * Where a skill call runs once the invoker has checked it: in this process's executors
 * ({@link LocalDispatcher}) or, for skills routed to the worker plane, on a queue. The invoker
 * owns policy, limits, validation, the deadline and the audit entry; a dispatcher only runs.
 */
export interface Dispatcher {
  /** Runs a validated call; `ctx.signal` carries the one deadline and the caller's cancellation. */
  dispatch(skill: Skill, input: unknown, ctx: SkillCallContext & { signal: AbortSignal }): Promise<unknown>;
  /** Stops warm processes, connections and timers. */
  close(): Promise<void>;
}

/** The executors of each kind of skill. */
export interface LocalExecutors {
  tool: SkillExecutor;
  shell: SkillExecutor;
  prompt: SkillExecutor;
  workflow: SkillExecutor;
}

/** Runs every skill in this process: entry tools and commands sandboxed, prompts, workflows. */
export class LocalDispatcher implements Dispatcher {
  constructor(private readonly executors: LocalExecutors) {}

  dispatch(skill: Skill, input: unknown, ctx: SkillCallContext & { signal: AbortSignal }): Promise<unknown> {
    return this.executorFor(skill).execute(skill, input, ctx);
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

  async close(): Promise<void> {
    await Promise.all([this.executors.tool.close?.(), this.executors.shell.close?.()]);
  }
}
