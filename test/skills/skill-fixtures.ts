import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

/** A fresh temp folder per test; `cleanup()` removes every folder made so far. */
export function tempDirs(prefix = 'skillplane-skills-'): {
  make(): Promise<string>;
  cleanup(): Promise<void>;
} {
  const made: string[] = [];
  return {
    async make() {
      const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
      made.push(dir);
      return dir;
    },
    async cleanup() {
      await Promise.all(made.splice(0).map((d) => rm(d, { recursive: true, force: true })));
    },
  };
}

/** Writes `files` (relative path → text) below `root`, creating folders. */
export async function writeFiles(root: string, files: Record<string, string>): Promise<void> {
  for (const [rel, text] of Object.entries(files)) {
    const file = path.join(root, rel);
    await mkdir(path.dirname(file), { recursive: true });
    await writeFile(file, text);
  }
}

/** A valid tool skill.yaml with an entry file. */
export function toolSkillYaml(id: string, version = '1.0.0', extra = ''): string {
  return [
    `skill_id: ${id}`,
    `version: ${version}`,
    'kind: tool',
    `description: Tool ${id}.`,
    'entry: ./index.mjs',
    'input_schema: {type: object, properties: {q: {type: string}}}',
    extra,
  ].join('\n');
}

/** Files of a valid tool skill folder named `folder`. */
export function toolSkillFiles(folder: string, id: string, version = '1.0.0'): Record<string, string> {
  return {
    [`${folder}/skill.yaml`]: toolSkillYaml(id, version),
    [`${folder}/index.mjs`]: 'export default async (input) => input;\n',
  };
}
