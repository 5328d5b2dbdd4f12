import type { RunEnvironment } from '../environment.js';
import type { RunExecution } from '../execution.js';
import type { RunRequest, StrategyName } from '../request.js';
import type { StrategyResult } from './common.js';
import { runSingle } from './single.js';
import { runRouter } from './router.js';
import { runHandoff } from './handoff.js';
import { runParallelMap } from './parallel-map.js';

export type { StrategyResult } from './common.js';

const STRATEGY_FNS: Record<
  StrategyName,
  (exec: RunExecution, env: RunEnvironment, req: RunRequest) => Promise<StrategyResult>
> = {
  single: runSingle,
  router: runRouter,
  handoff: runHandoff,
  parallel_map: runParallelMap,
};

/** Runs a request with its strategy. */
export function runStrategy(
  exec: RunExecution,
  env: RunEnvironment,
  req: RunRequest,
): Promise<StrategyResult> {
  return STRATEGY_FNS[req.strategy](exec, env, req);
}
