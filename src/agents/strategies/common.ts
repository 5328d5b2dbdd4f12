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
 * Opta-LMX per-role settings for one role: its system prompt, model backend and extra tools,
 * as `runAgent` parameters (empty when the request sets none for that role).
 */
export function roleOverrides(
  req: RunRequest,
  role: string,
): { systemPrompt?: string; model?: string; extraSkills?: string[] } {
  const o = req.options;
  return {
    ...(o.role_system_prompts?.[role] === undefined ? {} : { systemPrompt: o.role_system_prompts[role] }),
    ...(o.role_models?.[role] === undefined ? {} : { model: o.role_models[role] }),
    ...(o.role_tools?.[role] === undefined ? {} : { extraSkills: o.role_tools[role] }),
  };
}
