import { createHash } from 'node:crypto';
import type { Stats } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { SkillplaneError } from '../errors/index.js';
import { agentSkillFrontMatterSchema, lenientManifestSchema, toolNameFor } from './manifest.js';
import type { JsonSchema, SkillManifest } from './manifest.js';
import type { SkillSource } from './types.js';
import { checkSkillFolder } from './folder-check.js';
import { discoverSkillFolders } from './loading/discovery.js';
import { resolveInside, resolveSchema } from './loading/schemas.js';
import { lazyBody, readFrontMatter, type FrontMatter } from './loading/skill-md.js';
import {
  DEFAULT_MAX_MANIFEST_BYTES,
  isPlainObject,
  MANIFEST_FILES,
  realpath,
  type LoadedSkill,
  type Problems,
  type SkillFolder,
  type SkillLoadError,
} from './loading/types.js';
import { parseYaml, validateManifest, withLine, zodIssuesToLoadErrors } from './loading/yaml.js';

export type { LoadedSkill, SkillFolder, SkillLoadError } from './loading/types.js';
export { discoverSkillFolders } from './loading/discovery.js';
export { clearSchemaCompileCache, schemaCompileError } from './loading/schemas.js';
export { splitFrontMatter, type FrontMatter } from './loading/skill-md.js';
export { validateManifest, zodIssuesToLoadErrors } from './loading/yaml.js';

/** Options of {@link loadSkillsFromDirectories}. */
export interface LoadSkillsOptions {
  /** Strict validation rejects unknown fields and coerced scalars (`skills.strict_validation`). */
  strict: boolean;
  /** Stops the load between skills. */
  signal?: AbortSignal;
  /** Skill folders read at the same time (default 16). */
  concurrency?: number;
  /** Deepest folder level searched below each directory (default 2: `dir/namespace/skill`). */
  maxDepth?: number;
  /** Largest manifest (and `$ref` schema) file read, in bytes (default 1 MiB). */
  maxManifestBytes?: number;
  /**
   * Whether skills may ask for `execution: worker` (`workers.enabled`; default true). When not, such
   * a skill fails to load with a clear error instead of running somewhere it was not meant to.
   */
  workersEnabled?: boolean;
}

/** What a load produced: the skills that passed and one error per problem. */
export interface LoadSkillsResult {
  skills: LoadedSkill[];
  errors: SkillLoadError[];
}

/** A skill as the loader returns it: a {@link Skill} plus a fingerprint of what it was read from. */
/** Input schema of a plain Agent Skills folder: free text in `input`. */
export const AGENT_SKILL_INPUT_SCHEMA: JsonSchema = Object.freeze({
  type: 'object',
  properties: { input: { type: 'string' } },
  additionalProperties: true,
}) as JsonSchema;

const PROMPT_PLACEHOLDER = '\u0000body';

/**
 * Loads one skill folder. Never throws for a bad skill: every problem is returned as an error with
 * the file, the field path and the reason.
 */
export async function loadSkillFolder(
  folder: string | SkillFolder,
  opts: Pick<LoadSkillsOptions, 'strict' | 'maxManifestBytes'>,
): Promise<{ skill: LoadedSkill | undefined; errors: SkillLoadError[] }> {
  let target: SkillFolder;
  if (typeof folder === 'string') {
    const dir = path.resolve(folder);
    const names = await readdir(dir).catch(() => [] as string[]);
    const found = MANIFEST_FILES.find((n) => names.includes(n));
    if (found === undefined) {
      const message = 'holds no skill.yaml, skill.yml or SKILL.md';
      return { skill: undefined, errors: [{ file: dir, path: '', code: 'manifest_missing', message }] };
    }
    target = { dir, file: path.join(dir, found) };
  } else {
    target = folder;
  }
  const problems: Problems = [];
  try {
    const skill = await loadFolder(
      target,
      opts.strict,
      problems,
      opts.maxManifestBytes ?? DEFAULT_MAX_MANIFEST_BYTES,
    );
    if (problems.length === 0 && skill !== undefined) return { skill, errors: [] };
  } catch (err) {
    problems.push({
      file: target.file,
      path: '',
      code: 'skill_load_failed',
      message: err instanceof Error ? err.message : String(err),
    });
  }
  return { skill: undefined, errors: problems };
}

async function loadFolder(
  { dir, file }: SkillFolder,
  strict: boolean,
  problems: Problems,
  maxManifestBytes: number,
): Promise<LoadedSkill | undefined> {
  const fileStats = await stat(file);
  const realDir = await realpath(dir);
  const outside = await checkSkillFolder(realDir, file);
  if (outside.length > 0) {
    problems.push(...outside.map((e) => ({ code: 'skill_folder_unsafe', ...e })));
    return undefined;
  }
  const hash = createHash('sha1');
  const isMarkdown = path.basename(file) === 'SKILL.md';
  let text: string;
  let front: FrontMatter | undefined;
  if (isMarkdown) {
    const split = await readFrontMatter(file);
    if (split === 'none') {
      const message = 'SKILL.md must start with YAML front matter between --- lines';
      problems.push({ file, path: '', line: 1, code: 'manifest_invalid', message });
      return undefined;
    }
    front = split;
    text = split.yaml;
  } else {
    if (fileStats.size > maxManifestBytes) {
      const message = `the manifest is ${fileStats.size} bytes, more than the limit of ${maxManifestBytes} (skills.max_manifest_bytes)`;
      problems.push({ file, path: '', code: 'manifest_too_large', message });
      return undefined;
    }
    text = await readFile(file, 'utf8');
  }
  hash.update(text);
  const parsed = parseYaml(text, file, isMarkdown ? 1 : 0, problems);
  if (parsed === undefined) return undefined;
  const { locate } = parsed;
  const raw = parsed.value ?? {};
  const base = { dir, file, fileStats, hash };

  if (isMarkdown && !(isPlainObject(raw) && 'skill_id' in raw)) {
    // A plain Agent Skills folder (agentskills.io): name + description, body read on use.
    const fm = agentSkillFrontMatterSchema.safeParse(raw);
    if (!fm.success) {
      problems.push(...zodIssuesToLoadErrors(fm.error, file, locate));
      return undefined;
    }
    const folderName = path.basename(dir);
    if (fm.data.name !== folderName) {
      const message = `must equal the folder name "${folderName}", got "${fm.data.name}"`;
      problems.push(withLine({ file, path: 'name', code: 'manifest_invalid', message }, locate(['name'])));
      return undefined;
    }
    const manifest = lenientManifestSchema.parse({
      skill_id: `local/${fm.data.name}`,
      version: '0.0.0',
      kind: 'prompt',
      description: fm.data.description,
      prompt: PROMPT_PLACEHOLDER,
      input_schema: AGENT_SKILL_INPUT_SCHEMA,
    });
    delete manifest.prompt;
    const inputSchema = manifest.input_schema;
    return finish({ ...base, manifest, source: 'agent-skill', inputSchema, loadPrompt: lazyBody(file) });
  }

  // A full manifest (skill.yaml, or SKILL.md whose front matter has skill_id).
  const bodyIsPrompt = isMarkdown && isPlainObject(raw) && raw.kind === 'prompt' && raw.prompt === undefined;
  if (bodyIsPrompt && front?.hasBody === false) {
    const message = 'a prompt skill needs a prompt: the body of SKILL.md is empty';
    problems.push({ file, path: 'prompt', code: 'manifest_invalid', message });
  }
  const input = bodyIsPrompt && isPlainObject(raw) ? { ...raw, prompt: PROMPT_PLACEHOLDER } : raw;
  const validated = validateManifest(input, { strict, file, locate });
  const manifest = validated.manifest;
  if (manifest === undefined) {
    problems.push(...validated.errors);
    return undefined;
  }
  if (bodyIsPrompt) delete manifest.prompt;

  const schemaArgs = [realDir, file, problems, hash] as const;
  const inputSchema = await resolveSchema('input_schema', manifest.input_schema, ...schemaArgs);
  const outputSchema =
    manifest.output_schema === undefined
      ? undefined
      : await resolveSchema('output_schema', manifest.output_schema, ...schemaArgs);
  const entry =
    manifest.entry === undefined
      ? undefined
      : await resolveInside(realDir, manifest.entry, file, 'entry', problems);
  if (problems.length > 0 || inputSchema === undefined) return undefined;
  if (entry !== undefined) hash.update(`\0entry\0${entry.stats.size}\0${entry.stats.mtimeMs}`);

  const prompt = manifest.prompt;
  const loadPrompt = bodyIsPrompt
    ? lazyBody(file)
    : prompt !== undefined
      ? () => Promise.resolve(prompt)
      : () =>
          Promise.reject(
            new SkillplaneError('not_a_prompt_skill', `skill ${manifest.skill_id} has no prompt`),
          );
  const source = isMarkdown ? 'SKILL.md' : 'skill.yaml';
  return finish({ ...base, manifest, source, inputSchema, outputSchema, loadPrompt });
}

function finish(parts: {
  manifest: SkillManifest;
  source: SkillSource;
  dir: string;
  file: string;
  fileStats: Stats;
  hash: ReturnType<typeof createHash>;
  inputSchema: JsonSchema;
  outputSchema?: JsonSchema | undefined;
  loadPrompt: () => Promise<string>;
}): LoadedSkill {
  const { manifest, source, file, fileStats, hash } = parts;
  hash.update(`\0${source}\0${file}\0${fileStats.size}\0${fileStats.mtimeMs}`);
  const id = manifest.skill_id;
  return {
    id,
    version: manifest.version,
    ref: `${id}@${manifest.version}`,
    toolName: toolNameFor(id),
    manifest,
    dir: parts.dir,
    file,
    source,
    inputSchema: parts.inputSchema,
    outputSchema: parts.outputSchema,
    loadPrompt: parts.loadPrompt,
    mtimeMs: fileStats.mtimeMs,
    fingerprint: hash.digest('hex'),
  };
}

/**
 * Loads every skill below `dirs`. One bad skill never stops the others: each problem becomes a
 * {@link SkillLoadError} with the file, the dotted field path and the reason. A second skill with
 * the same `id@version` is refused (the first one, in directory then path order, wins).
 */
export async function loadSkillsFromDirectories(
  dirs: string[],
  opts: LoadSkillsOptions,
): Promise<LoadSkillsResult> {
  const errors: SkillLoadError[] = [];
  const folders: SkillFolder[] = [];
  for (const dir of dirs) {
    opts.signal?.throwIfAborted();
    const found = await discoverSkillFolders(dir, { maxDepth: opts.maxDepth });
    folders.push(...found.folders);
    errors.push(...found.errors);
  }
  // A folder reached twice (listed directories that overlap) is loaded once.
  const unique = [...new Map(folders.map((f) => [f.file, f])).values()];
  const results = new Array<Awaited<ReturnType<typeof loadSkillFolder>>>(unique.length);
  let next = 0;
  const worker = async () => {
    while (next < unique.length) {
      opts.signal?.throwIfAborted();
      const i = next++;
      results[i] = await loadSkillFolder(unique[i]!, opts);
    }
  };
  const concurrency = Math.max(1, Math.min(opts.concurrency ?? 16, unique.length));
  await Promise.all(Array.from({ length: concurrency }, worker));

  const skills: LoadedSkill[] = [];
  const byRef = new Map<string, string>();
  for (const result of results) {
    errors.push(...result.errors);
    const skill = result.skill;
    if (skill === undefined) continue;
    if (skill.manifest.execution === 'worker' && opts.workersEnabled === false) {
      errors.push({
        file: skill.file,
        path: 'execution',
        code: 'worker_plane_disabled',
        message:
          'execution: worker needs the worker plane, but workers.enabled is false in the server config',
      });
      continue;
    }
    const first = byRef.get(skill.ref);
    if (first !== undefined) {
      const message = `duplicate skill ${skill.ref}: already defined in ${first}`;
      errors.push({ file: skill.file, path: 'skill_id', code: 'skill_duplicate', message });
      continue;
    }
    byRef.set(skill.ref, skill.file);
    skills.push(skill);
  }
  return { skills, errors: errors.map((e) => (e.code === undefined ? { ...e, code: 'skill_invalid' } : e)) };
}
