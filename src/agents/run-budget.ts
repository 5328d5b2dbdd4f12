// A run's limits checked before a step is dispatched: steps, tokens and cost, counting the
// estimates of steps still in flight so concurrent branches cannot overspend together.
import { BudgetExhaustedError } from '../errors/index.js';
import type { Run } from '../store/index.js';
import type { ExecutionState, StepSpec } from './execution-types.js';

/** Throws `budget_exhausted` if dispatching a step of this shape would pass a limit of `run`. */
export function checkRunBudget(
  run: Run,
  state: Pick<ExecutionState, 'usage' | 'reservedTokens' | 'reservedCost'>,
  spec: Pick<StepSpec, 'kind' | 'name' | 'estimatedTokens' | 'estimatedCostUsd'>,
): void {
  const { limits } = run;
  const usage = { ...state.usage };
  if (usage.steps + 1 > limits.max_steps) {
    throw new BudgetExhaustedError(`run reached max_steps (${limits.max_steps})`, {
      limit: 'max_steps',
      usage,
    });
  }
  const tokens = usage.input_tokens + usage.output_tokens + state.reservedTokens;
  if (limits.token_budget !== null && tokens + (spec.estimatedTokens ?? 0) > limits.token_budget) {
    throw new BudgetExhaustedError(
      `run would exceed its token budget (${tokens} used + ~${spec.estimatedTokens ?? 0} for ${spec.name} > ${limits.token_budget})`,
      { limit: 'token_budget', usage },
    );
  }
  if (
    limits.cost_budget_usd !== null &&
    usage.cost_usd + state.reservedCost + (spec.estimatedCostUsd ?? 0) > limits.cost_budget_usd
  ) {
    throw new BudgetExhaustedError(
      `run would exceed its cost budget ($${usage.cost_usd.toFixed(6)} spent, limit $${limits.cost_budget_usd})`,
      { limit: 'cost_budget_usd', usage },
    );
  }
}
