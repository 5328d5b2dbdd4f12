import { readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST_FILES, type SkillFolder, type SkillLoadError } from './types.js';
import { realpath } from './types.js';

function errnoCode(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err ? String((err as NodeJS.ErrnoException).code) : undefined;
}

/**
 * Finds skill folders below `root`: a folder holding `skill.yaml`, `skill.yml` or `SKILL.md` is a
 * skill and is not searched further; other folders are searched down to `maxDepth` levels.
 * `node_modules` and dot-folders are skipped. Results are sorted by path, so loads are repeatable.
 */
export async function discoverSkillFolders(
  root: string,
  opts: { maxDepth?: number } = {},
): Promise<{ folders: SkillFolder[]; errors: SkillLoadError[] }> {
  const maxDepth = opts.maxDepth ?? 2;
  const errors: SkillLoadError[] = [];
  // Realpaths already searched: a symlink loop (or two links to one folder) is searched once.
  const visited = new Set<string>();
  const visit = async (dir: string, depth: number): Promise<SkillFolder[]> => {
    const real = await realpath(dir).catch(() => dir);
    if (visited.has(real)) return [];
    visited.add(real);
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      const code = errnoCode(err);
      if (depth === 0) {
        const message =
          code === 'ENOENT'
            ? 'skills directory does not exist'
            : code === 'ENOTDIR'
              ? 'is not a directory'
              : `cannot read skills directory: ${(err as Error).message}`;
        errors.push({ file: dir, path: '', code: 'skills_dir_unreadable', message });
      } else if (code !== 'ENOENT') {
        errors.push({
          file: dir,
          path: '',
          code: 'skills_dir_unreadable',
          message: `cannot read folder: ${(err as Error).message}`,
        });
      }
      return [];
    }
    const names = new Set(entries.filter((e) => e.isFile() || e.isSymbolicLink()).map((e) => e.name));
    const manifest = MANIFEST_FILES.find((n) => names.has(n));
    if (manifest !== undefined) return [{ dir, file: path.join(dir, manifest) }];
    if (depth >= maxDepth) return [];
    const subdirs: string[] = [];
    for (const e of entries) {
      if (e.name.startsWith('.') || e.name === 'node_modules') continue;
      const full = path.join(dir, e.name);
      if (e.isDirectory()) subdirs.push(full);
      else if (e.isSymbolicLink() && (await stat(full).catch(() => undefined))?.isDirectory())
        subdirs.push(full);
    }
    subdirs.sort();
    const nested = await Promise.all(subdirs.map((d) => visit(d, depth + 1)));
    return nested.flat();
  };
  const folders = await visit(path.resolve(root), 0);
  return { folders, errors };
}
