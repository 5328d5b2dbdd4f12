import { SkillExecutionError, toSkillplaneError } from '../../errors/index.js';
import type { Skill, SkillCallContext, SkillExecutor } from '../types.js';
import type { WorkflowStep } from '../manifest.js';
import { resolveMapping } from '../template.js';

/** Calls one skill with policy, validation and timeouts: the runner, injected to avoid a cycle. */
export type CallSkill = (
  ref: string,
  input: unknown,
  ctx: SkillCallContext & { signal: AbortSignal },
) => Promise<unknown>;

/**
 * Runs a workflow skill's `steps` as a DAG: a step starts when every step it `needs` has
 * finished, independent steps run in parallel, and each step is a full skill call (policy checks,
 * approval, validation, timeout). The first failure aborts the steps still running and fails the
 * workflow with the step named. The output maps each step id to its output.
 */
export class WorkflowExecutor implements SkillExecutor {
  constructor(private readonly callSkill: CallSkill) {}

  async execute(
    skill: Skill,
    input: unknown,
    ctx: SkillCallContext & { signal: AbortSignal },
  ): Promise<Record<string, unknown>> {
    const steps = skill.manifest.steps ?? [];
    const outputs: Record<string, unknown> = {};
    const done = new Set<string>();
    const running = new Map<string, Promise<void>>();
    const controller = new AbortController();
    const onAbort = () => controller.abort(ctx.signal.reason);
    ctx.signal.addEventListener('abort', onAbort, { once: true });
    let failure: unknown;

    const start = (step: WorkflowStep) => {
      const scope = {
        input,
        steps: Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, { output: v }])),
      };
      const stepInput = resolveMapping(step.input, scope);
      // Each step has its own key under the workflow's (same attempt), stable across re-runs.
      const key =
        ctx.idempotencyKey === undefined ? {} : { idempotencyKey: `${ctx.idempotencyKey}/${step.id}` };
      const p = this.callSkill(step.skill, stepInput, { ...ctx, ...key, signal: controller.signal }).then(
        (out) => {
          outputs[step.id] = out;
          done.add(step.id);
        },
        (err: unknown) => {
          if (failure === undefined) {
            const e = toSkillplaneError(err);
            failure = new SkillExecutionError(
              `workflow ${skill.id} step ${step.id} failed: ${e.message}`,
              e.code,
              {
                data: { ...(e.data ?? {}), step: step.id },
                cause: e,
              },
            );
            controller.abort(failure);
          }
        },
      );
      running.set(step.id, p);
    };

    try {
      while (done.size < steps.length && failure === undefined) {
        controller.signal.throwIfAborted();
        for (const step of steps) {
          if (done.has(step.id) || running.has(step.id)) continue;
          if (step.needs.every((n) => done.has(n))) start(step);
        }
        const pending = [...running.entries()].filter(([id]) => !done.has(id)).map(([, p]) => p);
        if (pending.length === 0) break;
        await Promise.race(pending);
      }
      // Every started step settles before we return: no floating promises.
      await Promise.all(running.values());
      if (failure !== undefined) throw failure;
      ctx.signal.throwIfAborted();
      return outputs;
    } finally {
      ctx.signal.removeEventListener('abort', onAbort);
    }
  }
}
