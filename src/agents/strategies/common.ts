import type { ChatMessage } from '../../models/index.js';
import type { RunRequest } from '../request.js';

/** The conversation a request starts with. */
export function initialMessages(input: RunRequest['input']): ChatMessage[] {
  if (typeof input === 'string') return [{ role: 'user', content: input }];
  return input.map((m) => ({ role: m.role, content: m.content }));
}

/** What every strategy returns: the final text plus strategy-specific details. */
export interface StrategyResult {
  output: string;
  [detail: string]: unknown;
}

/** Text for an item handed to a parallel_map branch. */
export function itemText(item: unknown): string {
  return typeof item === 'string' ? item : JSON.stringify(item);
}

/**
 * The run's per-agent settings (`options.overrides`) for one agent, as `runAgent` parameters:
 * its system prompt, model backend and narrowed skills (empty when the request sets none).
 */
export function agentOverrides(
  req: RunRequest,
  agent: string,
): { systemPrompt?: string; model?: string; extraSkills?: string[] } {
  const o = req.options.overrides?.[agent];
  if (o === undefined) return {};
  return {
    ...(o.instructions === undefined ? {} : { systemPrompt: o.instructions }),
    ...(o.model === undefined ? {} : { model: o.model }),
    ...(o.skills === undefined ? {} : { extraSkills: o.skills }),
  };
}
