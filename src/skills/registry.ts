import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import semver from 'semver';
import { ConflictError, NotFoundError } from '../errors/index.js';
import { parseSkillRef } from './manifest.js';
import type { SkillKind } from './manifest.js';
import type { Skill } from './types.js';

/** Payload of `'skills.changed'`: the `id@version` refs added, changed and removed by a replace. */
export interface SkillsChangedEvent {
  added: string[];
  changed: string[];
  removed: string[];
}

/** Payload of `'risk_tags.kept'`: tags a reload dropped from every version of an id but still apply. */
export interface RiskTagsKeptEvent {
  id: string;
  tags: string[];
}

/** Events of a {@link SkillRegistry}. */
export interface SkillRegistryEvents {
  'skills.changed': [SkillsChangedEvent];
  'risk_tags.kept': [RiskTagsKeptEvent];
}

/** Options of {@link SkillRegistry.replaceAll}. */
export interface ReplaceOptions {
  /**
   * An operator accepts the risk tags of the new set as they are (a restart, or an admin reload
   * asking for it): tags dropped by a manifest stop applying. Otherwise a tag once seen on any
   * version of an id keeps applying to every version of it.
   */
  resetRiskTags?: boolean;
}

/** Filters of {@link SkillRegistry.list}. */
export interface SkillListFilter {
  /** Only ids in this namespace (`acme` for `acme/search`). */
  namespace?: string;
  kind?: SkillKind;
  /** Matches `manifest.tags` or `manifest.risk_tags`. */
  tag?: string;
  /** Only the latest version of each id (as {@link SkillRegistry.get} picks it). */
  latestOnly?: boolean;
}

/** What tells two loads of one `id@version` apart: the loader's fingerprint, else mtime and content. */
function fingerprintOf(skill: Skill): string {
  const given = (skill as Skill & { fingerprint?: unknown }).fingerprint;
  if (typeof given === 'string') return given;
  return createHash('sha1')
    .update(
      JSON.stringify([
        skill.file,
        skill.dir,
        skill.source,
        skill.mtimeMs,
        skill.manifest,
        skill.inputSchema,
        skill.outputSchema,
      ]),
    )
    .digest('hex');
}

/** Newest first; a release beats every prerelease. */
function compareVersionsDesc(a: Skill, b: Skill): number {
  return semver.rcompare(a.version, b.version);
}

/**
 * The skills known to the process, several versions of one id side by side. Look-ups accept
 * `acme/search` (latest), `acme/search@1.2.0` (exact), `acme/search@^1.2` (highest match) and the
 * tool name (`acme__search`). {@link replaceAll} swaps the whole set at once and emits
 * `'skills.changed'` when something differs, which the MCP server turns into `tools/list_changed`.
 */
export class SkillRegistry extends EventEmitter<SkillRegistryEvents> {
  /** Versions of each id, newest first. */
  #byId = new Map<string, Skill[]>();
  #byRef = new Map<string, { skill: Skill; fingerprint: string }>();
  #idByToolName = new Map<string, string>();
  /** Ids by their bare name (`search` → `acme/search`, `other/search`), sorted. */
  #idsByName = new Map<string, string[]>();
  /** Risk tags per id: the union over every version loaded since the last reset. */
  #riskTags = new Map<string, Set<string>>();

  constructor(skills: Iterable<Skill> = []) {
    super();
    const list = [...skills];
    this.#index(list);
    this.#mergeRiskTags(list, true);
  }

  /**
   * The risk tags that apply to every version of `id`: the union of the tags of all its loaded
   * versions and of the versions seen before (a reload that drops a tag does not drop it, see
   * {@link ReplaceOptions.resetRiskTags}). So an older, untagged version never runs without the
   * approval the newer one needs.
   */
  riskTags(id: string): string[] {
    return [...(this.#riskTags.get(id) ?? [])].sort();
  }

  #mergeRiskTags(skills: Skill[], reset: boolean): void {
    const next = new Map<string, Set<string>>();
    for (const skill of skills) {
      const set = next.get(skill.id) ?? new Set<string>();
      for (const t of skill.manifest.risk_tags) set.add(t);
      next.set(skill.id, set);
    }
    if (!reset) {
      for (const [id, before] of this.#riskTags) {
        const set = next.get(id) ?? new Set<string>();
        const kept = [...before].filter((t) => !set.has(t));
        for (const t of before) set.add(t);
        next.set(id, set);
        if (kept.length > 0 && this.#byId.has(id)) this.emit('risk_tags.kept', { id, tags: kept.sort() });
      }
    }
    for (const [id, set] of next) if (set.size === 0) next.delete(id);
    this.#riskTags = next;
  }

  /** Number of skill versions held. */
  get size(): number {
    return this.#byRef.size;
  }

  /**
   * Replaces every skill with `skills` and returns what changed (`id@version` refs). Emits
   * `'skills.changed'` only when something was added, changed (other mtime or content) or removed.
   */
  replaceAll(skills: Iterable<Skill>, opts: ReplaceOptions = {}): SkillsChangedEvent {
    const next = [...skills];
    const added: string[] = [];
    const changed: string[] = [];
    const nextRefs = new Set<string>();
    for (const skill of next) {
      nextRefs.add(skill.ref);
      const before = this.#byRef.get(skill.ref);
      if (before === undefined) added.push(skill.ref);
      else if (before.fingerprint !== fingerprintOf(skill)) changed.push(skill.ref);
    }
    const removed = [...this.#byRef.keys()].filter((ref) => !nextRefs.has(ref));
    this.#index(next);
    this.#mergeRiskTags(next, opts.resetRiskTags === true);
    const diff = { added: added.sort(), changed: changed.sort(), removed: removed.sort() };
    if (added.length + changed.length + removed.length > 0) this.emit('skills.changed', diff);
    return diff;
  }

  #index(skills: Skill[]): void {
    const byId = new Map<string, Skill[]>();
    const byRef = new Map<string, { skill: Skill; fingerprint: string }>();
    const idByToolName = new Map<string, string>();
    const idsByName = new Map<string, string[]>();
    for (const skill of skills) {
      // The loader already refuses duplicates; if a caller passes some, the first one wins.
      if (byRef.has(skill.ref)) continue;
      byRef.set(skill.ref, { skill, fingerprint: fingerprintOf(skill) });
      const versions = byId.get(skill.id);
      if (versions === undefined) {
        byId.set(skill.id, [skill]);
        const bare = skill.id.slice(skill.id.indexOf('/') + 1);
        const ids = idsByName.get(bare);
        if (ids === undefined) idsByName.set(bare, [skill.id]);
        else ids.push(skill.id);
      } else versions.push(skill);
      idByToolName.set(skill.toolName, skill.id);
    }
    for (const versions of byId.values()) versions.sort(compareVersionsDesc);
    for (const ids of idsByName.values()) ids.sort();
    this.#idsByName = idsByName;
    this.#byId = byId;
    this.#byRef = byRef;
    this.#idByToolName = idByToolName;
  }

  /**
   * Finds a skill by reference or tool name: `acme/search` (highest version, prereleases only when
   * there is nothing else), `acme/search@1.2.0` (exact), `acme/search@^1.2` (highest version in the
   * range), `acme__search` (tool name, latest; `@range` works there too), or a bare name (`search`,
   * `search@1.2.0`: the `default` namespace's, else the one namespace that has it). Undefined when
   * none fits, or when a bare name is in several namespaces and none is `default`.
   */
  get(refOrToolName: string): Skill | undefined {
    const { id: name, range } = parseSkillRef(refOrToolName.trim());
    const id = this.#idOf(name);
    if (id === undefined) return undefined;
    const versions = this.#byId.get(id);
    if (versions === undefined) return undefined;
    if (range === undefined || range === 'latest') return latestOf(versions);
    const exact = semver.valid(range);
    if (exact !== null) return this.#byRef.get(`${id}@${exact}`)?.skill;
    if (semver.validRange(range) === null) return undefined;
    const best = semver.maxSatisfying(
      versions.map((s) => s.version),
      range,
    );
    return best === null ? undefined : versions.find((s) => s.version === best);
  }

  /** The id a name stands for: an id, a tool name, or a bare name (see {@link get}). */
  #idOf(name: string): string | undefined {
    if (name.includes('/')) return name;
    const byTool = this.#idByToolName.get(name);
    if (byTool !== undefined) return byTool;
    const ids = this.#idsByName.get(name);
    if (ids === undefined) return undefined;
    if (ids.length === 1) return ids[0];
    return ids.includes(`default/${name}`) ? `default/${name}` : undefined;
  }

  /**
   * Like {@link get}, but throws `NotFoundError` (`code: not_found`) when no skill fits, and
   * `ambiguous_skill` (409, with the candidate ids) for a bare name several namespaces share.
   */
  resolve(refOrToolName: string): Skill {
    const skill = this.get(refOrToolName);
    if (skill !== undefined) return skill;
    const bare = parseSkillRef(refOrToolName.trim()).id;
    const ids = bare.includes('/') ? undefined : this.#idsByName.get(bare);
    if (ids !== undefined && ids.length > 1)
      throw new ConflictError(
        `skill name ${bare} is in several namespaces (${ids.join(', ')}): give namespace/name`,
        'ambiguous_skill',
        { candidates: ids },
      );
    throw new NotFoundError('skill', refOrToolName);
  }

  /** True when {@link get} finds a skill. */
  has(refOrToolName: string): boolean {
    return this.get(refOrToolName) !== undefined;
  }

  /** Every version of `id`, newest first (empty when unknown). */
  versions(id: string): Skill[] {
    return [...(this.#byId.get(id) ?? [])];
  }

  /** Ids of all skills, sorted. */
  ids(): string[] {
    return [...this.#byId.keys()].sort();
  }

  /** Skills matching `filter`, sorted by id, then version newest first. */
  list(filter: SkillListFilter = {}): Skill[] {
    const out: Skill[] = [];
    for (const id of this.ids()) {
      if (filter.namespace !== undefined && id.slice(0, id.indexOf('/')) !== filter.namespace) continue;
      const versions = this.#byId.get(id) ?? [];
      const candidates = filter.latestOnly ? [latestOf(versions)].filter((s) => s !== undefined) : versions;
      for (const skill of candidates) {
        if (filter.kind !== undefined && skill.manifest.kind !== filter.kind) continue;
        const tag = filter.tag;
        if (
          tag !== undefined &&
          !skill.manifest.tags.includes(tag) &&
          !skill.manifest.risk_tags.includes(tag)
        )
          continue;
        out.push(skill);
      }
    }
    return out;
  }
}

/** Highest release, or highest prerelease when the id has only prereleases. */
function latestOf(versionsDesc: Skill[]): Skill | undefined {
  return versionsDesc.find((s) => semver.prerelease(s.version) === null) ?? versionsDesc[0];
}
