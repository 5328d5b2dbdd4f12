import { createHash } from 'node:crypto';
import { realpath as realpathCallback } from 'node:fs';
import type { Stats } from 'node:fs';
import { open, readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { isNode, LineCounter, parseDocument, YAMLError } from 'yaml';
import type { Document } from 'yaml';
import type { ZodError } from 'zod';
import { SkillplaneError } from '../errors/index.js';
import {
  agentSkillFrontMatterSchema,
  lenientManifestSchema,
  strictManifestSchema,
  toolNameFor,
} from './manifest.js';
import type { JsonSchema, SkillManifest } from './manifest.js';
import type { Skill, SkillSource } from './types.js';
import { checkSkillFolder } from './folder-check.js';

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
}

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
}

/** What a load produced: the skills that passed and one error per problem. */
export interface LoadSkillsResult {
  skills: LoadedSkill[];
  errors: SkillLoadError[];
}

/** A skill as the loader returns it: a {@link Skill} plus a fingerprint of what it was read from. */
export interface LoadedSkill extends Skill {
  /**
   * Hash of the manifest text, the `$ref` schema files and the entry file's size and mtime, so a
   * reload can tell a changed skill from an unchanged one.
   */
  fingerprint: string;
}

/** Input schema of a plain Agent Skills folder: free text in `input`. */
export const AGENT_SKILL_INPUT_SCHEMA: JsonSchema = Object.freeze({
  type: 'object',
  properties: { input: { type: 'string' } },
  additionalProperties: true,
}) as JsonSchema;

const MANIFEST_FILES = ['skill.yaml', 'skill.yml', 'SKILL.md'] as const;
const MAX_FRONT_MATTER_BYTES = 1024 * 1024;
const DEFAULT_MAX_MANIFEST_BYTES = 1024 * 1024;

/** Reads a text file only when it is at most `max` bytes (checked before reading). */
async function readBounded(file: string, max: number): Promise<string> {
  const { size } = await stat(file);
  if (size > max) {
    throw new SkillplaneError(
      'manifest_too_large',
      `${file} is ${size} bytes, more than the limit of ${max}`,
    );
  }
  return readFile(file, 'utf8');
}
const PROMPT_PLACEHOLDER = '\u0000body';
// The libuv realpath is one call; fs/promises' walks every path component with lstat.
const realpath = promisify(realpathCallback.native);

type Problems = SkillLoadError[];
type FieldPath = readonly (string | number)[];

/** Where a skill folder is and which manifest file describes it. */
export interface SkillFolder {
  dir: string;
  file: string;
}

// ajv-formats ships CommonJS; under NodeNext its default export is the module object.
const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;
let ajv: Ajv | undefined;
/** Compile outcome by schema text: `null` when it compiled, else the reason. Survives reloads. */
const compileCache = new Map<string, string | null>();

/**
 * Checks that a JSON Schema compiles; returns the reason when it does not. Schemas are removed from
 * the shared Ajv instance after the check (`addUsedSchema: false` keeps equal `$id`s in two skills
 * from clashing), and the outcome is cached by content so reloads do not compile again.
 */
export function schemaCompileError(schema: JsonSchema): string | undefined {
  const key = JSON.stringify(schema);
  const cached = compileCache.get(key);
  if (cached !== undefined) return cached ?? undefined;
  if (ajv === undefined) {
    ajv = new Ajv({ strict: false, allErrors: true, addUsedSchema: false, code: { optimize: false } });
    addFormats(ajv);
  }
  let outcome: string | null = null;
  try {
    ajv.compile(schema);
  } catch (err) {
    outcome = err instanceof Error ? err.message : String(err);
  } finally {
    try {
      ajv.removeSchema(schema);
    } catch {
      // Nothing was added.
    }
  }
  if (compileCache.size >= 10_000) compileCache.clear();
  compileCache.set(key, outcome);
  return outcome ?? undefined;
}

/** Forgets every cached compile outcome (benchmarks measure cold loads with it). */
export function clearSchemaCompileCache(): void {
  compileCache.clear();
}

/** Turns zod issues into load errors: one per problem, with the dotted path and line when known. */
export function zodIssuesToLoadErrors(
  error: ZodError,
  file: string,
  locate: (path: FieldPath) => number | undefined = () => undefined,
): SkillLoadError[] {
  const out: SkillLoadError[] = [];
  for (const issue of error.issues) {
    const base = issue.path.flatMap((p): (string | number)[] =>
      typeof p === 'number'
        ? [p]
        : String(p)
            .split('.')
            .filter((s) => s !== ''),
    );
    const keys = issue.code === 'unrecognized_keys' ? issue.keys : undefined;
    if (keys !== undefined) {
      for (const key of keys) {
        const at = [...base, key];
        out.push(withLine({ file, path: at.join('.'), message: `unknown field "${key}"` }, locate(at)));
      }
    } else {
      out.push(withLine({ file, path: base.join('.'), message: issue.message }, locate(base)));
    }
  }
  return out;
}

function withLine(e: SkillLoadError, line: number | undefined): SkillLoadError {
  return line === undefined ? e : { ...e, line };
}

/**
 * Validates a parsed manifest with the strict or lenient schema. Pure: no file access, so it is
 * also what `skills validate` style tools and tests call.
 */
export function validateManifest(
  raw: unknown,
  opts: { strict: boolean; file: string; locate?: (path: FieldPath) => number | undefined },
): { manifest: SkillManifest; errors: [] } | { manifest: undefined; errors: SkillLoadError[] } {
  const schema = opts.strict ? strictManifestSchema : lenientManifestSchema;
  const parsed = schema.safeParse(raw);
  if (parsed.success) return { manifest: parsed.data, errors: [] };
  return { manifest: undefined, errors: zodIssuesToLoadErrors(parsed.error, opts.file, opts.locate) };
}

interface ParsedYaml {
  value: unknown;
  locate: (path: FieldPath) => number | undefined;
}

/** Parses YAML, reporting syntax errors with their line (`lineOffset` shifts front matter lines). */
function parseYaml(
  text: string,
  file: string,
  lineOffset: number,
  problems: Problems,
): ParsedYaml | undefined {
  const lineCounter = new LineCounter();
  const doc: Document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    for (const err of doc.errors) {
      const pos = lineCounter.linePos(err.pos[0]);
      const line = pos.line + lineOffset;
      const message = `YAML syntax error at line ${line}, column ${pos.col}: ${err.message}`;
      problems.push({ file, path: '', line, message });
    }
    return undefined;
  }
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    const reason = err instanceof YAMLError || err instanceof Error ? err.message : String(err);
    problems.push({ file, path: '', message: `YAML error: ${reason}` });
    return undefined;
  }
  const locate = (p: FieldPath): number | undefined => {
    for (let n = p.length; n > 0; n--) {
      const node = doc.getIn(p.slice(0, n), true);
      if (isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line + lineOffset;
    }
    return undefined;
  };
  return { value, locate };
}

/** The front matter of a `SKILL.md` and where its body starts. */
export interface FrontMatter {
  /** YAML text between the `---` lines. */
  yaml: string;
  /** The markdown after the closing `---`, when it was read. */
  body: string;
  /** False when the whole file was read and it has no body text; undefined when not known. */
  hasBody: boolean | undefined;
}

const OPENING = /^\uFEFF?---[ \t]*\r?\n/;
const CLOSING = /\r?\n---[ \t]*(?:\r?\n|$)/g;

/** Splits `---\nyaml\n---\nbody`; `complete` says whether `text` is the whole file. */
export function splitFrontMatter(text: string, complete = true): FrontMatter | 'none' | 'more' {
  const open = OPENING.exec(text);
  if (open === null) return text.length < 8 && !complete ? 'more' : 'none';
  CLOSING.lastIndex = open[0].length - 1;
  for (let m = CLOSING.exec(text); m !== null; m = CLOSING.exec(text)) {
    const end = m.index + m[0].length;
    // A fence at the end of a partial read may still be followed by more of its line.
    if (!complete && end === text.length && !m[0].endsWith('\n')) break;
    const body = text.slice(end);
    return {
      yaml: text.slice(open[0].length, Math.max(open[0].length, m.index)),
      body,
      hasBody: body.trim() !== '' ? true : complete ? false : undefined,
    };
  }
  return complete ? 'none' : 'more';
}

/** Reads a `SKILL.md` only up to the end of its front matter (progressive disclosure). */
async function readFrontMatter(file: string): Promise<FrontMatter | 'none'> {
  const handle = await open(file, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const buf = Buffer.alloc(total === 0 ? 4096 : Math.min(total, 256 * 1024));
      const { bytesRead } = await handle.read(buf, 0, buf.length, total);
      total += bytesRead;
      chunks.push(buf.subarray(0, bytesRead));
      const eof = bytesRead < buf.length;
      const split = splitFrontMatter(Buffer.concat(chunks).toString('utf8'), eof);
      if (split !== 'more') return split;
      if (eof || total >= MAX_FRONT_MATTER_BYTES) return 'none';
    }
  } finally {
    await handle.close();
  }
}

/** Resolves `rel` inside `realDir`, following symlinks; pushes a problem and returns undefined on escape. */
async function resolveInside(
  realDir: string,
  rel: string,
  file: string,
  field: string,
  problems: Problems,
): Promise<{ path: string; stats: Stats } | undefined> {
  const fail = (message: string) => {
    problems.push({ file, path: field, message });
    return undefined;
  };
  if (path.isAbsolute(rel)) return fail(`must be a path relative to the skill folder, got ${rel}`);
  const inside = (p: string) => {
    const r = path.relative(realDir, p);
    return r !== '' && !r.startsWith('..') && !path.isAbsolute(r);
  };
  if (!inside(path.resolve(realDir, rel))) return fail(`${rel} escapes the skill folder`);
  let real: string;
  try {
    real = await realpath(path.resolve(realDir, rel));
  } catch {
    return fail(`${rel} does not exist in the skill folder`);
  }
  if (!inside(real)) return fail(`${rel} resolves outside the skill folder`);
  const stats = await stat(real);
  if (!stats.isFile()) return fail(`${rel} is not a file`);
  return { path: real, stats };
}

function isFileRef(ref: string): boolean {
  return !ref.startsWith('#') && !/^[a-z][a-z0-9+.-]*:/i.test(ref);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Resolves a `{$ref: "./file"}` schema and checks that the result compiles. */
async function resolveSchema(
  field: 'input_schema' | 'output_schema',
  schema: JsonSchema,
  realDir: string,
  file: string,
  problems: Problems,
  hash: ReturnType<typeof createHash>,
): Promise<JsonSchema | undefined> {
  let resolved = schema;
  const ref = schema.$ref;
  if (typeof ref === 'string' && isFileRef(ref)) {
    const target = await resolveInside(realDir, ref, file, `${field}.$ref`, problems);
    if (target === undefined) return undefined;
    if (target.stats.size > DEFAULT_MAX_MANIFEST_BYTES) {
      problems.push({
        file: target.path,
        path: '',
        message: `is ${target.stats.size} bytes, more than the limit of ${DEFAULT_MAX_MANIFEST_BYTES}`,
      });
      return undefined;
    }
    const text = await readFile(target.path, 'utf8');
    hash.update(`\0${field}\0${text}`);
    let value: unknown;
    if (target.path.endsWith('.json')) {
      try {
        value = JSON.parse(text);
      } catch (err) {
        problems.push({ file: target.path, path: '', message: `invalid JSON: ${(err as Error).message}` });
        return undefined;
      }
    } else {
      const parsed = parseYaml(text, target.path, 0, problems);
      if (parsed === undefined) return undefined;
      value = parsed.value;
    }
    if (!isPlainObject(value)) {
      problems.push({ file, path: `${field}.$ref`, message: `${ref} does not hold a JSON Schema object` });
      return undefined;
    }
    resolved = value;
  }
  const reason = schemaCompileError(resolved);
  if (reason !== undefined) {
    problems.push({ file, path: field, message: `does not compile as a JSON Schema: ${reason}` });
    return undefined;
  }
  return resolved;
}

/** Reads the body of a `SKILL.md` when the skill is used, not at load (at most 4 MiB). */
function lazyBody(file: string): () => Promise<string> {
  return async () => {
    const split = splitFrontMatter(await readBounded(file, 4 * 1024 * 1024));
    return split === 'none' || split === 'more' ? '' : split.body;
  };
}

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
      return { skill: undefined, errors: [{ file: dir, path: '', message }] };
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
    problems.push({ file: target.file, path: '', message: err instanceof Error ? err.message : String(err) });
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
    problems.push(...outside);
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
      problems.push({ file, path: '', line: 1, message });
      return undefined;
    }
    front = split;
    text = split.yaml;
  } else {
    if (fileStats.size > maxManifestBytes) {
      const message = `the manifest is ${fileStats.size} bytes, more than the limit of ${maxManifestBytes} (skills.max_manifest_bytes)`;
      problems.push({ file, path: '', message });
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
      problems.push(withLine({ file, path: 'name', message }, locate(['name'])));
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
    problems.push({ file, path: 'prompt', message });
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
        errors.push({ file: dir, path: '', message });
      } else if (code !== 'ENOENT') {
        errors.push({ file: dir, path: '', message: `cannot read folder: ${(err as Error).message}` });
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
    const first = byRef.get(skill.ref);
    if (first !== undefined) {
      const message = `duplicate skill ${skill.ref}: already defined in ${first}`;
      errors.push({ file: skill.file, path: 'skill_id', message });
      continue;
    }
    byRef.set(skill.ref, skill.file);
    skills.push(skill);
  }
  return { skills, errors };
}
