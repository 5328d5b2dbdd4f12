import type { Config } from '../config/index.js';
import type { ChatRequest, ChatResult } from '../models/index.js';
import type { Skill, SkillCallResult, SkillInvocation } from '../skills/index.js';
import type { Priority } from '../vocabulary/index.js';
import type { ApprovalDesk } from './approvals.js';
import type { AgentCatalog } from './definitions.js';

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
  /** The one skill call (policy, limits, deadline, dispatcher, audit). */
  invoke(inv: SkillInvocation): Promise<SkillCallResult>;
}

/** Everything a strategy needs, wired by the runtime. */
export interface RunEnvironment {
  config: Config;
  models: { get(name: string): ChatBackend };
  skills: SkillPort;
  agents: AgentCatalog;
  /** Requests and looks up approvals of risk-tagged skill calls. */
  approvals: Pick<ApprovalDesk, 'request' | 'forStep'>;
}
