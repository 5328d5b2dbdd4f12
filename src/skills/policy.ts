import { existsSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { ApprovalRequiredError, PermissionDeniedError } from '../errors/index.js';
import type { ApprovalGrant, Skill } from './types.js';

/** The server-side half of the policy (`skills.*` in the config). Deny by default. */
export interface PolicyConfig {
  /** `skills.allow_shell`: command (argv) skills may run at all. */
  allowShell: boolean;
  /** `skills.allow_network`: skills may reach the hosts their manifest lists. */
  allowNetwork: boolean;
  /** `skills.allowed_roots`: absolute directories a manifest may name as absolute roots. */
  allowedRoots: string[];
  /** `skills.require_approval_tags`: risk tags that need an approval before a skill runs. */
  requireApprovalTags: string[];
}

/** What a skill may actually do: the intersection of its manifest and the server config. */
export interface EffectivePermissions {
  /** Absolute realpaths the skill may read: its folder, its roots and `permissions.fs.read`. */
  fsRead: string[];
  /** Absolute realpaths the skill may write (`permissions.fs.write`). */
  fsWrite: string[];
  /** Host patterns (`host`, `*.example.com`, optional `:port`); empty when the config denies network. */
  network: string[];
  /** True only when the manifest asks for shell and the config allows it. */
  shell: boolean;
  /** Absolute realpaths of the skill's roots (its working directories). */
  roots: string[];
}

/** Options of {@link SkillPolicy.resolveInsideRoots}. */
export interface ResolveOptions {
  /** Fail with `permission_denied` when the path does not exist. */
  mustExist?: boolean;
  /** Base for a relative path; defaults to the first root. */
  base?: string;
  /** Field named in the error message (`permissions.fs.read[0]`). */
  field?: string;
}

const HOST_PATTERN = /^(\*\.)?([a-z0-9-]+(\.[a-z0-9-]+)*|\[[0-9a-f:.]+\])(:\d{1,5})?$/;

/** Maps the `skills` section of the config to a {@link PolicyConfig}. */
export function policyConfigFrom(skills: {
  allow_shell: boolean;
  allow_network: boolean;
  allowed_roots: string[];
  require_approval_tags: string[];
}): PolicyConfig {
  return {
    allowShell: skills.allow_shell,
    allowNetwork: skills.allow_network,
    allowedRoots: skills.allowed_roots,
    requireApprovalTags: skills.require_approval_tags,
  };
}

/**
 * Resolves `path` physically (symlinks and `..` as the kernel sees them) to an absolute realpath.
 * A path that does not exist resolves through its nearest existing parent; `undefined` when
 * `mustExist` is set and it does not exist.
 */
export function realpathOf(path: string, mustExist = false): string | undefined {
  try {
    // The native realpath walks `link/..` through the link, unlike a lexical normalisation.
    return realpathSync.native(path);
  } catch {
    if (mustExist) return undefined;
  }
  const rest: string[] = [];
  let current = path;
  for (;;) {
    const parent = dirname(current);
    rest.unshift(basename(current));
    if (parent === current) return join(current, ...rest);
    current = parent;
    if (existsSync(current)) {
      try {
        return join(realpathSync.native(current), ...rest);
      } catch {
        return undefined;
      }
    }
  }
}

/** True when `child` is `parent` or lies below it (both absolute and normalised). */
export function isInside(child: string, parent: string): boolean {
  if (child === parent) return true;
  const rel = relative(parent, child);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/** Joins without lexical normalisation so `realpathOf` sees `..` after symlinks. */
function joinRaw(base: string, path: string): string {
  if (isAbsolute(path)) return path;
  return base.endsWith(sep) ? `${base}${path}` : `${base}${sep}${path}`;
}

/** Drops duplicates and paths that lie inside another path of the list. */
function compact(paths: string[]): string[] {
  const unique = [...new Set(paths)].sort((a, b) => a.length - b.length);
  const kept: string[] = [];
  for (const p of unique) if (!kept.some((k) => isInside(p, k))) kept.push(p);
  return kept;
}

/**
 * Deny-by-default skill policy: a capability is granted only when both the skill's manifest and
 * the server config grant it. Paths are compared by realpath, so `..` and symlinks cannot escape.
 */
export class SkillPolicy {
  private readonly config: PolicyConfig;
  private readonly allowedRoots: string[];
  /**
   * Resolved permissions per loaded skill object. A reload replaces the objects, so an edited
   * manifest is resolved afresh; only successful resolutions are kept.
   */
  private readonly resolved = new WeakMap<Skill, EffectivePermissions>();
  private readonly riskTagsOf: (skill: Skill) => string[];

  /**
   * `riskTags` gives the tags that apply to a skill; by default its own manifest's. The skill
   * service passes the registry's union over every version of the id.
   */
  constructor(config: PolicyConfig, opts: { riskTags?: (skill: Skill) => string[] } = {}) {
    this.config = config;
    this.riskTagsOf = opts.riskTags ?? ((skill) => skill.manifest.risk_tags);
    this.allowedRoots = config.allowedRoots
      .filter((r) => isAbsolute(r))
      .map((r) => realpathOf(r))
      .filter((r): r is string => r !== undefined);
  }

  /**
   * Computes what a skill may do. Throws `permission_denied` naming the manifest field when a
   * root or fs path lies outside what is allowed.
   */
  effectivePermissions(skill: Skill): EffectivePermissions {
    const cached = this.resolved.get(skill);
    if (cached !== undefined) return cached;
    const computed = this.computePermissions(skill);
    this.resolved.set(skill, computed);
    return computed;
  }

  private computePermissions(skill: Skill): EffectivePermissions {
    const dir = realpathOf(skill.dir, true);
    if (dir === undefined) throw new PermissionDeniedError(`skill folder ${skill.dir} does not exist`);
    const { manifest } = skill;
    const roots = manifest.roots.map((root, i) => {
      const field = `roots[${i}]`;
      const real = realpathOf(joinRaw(dir, root));
      if (real === undefined) throw this.denied(skill, field, root, 'cannot be resolved');
      if (isAbsolute(root)) {
        if (!this.allowedRoots.some((a) => isInside(real, a))) {
          throw this.denied(skill, field, root, 'is absolute and not inside skills.allowed_roots');
        }
      } else if (!isInside(real, dir) && !this.allowedRoots.some((a) => isInside(real, a))) {
        throw this.denied(skill, field, root, 'escapes the skill folder');
      }
      return real;
    });
    const bounds = [dir, ...roots];
    const fsPaths = (list: string[], name: string) =>
      list.map((p, i) => {
        const field = `permissions.fs.${name}[${i}]`;
        const real = realpathOf(joinRaw(dir, p));
        if (real === undefined) throw this.denied(skill, field, p, 'cannot be resolved');
        if (isAbsolute(p) && !this.allowedRoots.some((a) => isInside(real, a))) {
          throw this.denied(skill, field, p, 'is absolute and not inside skills.allowed_roots');
        }
        if (!bounds.some((b) => isInside(real, b))) {
          throw this.denied(skill, field, p, 'is outside the skill roots');
        }
        return real;
      });
    const fsRead = compact([dir, ...roots, ...fsPaths(manifest.permissions.fs.read, 'read')]);
    const writePaths = fsPaths(manifest.permissions.fs.write, 'write');
    writePaths.forEach((real, i) => {
      // A skill never writes its own manifest or code: it could drop its risk tags or widen its grant.
      if (isInside(real, dir) || isInside(dir, real)) {
        throw this.denied(
          skill,
          `permissions.fs.write[${i}]`,
          manifest.permissions.fs.write[i]!,
          'covers the skill folder itself; write paths must live outside it',
        );
      }
    });
    const fsWrite = compact(writePaths);
    const network = this.config.allowNetwork
      ? manifest.permissions.network.map((pattern, i) => {
          const host = pattern.trim().toLowerCase();
          if (!HOST_PATTERN.test(host)) {
            throw this.denied(skill, `permissions.network[${i}]`, pattern, 'is not a host pattern');
          }
          return host;
        })
      : [];
    return {
      fsRead,
      fsWrite,
      network,
      shell: manifest.permissions.shell && this.config.allowShell,
      roots,
    };
  }

  /**
   * Checks that a skill may run now: its paths are valid, a command skill has shell granted by
   * both the manifest and the config (`permission_denied`), and a risk-tagged skill carries an
   * approval (`approval_required`).
   */
  check(skill: Skill, opts: { approval?: ApprovalGrant } = {}): void {
    const permissions = this.effectivePermissions(skill);
    if (skill.manifest.command !== undefined && !permissions.shell) {
      const why = skill.manifest.permissions.shell
        ? 'skills.allow_shell is false in the server config'
        : 'its manifest does not grant permissions.shell';
      throw new PermissionDeniedError(`skill ${skill.id} runs a command but ${why}`, {
        skill_id: skill.id,
        field: 'permissions.shell',
      });
    }
    const tags = this.approvalTags(skill);
    if (tags.length > 0 && opts.approval === undefined) throw new ApprovalRequiredError(skill.id, tags);
  }

  /** Every risk tag that applies to `skill` (the union over all versions of its id). */
  riskTags(skill: Skill): string[] {
    return this.riskTagsOf(skill);
  }

  /**
   * Whether a repeated call of `skill` is harmless: it is idempotent and has no risk tags. Calls
   * that are not are never retried, re-run after a crash or handed to another worker.
   */
  repeatable(skill: Skill): boolean {
    return skill.manifest.idempotent && this.riskTagsOf(skill).length === 0;
  }

  /** The risk tags of `skill` that need an approval (`skills.require_approval_tags`). */
  approvalTags(skill: Skill): string[] {
    return this.riskTagsOf(skill).filter((t) => this.config.requireApprovalTags.includes(t));
  }

  /**
   * Resolves `path` (absolute, or relative to `opts.base` / the first root) by realpath and
   * returns it when it lies inside one of `roots`; throws `permission_denied` otherwise.
   */
  resolveInsideRoots(path: string, roots: string[], opts: ResolveOptions = {}): string {
    const field = opts.field ?? 'path';
    const base = opts.base ?? roots[0];
    if (!isAbsolute(path) && base === undefined) {
      throw new PermissionDeniedError(`${field} ${path} is relative and there is no root`, { field, path });
    }
    const real = realpathOf(isAbsolute(path) ? path : joinRaw(base!, path), opts.mustExist === true);
    if (real === undefined) {
      throw new PermissionDeniedError(`${field} ${path} does not exist`, { field, path });
    }
    const realRoots = roots.map((r) => realpathOf(r)).filter((r): r is string => r !== undefined);
    if (!realRoots.some((r) => isInside(real, r))) {
      throw new PermissionDeniedError(`${field} ${path} is outside the allowed roots`, { field, path });
    }
    return real;
  }

  private denied(skill: Skill, field: string, value: string, why: string): PermissionDeniedError {
    return new PermissionDeniedError(`skill ${skill.id}: ${field} (${value}) ${why}`, {
      skill_id: skill.id,
      field,
      value,
    });
  }
}
