import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../src/testing/index.js';
import { startSecurityServer, type SecurityServer } from './sandbox-harness.js';

/*
 * Hostile skill folders: a symlink loop (item 14: serve used to never listen), a manifest of many
 * megabytes (low: read whole before any check) and a YAML alias bomb. `serve` must start, list
 * the bad folders as load errors and serve the good skill.
 */

let server: SecurityServer;

beforeAll(async () => {
  server = await startSecurityServer({
    config: { skills: { watch: true } },
    skills: { good: { code: 'export default async () => "good"' } },
    prepare: ({ skillsDir }) => {
      // Loops: a link to the skills folder itself, and a folder whose child links to its parent.
      symlinkSync(skillsDir, join(skillsDir, 'loop'));
      mkdirSync(join(skillsDir, 'nest', 'inner'), { recursive: true });
      symlinkSync(join(skillsDir, 'nest'), join(skillsDir, 'nest', 'inner', 'up'));
      symlinkSync('/', join(skillsDir, 'root-link'));
      // 24 MB of manifest.
      mkdirSync(join(skillsDir, 'huge'), { recursive: true });
      writeFileSync(
        join(skillsDir, 'huge', 'skill.yaml'),
        `skill_id: attack/huge\nversion: 1.0.0\nkind: tool\ndescription: "${'x'.repeat(24 * 1024 * 1024)}"\n`,
      );
      // A billion laughs.
      mkdirSync(join(skillsDir, 'bomb'), { recursive: true });
      const lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]'];
      for (let i = 1; i < 12; i++) {
        const prev = String.fromCharCode(96 + i);
        const next = String.fromCharCode(97 + i);
        lines.push(`${next}: &${next} [${Array(9).fill(`*${prev}`).join(',')}]`);
      }
      writeFileSync(join(skillsDir, 'bomb', 'skill.yaml'), `skill_id: attack/bomb\n${lines.join('\n')}\n`);
    },
  });
}, 60_000);

afterAll(async () => {
  await server?.close();
});

describe('hostile skill folders', () => {
  it('item 14 and low: serve listens, lists every bad folder and serves the good skill', async () => {
    expect(await server.healthy()).toBe(true);
    expect((await server.execute('attack/good', {})).body.output).toBe('good');
    const out = server.output();
    expect(out).toMatch(/more than the limit of 1048576/);
    expect(out).toMatch(/alias|Excessive/i);
    const list = (await (await fetch(`${server.url}/v1/skills`)).json()) as { skills: { id: string }[] };
    expect(list.skills.map((s) => s.id)).toEqual(['attack/good']);
  });

  it('item 14: the watcher does not follow links: a new skill is still picked up', async () => {
    const dir = join(server.skillsDir, 'later');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'index.mjs'), 'export default async () => "later"');
    writeFileSync(
      join(dir, 'skill.yaml'),
      JSON.stringify({
        skill_id: 'attack/later',
        version: '1.0.0',
        kind: 'tool',
        description: 'later',
        entry: './index.mjs',
      }),
    );
    const ran = await until(
      async () => (await server.execute('attack/later', {})).body.output === 'later',
      10_000,
      'the watcher to load attack/later',
      100,
    );
    expect(ran).toBe(true);
  });
});
