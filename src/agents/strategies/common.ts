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
