import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { extname, join } from 'node:path';
import { parseDocument } from 'yaml';
import { agentDefinitionSchema, zodIssues, type AgentDefinition } from '../config/index.js';
import { NotFoundError, ValidationError, type Issue } from '../errors/index.js';

/** The agents known to the runtime, from config and `agents/*.yaml`. */
export class AgentCatalog {
  private readonly agents = new Map<string, AgentDefinition>();

  constructor(definitions: AgentDefinition[] = []) {
    for (const d of definitions) this.agents.set(d.name, d);
  }

  /** Adds or replaces an agent. */
  set(definition: AgentDefinition): void {
    this.agents.set(definition.name, definition);
  }

  get(name: string): AgentDefinition | undefined {
    return this.agents.get(name);
  }

  /** The agent or a `not_found` error naming it. */
  resolve(name: string): AgentDefinition {
    const a = this.agents.get(name);
    if (a === undefined) throw new NotFoundError('agent', name);
    return a;
  }

  list(): AgentDefinition[] {
    return [...this.agents.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Checks every handoff names a known agent; returns the problems. */
  validateReferences(): Issue[] {
    const issues: Issue[] = [];
    for (const a of this.agents.values()) {
      a.handoffs.forEach((h, i) => {
        if (!this.agents.has(h))
          issues.push({ path: `${a.name}.handoffs.${i}`, message: `unknown agent ${h}` });
      });
    }
    return issues;
  }
}

/** Agent files larger than this are refused unread (like skill manifests). */
const MAX_AGENT_FILE_BYTES = 1024 * 1024;

/**
 * Reads one agent per `*.yaml`/`*.yml` file in each folder. Missing folders are skipped; each bad
 * file yields issues with the file, field path and reason, and does not stop the others.
 */
export function loadAgentFiles(dirs: string[]): { agents: AgentDefinition[]; errors: Issue[] } {
  const agents: AgentDefinition[] = [];
  const errors: Issue[] = [];
  for (const dir of dirs) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir).sort()) {
      if (!['.yaml', '.yml'].includes(extname(name))) continue;
      const file = join(dir, name);
      // A hostile file (a folder or link loop named *.yaml, many megabytes, a YAML alias bomb
      // whose expansion throws) becomes an issue of that file, never a raw throw.
      let raw: unknown;
      try {
        const size = statSync(file).size;
        if (size > MAX_AGENT_FILE_BYTES) {
          errors.push({
            file,
            path: '',
            message: `is ${size} bytes, more than the limit of ${MAX_AGENT_FILE_BYTES}`,
          });
          continue;
        }
        const doc = parseDocument(readFileSync(file, 'utf8'));
        if (doc.errors.length > 0) {
          errors.push(...doc.errors.map((e) => ({ file, path: '', message: e.message })));
          continue;
        }
        raw = doc.toJS();
      } catch (err) {
        errors.push({ file, path: '', message: `cannot read agent file: ${(err as Error).message}` });
        continue;
      }
      const parsed = agentDefinitionSchema.safeParse(raw);
      if (!parsed.success) {
        errors.push(...zodIssues(parsed.error, file));
        continue;
      }
      agents.push(parsed.data);
    }
  }
  return { agents, errors };
}

/** Builds the catalog from config definitions plus agent files; throws when anything is invalid. */
export function buildAgentCatalog(definitions: AgentDefinition[], dirs: string[]): AgentCatalog {
  const { agents, errors } = loadAgentFiles(dirs);
  const catalog = new AgentCatalog([...definitions, ...agents]);
  errors.push(...catalog.validateReferences());
  if (errors.length > 0) throw new ValidationError('invalid agent definitions', errors, 'agents_invalid');
  return catalog;
}

export { skillPatternMatches } from '../skills/pattern.js';
