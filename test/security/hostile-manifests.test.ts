import { mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { loadAgentFiles } from '../../src/agents/definitions.js';
import { loadSkillsFromDirectories } from '../../src/skills/loader.js';
import { tempDirs, toolSkillFiles, writeFiles } from '../skills/skill-fixtures.js';

/*
 * Hostile skill folders and agent files, at the loaders: each bad one fails alone with a clear
 * code (skills) or an issue naming its file (agents), the good ones load, nothing throws or hangs.
 * `serve` over a symlink loop, a 24 MB manifest and a billion laughs is sandbox-loading.test.ts.
 */

const SEED = 42;
const dirs = tempDirs('skillplane-hostile-');
afterEach(() => dirs.cleanup());

/** A YAML billion laughs: 9^depth expansions from a few hundred bytes. */
function aliasBomb(depth = 12): string {
  const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
  for (let i = 1; i < depth; i++) {
    const prev = String.fromCharCode(96 + i);
    const next = String.fromCharCode(97 + i);
    lines.push(`${next}: &${next} [${Array(9).fill(`*${prev}`).join(',')}]`);
  }
  return `${lines.join('\n')}\n`;
}

const skillHead = (id: string) =>
  `skill_id: ${id}\nversion: 1.0.0\nkind: tool\ndescription: d\nentry: ./index.mjs\n`;

describe('hostile skill folders at the loader', () => {
  it('fails each hostile skill alone with a code and keeps the good one', async () => {
    const root = await dirs.make();
    await writeFiles(root, {
      ...toolSkillFiles('good', 'acme/good'),
      'bomb/skill.yaml': `${skillHead('attack/bomb')}${aliasBomb()}`,
      'dupkeys/skill.yaml': `${skillHead('attack/dup')}kind: prompt\n`,
      'dupkeys/index.mjs': 'export default async () => 1;\n',
      'deep/skill.yaml': `${skillHead('attack/deep')}input_schema: ${'['.repeat(5000)}${']'.repeat(5000)}\n`,
      'deep/index.mjs': 'export default async () => 1;\n',
      'huge/skill.yaml': `${skillHead('attack/huge')}x: "${'x'.repeat(3 * 1024 * 1024)}"\n`,
      'protokeys/skill.yaml': `${skillHead('attack/proto')}__proto__: {polluted: 1}\nconstructor: {prototype: {polluted: 1}}\n`,
      'protokeys/index.mjs': 'export default async () => 1;\n',
    });
    await mkdir(path.join(root, 'latin1'));
    await writeFile(
      path.join(root, 'latin1', 'skill.yaml'),
      Buffer.concat([
        Buffer.from(skillHead('attack/latin1')),
        Buffer.from('x: "\xff\xfe\xc0\xae"\n', 'latin1'),
      ]),
    );
    await writeFile(path.join(root, 'latin1', 'index.mjs'), 'export default async () => 1;\n');
    await symlink(root, path.join(root, 'loop'));
    await mkdir(path.join(root, 'linkedentry'));
    await writeFile(path.join(root, 'linkedentry', 'skill.yaml'), skillHead('attack/linkedentry'));
    await symlink('/etc/passwd', path.join(root, 'linkedentry', 'index.mjs'));

    const { skills, errors } = await loadSkillsFromDirectories([root], { strict: true });
    expect(skills.map((s) => s.id)).toEqual(['acme/good']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const byFolder = new Map<string, string[]>();
    for (const e of errors) {
      const folder = path.relative(root, e.file).split(path.sep)[0] ?? '';
      byFolder.set(folder, [...(byFolder.get(folder) ?? []), String(e.code)]);
    }
    for (const folder of ['bomb', 'dupkeys', 'deep', 'huge', 'protokeys', 'latin1', 'linkedentry'])
      expect(byFolder.get(folder), `${folder}: ${JSON.stringify(errors)}`).toEqual(
        expect.arrayContaining([expect.stringMatching(/^[a-z_]+$/)]),
      );
    expect(byFolder.get('huge')).toContain('manifest_too_large');
    // The loop loads nothing twice (acme/good is the only skill). A symlinked skill *folder*
    // pointing outside the root is followed by discovery on purpose (linked installs), so it is
    // not a case here; links *inside* a skill folder that leave it are refused (linkedentry).
  }, 20_000);

  it('loads or refuses fast-check mutated manifests without throwing', async () => {
    const root = await dirs.make();
    await writeFiles(root, toolSkillFiles('good', 'acme/good'));
    const junk = fc.oneof(
      fc.string({ maxLength: 200 }),
      fc.constantFrom(
        '&a [*a]',
        '*nope',
        '!!js/function "x"',
        '!!binary AAAA',
        '? [a]\n: b',
        '<<: *a',
        '\t- x',
        '"',
      ),
      fc.uint8Array({ maxLength: 100 }).map((b) => Buffer.from(b).toString('latin1')),
    );
    let n = 0;
    await fc.assert(
      fc.asyncProperty(
        junk,
        fc.constantFrom('skill_id', 'version', 'kind', 'description', 'entry', 'input_schema'),
        async (value, key) => {
          const folder = path.join(root, `m${n++}`);
          await writeFiles(folder, {
            'skill.yaml': skillHead('fuzz/skill').includes(`${key}:`)
              ? skillHead('fuzz/skill').replace(new RegExp(`^${key}:.*$`, 'm'), () => `${key}: ${value}`)
              : `${skillHead('fuzz/skill')}${key}: ${value}\n`,
            'index.mjs': 'export default async () => 1;\n',
          });
          const { skills, errors } = await loadSkillsFromDirectories([root], { strict: true });
          expect(skills.map((s) => s.id)).toContain('acme/good');
          for (const e of errors)
            expect(typeof e.code, `seed=${SEED} ${key}: ${JSON.stringify(value)}`).toBe('string');
          await rm(folder, { recursive: true, force: true });
        },
      ),
      { seed: SEED, numRuns: 30 },
    );
  }, 20_000);
});

describe('hostile agent files at the loader', () => {
  it('reports each hostile agent file as an issue naming it and keeps the good one, never throws', async () => {
    const dir = await dirs.make();
    await writeFiles(dir, {
      'good.yaml': 'name: good\ninstructions: be good\n',
      'bomb.yaml': `name: bomb\ninstructions: x\n${aliasBomb()}`,
      'dupkeys.yaml': 'name: dup\nname: dup2\ninstructions: x\n',
      'deep.yaml': `name: deep\ninstructions: x\nx: ${'['.repeat(5000)}${']'.repeat(5000)}\n`,
      'huge.yaml': `name: huge\ninstructions: "${'x'.repeat(3 * 1024 * 1024)}"\n`,
      'proto.yaml': 'name: proto\ninstructions: x\n__proto__: {polluted: 1}\n',
    });
    await writeFile(
      path.join(dir, 'latin1.yaml'),
      Buffer.from('name: latin1\ninstructions: "\xff\xfe"\n', 'latin1'),
    );
    await mkdir(path.join(dir, 'folder.yaml'));
    await symlink(path.join(dir, 'loop.yaml'), path.join(dir, 'loop.yaml'));

    const { agents, errors } = loadAgentFiles([dir]);
    expect(agents.map((a) => a.name)).toContain('good');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const files = new Set(errors.map((e) => path.basename(String(e.file))));
    for (const f of [
      'bomb.yaml',
      'dupkeys.yaml',
      'deep.yaml',
      'huge.yaml',
      'proto.yaml',
      'folder.yaml',
      'loop.yaml',
    ])
      expect(files, `${f}: ${JSON.stringify(errors).slice(0, 500)}`).toContain(f);
  }, 20_000);
});
