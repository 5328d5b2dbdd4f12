import type { Config } from '../config/index.js';
import type { ChatRequest, ChatResult, Priority } from '../models/index.js';
import type { Skill, SkillCallContext, SkillCallResult } from '../skills/index.js';
import type { Approval, Run, RunStore } from '../store/index.js';
import type { AgentCatalog } from './definitions.js';
import type { RunExecution } from './execution.js';

/** One inference backend as the agent loop sees it. */
export interface ChatBackend {
  /** The model name sent to the server. */
  readonly model: string;
  chat(
    req: ChatRequest,
    opts: { signal?: AbortSignal; priority?: Priority; traceparent?: string; tracestate?: string },
  ): Promise<ChatResult>;
  /** Expected cost in USD of a call with these token counts. */
  estimateCost(inputTokens: number, outputTokens: number): number;
}

/** The skills as the agent loop sees them. */
export interface SkillPort {
  tryResolve(ref: string): Skill | undefined;
  listLatest(): Skill[];
  /** Throws `approval_required` / `permission_denied` without running. */
  check(skill: Skill): void;
  /** Throws `input_invalid` when an input breaks the size and depth limits (before it is journaled). */
  checkInput(skill: Skill, input: unknown): void;
  /** Every risk tag that applies to the skill (the union over all loaded versions of its id). */
  riskTags(skill: Skill): string[];
  execute(skill: Skill, input: unknown, ctx: SkillCallContext): Promise<SkillCallResult>;
}

/** Everything a strategy needs, wired by the runtime. */
export interface RunEnvironment {
  config: Config;
  store: RunStore;
  models: { get(name: string): ChatBackend };
  skills: SkillPort;
  agents: AgentCatalog;
  /** Stores an approval request for a risk-tagged skill call. */
  requestApproval(
    exec: RunExecution,
    req: { stepKey: string; skill: Skill; args: unknown; riskTags: string[] },
  ): Promise<Approval>;
  /** Appends to the audit trail; never throws. */
  audit(run: Run, action: string, target: string, data?: Record<string, unknown>): Promise<void>;
}
