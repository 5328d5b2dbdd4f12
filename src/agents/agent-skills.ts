// Which skills an agent may call (its grant over the registry's latest versions, narrowed by a
// request), and the tool definition a model sees for each.
import type { AgentDefinition } from '../config/index.js';
import type { ToolDefinition } from '../models/index.js';
import type { Skill } from '../skills/index.js';
import { skillPatternMatches } from './definitions.js';
import type { RunEnvironment } from './environment.js';

/** The skills matching `patterns` (ids, ranges or `ns/*`) among the registry's latest versions. */
function skillsMatching(env: RunEnvironment, patterns: string[]): Map<string, Skill> {
  const out = new Map<string, Skill>();
  for (const p of patterns) {
    if (!p.includes('*')) {
      const s = env.skills.tryResolve(p);
      if (s !== undefined) out.set(s.id, s);
      continue;
    }
    for (const s of env.skills.listLatest()) if (skillPatternMatches(p, s.id)) out.set(s.id, s);
  }
  return out;
}

/**
 * The skills an agent may call: its patterns over the registry's latest versions. `only`
 * (Opta-LMX's `role_tools`) narrows that set and never widens it: a request cannot give an
 * agent a skill its definition does not grant.
 */
export function agentSkills(env: RunEnvironment, agent: AgentDefinition, only?: string[]): Skill[] {
  if (agent.skills.length === 0) return [];
  const granted = skillsMatching(env, agent.skills);
  const allowed = only === undefined ? granted : skillsMatching(env, only);
  return [...granted.values()].filter(
    (s) => allowed.has(s.id) && (s.manifest.kind !== 'prompt' || s.source !== 'agent-skill'),
  );
}

/**
 * The skills of `only` that resolve to a skill `agent` is not granted (for a clear refusal at
 * submission instead of a silent narrowing).
 */
export function skillsOutsideGrant(env: RunEnvironment, agent: AgentDefinition, only: string[]): string[] {
  const granted = agent.skills.length === 0 ? new Map<string, Skill>() : skillsMatching(env, agent.skills);
  return [...skillsMatching(env, only).keys()].filter((id) => !granted.has(id)).sort();
}

/** The tool a model sees for `skill`. */
export function toolFor(skill: Skill): ToolDefinition {
  return {
    type: 'function',
    function: {
      name: skill.toolName,
      description: skill.manifest.description,
      parameters: skill.inputSchema,
    },
  };
}
