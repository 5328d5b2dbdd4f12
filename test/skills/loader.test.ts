import { symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AGENT_SKILL_INPUT_SCHEMA, loadSkillsFromDirectories } from '../../src/skills/loader.js';
import type { SkillLoadError } from '../../src/skills/loader.js';
import { tempDirs, toolSkillFiles, toolSkillYaml, writeFiles } from './skill-fixtures.js';

const dirs = tempDirs();
afterEach(() => dirs.cleanup());

async function load(files: Record<string, string>, strict = true) {
  const root = await dirs.make();
  await writeFiles(root, files);
  return { root, ...(await loadSkillsFromDirectories([root], { strict })) };
}

function brief(errors: SkillLoadError[], root: string) {
  return errors.map((e) => ({ file: path.relative(root, e.file), path: e.path }));
}

describe('loadSkillsFromDirectories: skill.yaml', () => {
  it('loads a tool skill with its manifest, ref, tool name and entry', async () => {
    const { root, skills, errors } = await load(toolSkillFiles('search', 'acme/search', '1.2.0'));
    expect(errors).toEqual([]);
    expect(skills).toHaveLength(1);
    const skill = skills[0]!;
    expect(skill).toMatchObject({
      id: 'acme/search',
      version: '1.2.0',
      ref: 'acme/search@1.2.0',
      toolName: 'acme__search',
      dir: path.join(root, 'search'),
      file: path.join(root, 'search', 'skill.yaml'),
      source: 'skill.yaml',
      inputSchema: { type: 'object', properties: { q: { type: 'string' } } },
      outputSchema: undefined,
    });
    expect(skill.mtimeMs).toBeGreaterThan(0);
    await expect(skill.loadPrompt()).rejects.toThrow(/no prompt/);
  });

  it('refuses execution: worker while the worker plane is off, and loads it when it is on', async () => {
    const root = await dirs.make();
    await writeFiles(root, {
      'heavy/skill.yaml': toolSkillYaml('acme/heavy', '1.0.0', 'execution: worker'),
      'heavy/index.mjs': 'export default async (input) => input;\n',
      ...toolSkillFiles('light', 'acme/light'),
    });
    const off = await loadSkillsFromDirectories([root], { strict: true, workersEnabled: false });
    expect(off.skills.map((s) => s.ref)).toEqual(['acme/light@1.0.0']);
    expect(brief(off.errors, root)).toEqual([{ file: path.join('heavy', 'skill.yaml'), path: 'execution' }]);
    expect(off.errors[0]!.message).toMatch(/workers\.enabled is false/);
    const on = await loadSkillsFromDirectories([root], { strict: true, workersEnabled: true });
    expect(on.errors).toEqual([]);
    expect(on.skills.map((s) => s.ref).sort()).toEqual(['acme/heavy@1.0.0', 'acme/light@1.0.0']);
  });

  it('accepts skill.yml and a prompt skill whose prompt is inline', async () => {
    const { skills, errors } = await load({
      'greet/skill.yml':
        'skill_id: acme/greet\nversion: 0.1.0\nkind: prompt\ndescription: d\nprompt: Hello {{name}}\n',
    });
    expect(errors).toEqual([]);
    await expect(skills[0]!.loadPrompt()).resolves.toBe('Hello {{name}}');
  });

  it('resolves $ref schemas (JSON and YAML) relative to the skill folder', async () => {
    const { skills, errors } = await load({
      ...toolSkillFiles('search', 'acme/search'),
      'search/skill.yaml': toolSkillYaml('acme/search').replace(
        /input_schema: .*/,
        'input_schema: {$ref: ./schemas/in.json}\noutput_schema: {$ref: schemas/out.yaml}',
      ),
      'search/schemas/in.json': JSON.stringify({ type: 'object', required: ['q'] }),
      'search/schemas/out.yaml': 'type: object\nproperties: {hits: {type: array}}\n',
    });
    expect(errors).toEqual([]);
    expect(skills[0]!.inputSchema).toEqual({ type: 'object', required: ['q'] });
    expect(skills[0]!.outputSchema).toEqual({ type: 'object', properties: { hits: { type: 'array' } } });
    expect(skills[0]!.manifest.input_schema).toEqual({ $ref: './schemas/in.json' });
  });

  it('rejects a $ref that escapes the skill folder', async () => {
    const { root, skills, errors } = await load({
      ...toolSkillFiles('search', 'acme/search'),
      'search/skill.yaml': toolSkillYaml('acme/search').replace(
        /input_schema: .*/,
        'input_schema: {$ref: ../shared.json}',
      ),
      'shared.json': '{"type": "object"}',
    });
    expect(skills).toEqual([]);
    expect(brief(errors, root)).toEqual([{ file: 'search/skill.yaml', path: 'input_schema.$ref' }]);
    expect(errors[0]!.message).toMatch(/escapes the skill folder/);
  });

  it('rejects a $ref that reaches outside through a symlink', async () => {
    const root = await dirs.make();
    await writeFiles(root, {
      ...toolSkillFiles('search', 'acme/search'),
      'search/skill.yaml': toolSkillYaml('acme/search').replace(
        /input_schema: .*/,
        'input_schema: {$ref: ./link.json}',
      ),
      'outside.json': '{"type": "object"}',
    });
    await symlink(path.join(root, 'outside.json'), path.join(root, 'search', 'link.json'));
    const { errors } = await loadSkillsFromDirectories([root], { strict: true });
    expect(errors.map((e) => [e.path, e.message])).toEqual([
      ['', expect.stringContaining('link.json is a symlink that leads outside the skill folder')],
    ]);
  });

  it('rejects a missing $ref file and an absolute $ref', async () => {
    const { errors } = await load({
      ...toolSkillFiles('a', 'acme/a'),
      'a/skill.yaml': toolSkillYaml('acme/a').replace(
        /input_schema: .*/,
        'input_schema: {$ref: ./nope.json}',
      ),
      ...toolSkillFiles('b', 'acme/b'),
      'b/skill.yaml': toolSkillYaml('acme/b').replace(
        /input_schema: .*/,
        'input_schema: {$ref: /etc/hostname}',
      ),
    });
    expect(errors.map((e) => e.path)).toEqual(['input_schema.$ref', 'input_schema.$ref']);
    expect(errors[0]!.message).toMatch(/does not exist/);
    expect(errors[1]!.message).toMatch(/relative/);
  });

  it('rejects a schema that does not compile, naming the field', async () => {
    const { root, errors } = await load({
      ...toolSkillFiles('a', 'acme/a'),
      'a/skill.yaml': toolSkillYaml('acme/a').replace(
        /input_schema: .*/,
        'input_schema: {type: object, properties: {q: {type: nope}}}',
      ),
      ...toolSkillFiles('b', 'acme/b'),
      'b/skill.yaml': toolSkillYaml('acme/b', '1.0.0', 'output_schema: {$ref: ./out.json}'),
      'b/out.json': '{"type": "object", "properties": {"x": {"$ref": "#/nowhere"}}}',
    });
    expect(brief(errors, root)).toEqual([
      { file: 'a/skill.yaml', path: 'input_schema' },
      { file: 'b/skill.yaml', path: 'output_schema' },
    ]);
    expect(errors[0]!.message).toMatch(/does not compile/);
  });

  it('rejects an entry that is missing, escapes the folder or is a directory', async () => {
    const { errors } = await load({
      'a/skill.yaml': toolSkillYaml('acme/a'),
      'b/skill.yaml': toolSkillYaml('acme/b').replace('./index.mjs', '../b.mjs'),
      'b.mjs': '',
      'c/skill.yaml': toolSkillYaml('acme/c').replace('./index.mjs', './lib'),
      'c/lib/x.mjs': '',
    });
    expect(errors.map((e) => e.path)).toEqual(['entry', 'entry', 'entry']);
    expect(errors.map((e) => e.message)).toEqual([
      './index.mjs does not exist in the skill folder',
      '../b.mjs escapes the skill folder',
      './lib is not a file',
    ]);
  });

  it('reports a YAML syntax error with the file and line', async () => {
    const { root, skills, errors } = await load({
      'bad/skill.yaml': 'skill_id: acme/bad\nversion: 1.0.0\ndescription: [unclosed\nkind: tool\n',
    });
    expect(skills).toEqual([]);
    expect(errors.length).toBeGreaterThan(0);
    expect(errors[0]).toMatchObject({ file: path.join(root, 'bad', 'skill.yaml'), path: '' });
    expect(errors[0]!.line).toBeGreaterThanOrEqual(3);
    expect(errors[0]!.message).toMatch(/^YAML syntax error at line \d+, column \d+/);
  });

  it('reports a duplicate YAML key as a syntax error', async () => {
    const { errors } = await load({
      'a/skill.yaml': `${toolSkillYaml('acme/a')}\nkind: prompt\n`,
      'a/index.mjs': '',
    });
    expect(errors[0]!.message).toMatch(/unique/i);
  });

  it('reports a validation error with the dotted path, the reason and the line', async () => {
    const { root, errors } = await load({
      ...toolSkillFiles('a', 'acme/a'),
      'a/skill.yaml': toolSkillYaml('acme/a', '1.0.0', 'permissions:\n  fs:\n    read:\n      - 42\n'),
    });
    expect(errors).toEqual([
      {
        file: path.join(root, 'a', 'skill.yaml'),
        path: 'permissions.fs.read.0',
        line: 10,
        code: 'manifest_invalid',
        message: expect.stringMatching(/expected string/),
      },
    ]);
  });

  it('rejects unknown fields in strict mode and drops them in lenient mode', async () => {
    const files = {
      ...toolSkillFiles('a', 'acme/a'),
      'a/skill.yaml': toolSkillYaml('acme/a', '1.0.0', 'colour: blue'),
    };
    const strict = await load(files, true);
    expect(strict.errors.map((e) => [e.path, e.message])).toEqual([['colour', 'unknown field "colour"']]);
    const lenient = await load(files, false);
    expect(lenient.errors).toEqual([]);
    expect(lenient.skills[0]!.manifest).not.toHaveProperty('colour');
  });

  it('loads the good skills beside a bad one and reports one error per problem', async () => {
    const { root, skills, errors } = await load({
      ...toolSkillFiles('a-good', 'acme/a'),
      'b-bad/skill.yaml': 'skill_id: acme/b\nversion: 1\nkind: tool\ndescription: d\ncommand: ls\nextra: 1\n',
      ...toolSkillFiles('c-good', 'acme/c'),
      'd-broken/skill.yaml': ': : :\n',
      'e-good/SKILL.md': '---\nname: e-good\ndescription: An agent skill.\n---\nDo it.\n',
    });
    expect(skills.map((s) => s.id)).toEqual(['acme/a', 'acme/c', 'local/e-good']);
    expect(brief(errors, root).filter((e) => e.file.startsWith('b-bad'))).toEqual([
      { file: 'b-bad/skill.yaml', path: 'version' },
      { file: 'b-bad/skill.yaml', path: 'command' },
      { file: 'b-bad/skill.yaml', path: 'extra' },
    ]);
    expect(errors.some((e) => e.file.endsWith(path.join('d-broken', 'skill.yaml')))).toBe(true);
  });

  it('refuses a second skill with the same id and version', async () => {
    const { root, skills, errors } = await load({
      ...toolSkillFiles('one', 'acme/search', '1.0.0'),
      ...toolSkillFiles('two', 'acme/search', '1.0.0'),
      ...toolSkillFiles('three', 'acme/search', '2.0.0'),
    });
    expect(skills.map((s) => [s.ref, path.relative(root, s.dir)])).toEqual([
      ['acme/search@1.0.0', 'one'],
      ['acme/search@2.0.0', 'three'],
    ]);
    expect(brief(errors, root)).toEqual([{ file: 'two/skill.yaml', path: 'skill_id' }]);
    expect(errors[0]!.message).toMatch(/duplicate skill acme\/search@1\.0\.0/);
  });

  it('finds namespaced folders, stops at a skill folder and skips node_modules and dot-folders', async () => {
    const { skills } = await load({
      ...toolSkillFiles('acme/search', 'acme/search'),
      ...toolSkillFiles('acme/search/nested', 'acme/nested'),
      ...toolSkillFiles('node_modules/pkg', 'acme/pkg'),
      ...toolSkillFiles('.hidden/x', 'acme/hidden'),
      ...toolSkillFiles('top', 'acme/top'),
    });
    expect(skills.map((s) => s.id).sort()).toEqual(['acme/search', 'acme/top']);
  });

  it('reports a missing directory and still loads the others', async () => {
    const root = await dirs.make();
    await writeFiles(root, toolSkillFiles('a', 'acme/a'));
    const missing = path.join(root, 'missing');
    const { skills, errors } = await loadSkillsFromDirectories([missing, root], { strict: true });
    expect(skills.map((s) => s.id)).toEqual(['acme/a']);
    expect(errors).toEqual([
      { file: missing, path: '', code: 'skills_dir_unreadable', message: 'skills directory does not exist' },
    ]);
  });

  it('stops when the signal is aborted', async () => {
    const root = await dirs.make();
    await expect(
      loadSkillsFromDirectories([root], { strict: true, signal: AbortSignal.abort() }),
    ).rejects.toThrow();
  });
});

describe('loadSkillsFromDirectories: SKILL.md', () => {
  const agentSkill = (name: string, extra = '') =>
    `---\nname: ${name}\ndescription: Review code.\n${extra}---\n\n# Review\n\nFind the bugs.\n`;

  it('loads a plain Agent Skills folder as a local/<name> prompt skill with no permissions', async () => {
    const { root, skills, errors } = await load({
      'code-review/SKILL.md': agentSkill('code-review', 'license: MIT\nmetadata:\n  author: me\n'),
      'code-review/scripts/run.sh': 'echo hi\n',
    });
    expect(errors).toEqual([]);
    const skill = skills[0]!;
    expect(skill).toMatchObject({
      id: 'local/code-review',
      version: '0.0.0',
      ref: 'local/code-review@0.0.0',
      toolName: 'local__code-review',
      source: 'agent-skill',
      file: path.join(root, 'code-review', 'SKILL.md'),
      inputSchema: AGENT_SKILL_INPUT_SCHEMA,
    });
    expect(skill.manifest).toMatchObject({
      kind: 'prompt',
      description: 'Review code.',
      permissions: { fs: { read: [], write: [] }, network: [], shell: false },
      roots: [],
    });
    expect(skill.manifest.entry).toBeUndefined();
    expect(skill.manifest.command).toBeUndefined();
  });

  it('reads the body only when the prompt is used', async () => {
    const { root, skills } = await load({ 'code-review/SKILL.md': agentSkill('code-review') });
    await expect(skills[0]!.loadPrompt()).resolves.toBe('\n# Review\n\nFind the bugs.\n');
    // The body is read on use, so an edit after load is what the next use sees.
    await writeFile(
      path.join(root, 'code-review', 'SKILL.md'),
      agentSkill('code-review').replace('bugs', 'typos'),
    );
    await expect(skills[0]!.loadPrompt()).resolves.toMatch(/Find the typos/);
  });

  it('parses only the front matter at load, so a body that is not YAML never matters', async () => {
    const body = `${'- : not yaml: [\n'.repeat(20_000)}`;
    const { errors, skills } = await load({ 'big/SKILL.md': `${agentSkill('big')}${body}` });
    expect(errors).toEqual([]);
    expect(skills).toHaveLength(1);
  });

  it('accepts and ignores OpenClaw keys (user-invocable, metadata.openclaw)', async () => {
    const { skills, errors } = await load({
      'oc/SKILL.md': agentSkill(
        'oc',
        'user-invocable: true\nmetadata:\n  openclaw: {emoji: x, requires: {bins: [git]}}\n',
      ),
    });
    expect(errors).toEqual([]);
    expect(skills[0]!.manifest).not.toHaveProperty('user-invocable');
  });

  it('rejects a name that differs from the folder name', async () => {
    const { root, skills, errors } = await load({ 'review/SKILL.md': agentSkill('code-review') });
    expect(skills).toEqual([]);
    expect(brief(errors, root)).toEqual([{ file: 'review/SKILL.md', path: 'name' }]);
    expect(errors[0]!.line).toBe(2);
    expect(errors[0]!.message).toMatch(/folder name "review"/);
  });

  it('rejects a missing description and a malformed name', async () => {
    const { errors } = await load({
      'a/SKILL.md': '---\nname: a\n---\nbody\n',
      'b--x/SKILL.md': '---\nname: b--x\ndescription: d\n---\nbody\n',
    });
    expect(errors.map((e) => e.path)).toEqual(['description', 'name']);
  });

  it('rejects a SKILL.md without front matter or with an unclosed one', async () => {
    const { errors } = await load({ 'a/SKILL.md': '# Just markdown\n', 'b/SKILL.md': '---\nname: b\n' });
    expect(errors.map((e) => e.message)).toEqual([
      'SKILL.md must start with YAML front matter between --- lines',
      'SKILL.md must start with YAML front matter between --- lines',
    ]);
  });

  it('reports front matter syntax errors with the line in SKILL.md', async () => {
    const { errors } = await load({ 'a/SKILL.md': '---\nname: a\ndescription: [oops\n---\nbody\n' });
    expect(errors[0]!.line).toBeGreaterThanOrEqual(3);
    expect(errors[0]!.message).toMatch(/^YAML syntax error at line/);
  });

  it('treats front matter with skill_id as a full manifest, the body being the prompt', async () => {
    const { skills, errors } = await load({
      'greet/SKILL.md':
        '---\nskill_id: acme/greet\nversion: 1.0.0\nkind: prompt\ndescription: Greets.\ntags: [hello]\n---\nHello {{name}}!\n',
    });
    expect(errors).toEqual([]);
    expect(skills[0]).toMatchObject({ id: 'acme/greet', version: '1.0.0', source: 'SKILL.md' });
    expect(skills[0]!.manifest.tags).toEqual(['hello']);
    await expect(skills[0]!.loadPrompt()).resolves.toBe('Hello {{name}}!\n');
  });

  it('validates a full-manifest SKILL.md strictly, with front matter lines', async () => {
    const { errors } = await load({
      'greet/SKILL.md':
        '---\nskill_id: acme/greet\nversion: 1.0.0\nkind: prompt\ndescription: d\nshell: true\n---\nHi\n',
      'empty/SKILL.md': '---\nskill_id: acme/empty\nversion: 1.0.0\nkind: prompt\ndescription: d\n---\n\n',
    });
    expect(errors.map((e) => [path.basename(path.dirname(e.file)), e.path, e.line])).toEqual([
      ['empty', 'prompt', undefined],
      ['greet', 'shell', 6],
    ]);
  });
});
