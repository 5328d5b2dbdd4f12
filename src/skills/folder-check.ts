import { lstat, readdir, realpath } from 'node:fs/promises';
import path from 'node:path';
import type { SkillLoadError } from './loader.js';

/** Most entries checked in one skill folder; a bigger folder is refused. */
const MAX_ENTRIES = 20_000;
const MAX_DEPTH = 16;

function inside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel));
}

/**
 * Checks that nothing in a skill folder leads outside it: a symlink whose target lies outside the
 * folder, or a hard link (a file with more than one name, which may be a file anywhere on the same
 * file system), would let the skill read what its grant does not cover. Returns one load error per
 * offending entry (at most 20), or an error when the folder is too large to check.
 */
export async function checkSkillFolder(realDir: string, file: string): Promise<SkillLoadError[]> {
  const errors: SkillLoadError[] = [];
  let seen = 0;
  const visit = async (dir: string, depth: number): Promise<void> => {
    let names: string[];
    try {
      names = await readdir(dir);
    } catch (err) {
      errors.push({ file: dir, path: '', message: `cannot read folder: ${(err as Error).message}` });
      return;
    }
    for (const name of names) {
      if (errors.length >= 20) return;
      if (++seen > MAX_ENTRIES) {
        errors.push({
          file: realDir,
          path: '',
          message: `the skill folder holds more than ${MAX_ENTRIES} entries`,
        });
        return;
      }
      const full = path.join(dir, name);
      const rel = path.relative(realDir, full);
      const stats = await lstat(full).catch(() => undefined);
      if (stats === undefined) continue;
      if (stats.isSymbolicLink()) {
        const target = await realpath(full).catch(() => undefined);
        if (target === undefined || !inside(target, realDir)) {
          errors.push({
            file,
            path: '',
            message: `${rel} is a symlink that leads outside the skill folder (or nowhere); skills may not ship links out of their folder`,
          });
        }
      } else if (stats.isDirectory()) {
        if (depth >= MAX_DEPTH) {
          errors.push({ file, path: '', message: `${rel} is nested deeper than ${MAX_DEPTH} folders` });
          continue;
        }
        await visit(full, depth + 1);
      } else if (stats.isFile() && stats.nlink > 1) {
        errors.push({
          file,
          path: '',
          message: `${rel} is a hard link (${stats.nlink} names); skills may not ship hard links, which can point at any file of the file system`,
        });
      }
    }
  };
  await visit(realDir, 0);
  return errors;
}
