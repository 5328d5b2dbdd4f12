import type { RunEnvironment } from '../environment.js';
import type { RunExecution } from '../execution.js';
import type { RunRequest, StrategyName } from '../request.js';
import type { StrategyResult } from './common.js';
import { runSingle } from './single.js';
import { runRouter } from './router.js';
import { runHandoff } from './handoff.js';
import { runParallelMap } from './parallel-map.js';
import { runSequence } from './sequence.js';

export type { StrategyResult } from './common.js';

const STRATEGY_FNS: Record<
  StrategyName,
  (exec: RunExecution, env: RunEnvironment, req: RunRequest) => Promise<StrategyResult>
> = {
  single: runSingle,
  router: runRouter,
  handoff: runHandoff,
  parallel_map: runParallelMap,
  sequence: runSequence,
};

/**
 * A request stored by a build before `sequence` and `options.overrides` existed (Opta-LMX role
 * chains were options of router and handoff): read as today's request, so a run in flight across
 * an upgrade resumes with the same journal keys.
 */
function upgradeStored(req: RunRequest): RunRequest {
  const legacy = req.options as RunRequest['options'] & {
    opta_roles?: boolean;
    role_system_prompts?: Record<string, string>;
    role_models?: Record<string, string>;
    role_tools?: Record<string, string[]>;
  };
  if (
    legacy.opta_roles === undefined &&
    legacy.role_models === undefined &&
    legacy.role_tools === undefined &&
    legacy.role_system_prompts === undefined
  )
    return req;
  const overrides: NonNullable<RunRequest['options']['overrides']> = { ...(legacy.overrides ?? {}) };
  const names = new Set([
    ...Object.keys(legacy.role_system_prompts ?? {}),
    ...Object.keys(legacy.role_models ?? {}),
    ...Object.keys(legacy.role_tools ?? {}),
  ]);
  for (const name of names) {
    overrides[name] = {
      ...(legacy.role_system_prompts?.[name] === undefined
        ? {}
        : { instructions: legacy.role_system_prompts[name] }),
      ...(legacy.role_models?.[name] === undefined ? {} : { model: legacy.role_models[name] }),
      ...(legacy.role_tools?.[name] === undefined ? {} : { skills: legacy.role_tools[name] }),
    };
  }
  const roles = legacy.opta_roles === true && req.agents !== undefined;
  const strategy =
    roles && (req.strategy === 'router' || req.strategy === 'handoff') ? 'sequence' : req.strategy;
  return {
    ...req,
    strategy,
    options: {
      ...req.options,
      pass_output: strategy === 'sequence' ? req.strategy === 'handoff' : (req.options.pass_output ?? true),
      overrides,
    },
  };
}

/** Runs a request with its strategy. */
export function runStrategy(
  exec: RunExecution,
  env: RunEnvironment,
  stored: RunRequest,
): Promise<StrategyResult> {
  const req = upgradeStored(stored);
  return STRATEGY_FNS[req.strategy](exec, env, req);
}
