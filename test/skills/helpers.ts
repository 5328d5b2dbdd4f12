import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { strictManifestSchema, toolNameFor } from '../../src/skills/manifest.js';
import type { Skill } from '../../src/skills/types.js';

/** A temp directory (realpath) that `cleanup` removes. */
export async function makeTempDir(prefix = 'skillplane-skill-'): Promise<string> {
  return realpath(await mkdtemp(join(tmpdir(), prefix)));
}

/** Writes `files` (relative path → content) under `dir`, creating folders. */
export async function writeFiles(dir: string, files: Record<string, string>): Promise<void> {
  for (const [rel, content] of Object.entries(files)) {
    const file = join(dir, rel);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, content);
  }
}

/** Removes temp directories. */
export async function cleanup(dirs: string[]): Promise<void> {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
}

/** Builds a Skill by hand: the manifest goes through the strict schema so defaults are filled in. */
export function makeSkill(dir: string, manifest: Record<string, unknown>): Skill {
  const parsed = strictManifestSchema.parse({
    version: '1.0.0',
    kind: 'tool',
    description: 'test skill',
    ...manifest,
  });
  return {
    id: parsed.skill_id,
    version: parsed.version,
    ref: `${parsed.skill_id}@${parsed.version}`,
    toolName: toolNameFor(parsed.skill_id),
    manifest: parsed,
    dir,
    file: join(dir, 'skill.yaml'),
    source: 'skill.yaml',
    inputSchema: parsed.input_schema,
    outputSchema: parsed.output_schema,
    loadPrompt: () => Promise.resolve(''),
    mtimeMs: 0,
  };
}

/** A signal that never aborts, for calls that do not test cancellation. */
export function neverAborted(): AbortSignal {
  return new AbortController().signal;
}

/** True while `pid` runs; a zombie (killed, not yet reaped by its new parent) counts as gone. */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    // No /proc (or no such process): fall back to signal 0.
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
