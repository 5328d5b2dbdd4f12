import { realpath as realpathCallback } from 'node:fs';
import { promisify } from 'node:util';
import type { Skill } from '../types.js';

/** One problem found while loading skills: the file, the dotted field path and the reason. */
export interface SkillLoadError {
  /** Absolute path of the file (or folder) the problem is in. */
  file: string;
  /** Dotted path of the offending field (`permissions.fs.read.0`); empty for the whole file. */
  path: string;
  /** Why the skill was refused. */
  message: string;
  /** 1-based line in `file`, when known. */
  line?: number;
  /**
   * Stable kind of problem: `yaml_syntax`, `manifest_invalid`, `manifest_unknown_field`,
   * `manifest_missing`, `manifest_too_large`, `schema_invalid`, `path_invalid`,
   * `skill_folder_unsafe`, `skill_duplicate`, `worker_plane_disabled`, `skills_dir_unreadable`,
   * `skill_load_failed`; `skill_invalid` when nothing more precise is known.
   */
  code?: string;
}

/** A skill as the loader returns it: a {@link Skill} plus a fingerprint of what it was read from. */
export interface LoadedSkill extends Skill {
  /**
   * Hash of the manifest text, the `$ref` schema files and the entry file's size and mtime, so a
   * reload can tell a changed skill from an unchanged one.
   */
  fingerprint: string;
}

/** Where a skill folder is and which manifest file describes it. */
export interface SkillFolder {
  dir: string;
  file: string;
}

/** The problems found so far in one load. */
export type Problems = SkillLoadError[];
/** A field path in a parsed document. */
export type FieldPath = readonly (string | number)[];

/** The manifest file names, in the order they are looked for. */
export const MANIFEST_FILES = ['skill.yaml', 'skill.yml', 'SKILL.md'] as const;
/** Default largest manifest read. */
export const DEFAULT_MAX_MANIFEST_BYTES = 1024 * 1024;

/** True for a plain object (not an array, not null). */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** realpath in one libuv call (fs/promises' walks every path component with lstat). */
export const realpath = promisify(realpathCallback.native);
