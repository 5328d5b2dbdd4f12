import type { Config } from '../config/index.js';
import { skillPatternMatches } from '../skills/pattern.js';
import type { Skill } from '../skills/types.js';

/** The worker plane settings routing reads. */
export type RoutingConfig = Pick<Config['workers'], 'enabled' | 'queue' | 'routes'>;

/**
 * The queue a skill's calls go to, or `undefined` when they run in this process. With the worker
 * plane enabled, a skill runs on workers when its manifest says `execution: worker` (default
 * queue) or a route matches it (every member the rule names must match: skill id pattern, one of
 * its tags, its kind); the first matching route names the queue. Disabled, everything is local
 * (skills that demand a worker are refused at load).
 */
export function workerQueueFor(skill: Skill, cfg: RoutingConfig): string | undefined {
  // Prompt skills need the model client, which lives on the API node.
  if (!cfg.enabled || skill.manifest.kind === 'prompt') return undefined;
  for (const r of cfg.routes) {
    if (r.skill !== undefined && !skillPatternMatches(r.skill, skill.id)) continue;
    if (r.tag !== undefined && !skill.manifest.tags.includes(r.tag)) continue;
    if (r.kind !== undefined && r.kind !== skill.manifest.kind) continue;
    return r.queue ?? cfg.queue;
  }
  return skill.manifest.execution === 'worker' ? cfg.queue : undefined;
}

/** Every queue the configuration can route to (the default first). */
export function configuredQueues(cfg: RoutingConfig): string[] {
  const out = new Set<string>([cfg.queue]);
  for (const r of cfg.routes) if (r.queue !== undefined) out.add(r.queue);
  return [...out];
}
