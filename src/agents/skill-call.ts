// One tool call of an agent's turn run as a journaled skill step: argument parsing and limits,
// policy and the approval gate (suspend, deny), dispatch, and which failures go back to the model.
import { ApprovalRequiredError, SkillplaneError, toSkillplaneError } from '../errors/index.js';
import type { Skill } from '../skills/index.js';
import { formatTraceparent } from '../tracing/index.js';
import type { RunEnvironment } from './environment.js';
import type { RunExecution } from './execution.js';
import type { StepSpec } from './execution-types.js';

/** Thrown to stop a run until a human decides on an approval; the runtime suspends the run. */
export class SuspendForApproval extends SkillplaneError {
  constructor(
    readonly approvalId: string,
    skillId: string,
  ) {
    super('waiting_approval', `waiting for approval ${approvalId} to run ${skillId}`, {
      data: { approval_id: approvalId, skill_id: skillId },
    });
  }
}

/** The request was denied (or the approval expired): the run fails with `approval_denied`. */
export class ApprovalDeniedError extends SkillplaneError {
  constructor(approvalId: string, skillId: string, status: string, reason: string | null) {
    super(
      'approval_denied',
      `approval ${approvalId} for ${skillId} was ${status}${reason ? `: ${reason}` : ''}`,
      {
        data: { approval_id: approvalId, skill_id: skillId, status },
      },
    );
  }
}

/** Errors a model should see as a tool result (it can correct itself) instead of failing the run. */
const TOOL_LEVEL_ERRORS = new Set([
  'input_invalid',
  'output_invalid',
  'permission_denied',
  'skill_failed',
  'not_found',
  'timeout',
  'validation_failed',
]);

/** Passing skill failures: retried by the journal, then reported to the model if they persist. */
const RETRIED_SKILL_ERRORS = new Set(['skill_crashed', 'executor_closed']);

/** Runs one tool call; the result (or a tool-level error) is what the model is shown. */
export async function callSkill(
  exec: RunExecution,
  env: RunEnvironment,
  p: {
    skill: Skill | undefined;
    call: { id: string; name: string; arguments: string };
    key: string;
    branch: string;
    agent: string;
  },
): Promise<unknown> {
  const { skill, call, key } = p;
  if (skill === undefined)
    return { error: { code: 'not_found', message: `no tool named ${call.name} is available` } };
  let args: unknown;
  try {
    args = call.arguments.trim() === '' ? {} : JSON.parse(call.arguments);
  } catch {
    return { error: { code: 'input_invalid', message: `arguments of ${call.name} are not valid JSON` } };
  }
  // Model output is hostile: limits first, before the arguments are journaled or validated.
  try {
    env.skills.checkInput(skill, args);
  } catch (err) {
    return { error: toSkillplaneError(err).toJSON() };
  }

  // Policy first: an approval-required skill stops the run before anything is dispatched.
  let approval: { id: string; approved_by: string } | undefined;
  try {
    env.skills.check(skill);
  } catch (err) {
    if (!(err instanceof ApprovalRequiredError)) return { error: toSkillplaneError(err).toJSON() };
    const found = await env.approvals.forStep(exec.run.id, key);
    if (found === undefined) {
      const created = await env.approvals.request(exec.run, {
        stepKey: key,
        skill,
        args,
        riskTags: env.skills.riskTags(skill),
      });
      throw new SuspendForApproval(created.id, skill.id);
    }
    if (found.status === 'pending') throw new SuspendForApproval(found.id, skill.id);
    if (found.status !== 'approved')
      throw new ApprovalDeniedError(found.id, skill.id, found.status, found.reason);
    approval = { id: found.id, approved_by: found.decided_by ?? 'unknown' };
  }

  // Risk tags are the union over every loaded version of the id.
  const risky = env.skills.riskTags(skill).length > 0;
  const notRepeatable = risky ? 'risk_tagged' : skill.manifest.idempotent ? undefined : 'not_idempotent';
  const spec: StepSpec = {
    key,
    kind: 'skill',
    name: skill.ref,
    input: args,
    branch: p.branch,
    agent: p.agent,
    maxRetries: env.config.agents.max_step_retries,
    // A skill whose repeated call is not harmless is never retried nor re-run after a crash.
    ...(notRepeatable === undefined ? {} : { notRepeatable }),
    span: {
      name: `execute_tool ${skill.id}`,
      attributes: {
        'gen_ai.operation.name': 'execute_tool',
        'gen_ai.tool.name': skill.id,
        'gen_ai.tool.call.id': call.id,
        'gen_ai.agent.name': p.agent,
      },
    },
  };
  try {
    return await exec.step(spec, async (signal, attempt, spanId, seq) => {
      try {
        const r = await env.skills.invoke({
          skill,
          input: args,
          door: 'run',
          signal,
          principal: exec.run.principal,
          runId: exec.run.id,
          stepKey: key,
          // Stable across retries and re-runs after a crash (same seq); attempt counts them.
          idempotencyKey: `${exec.run.id}:${seq}`,
          attempt,
          traceparent: formatTraceparent(exec.run.trace_id, spanId),
          ...(exec.run.tracestate === null ? {} : { tracestate: exec.run.tracestate }),
          ...(approval === undefined ? {} : { approval }),
          // The skill's ctx.logger: the run's lines, with this step's span.
          ...(exec.logger === undefined ? {} : { logger: exec.logger.child({ span_id: spanId }) }),
          // A call on the worker plane reports its progress into the run's stream.
          onProgress: (progress) => exec.progress(spec, seq, progress),
        });
        return { output: r.output };
      } catch (err) {
        const e = toSkillplaneError(err);
        if (signal.aborted || !TOOL_LEVEL_ERRORS.has(e.code)) throw e;
        // Recorded as a completed step holding the error, so a resumed run does not call it again.
        return { output: { error: e.toJSON() }, attributes: { 'error.type': e.code } };
      }
    });
  } catch (err) {
    const e = toSkillplaneError(err);
    // Only the skill's own failures (after any retries) go back to the model; cancellation,
    // budgets, an interrupted step, a lost lease or a store outage stop the run instead.
    if (!exec.signal.aborted && (TOOL_LEVEL_ERRORS.has(e.code) || RETRIED_SKILL_ERRORS.has(e.code))) {
      return { error: e.toJSON() };
    }
    throw e;
  }
}
