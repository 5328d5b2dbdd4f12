import path from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createSkillService, type SkillService } from '../../src/skills/index.js';
import { cleanup, makeTempDir, writeFiles } from './helpers.js';
import { toolSkillFiles } from './skill-fixtures.js';

interface LogLine {
  level: number;
  msg: string;
  file?: string;
  code?: string;
  field?: string;
  line?: number;
  reason?: string;
}

const dirs: string[] = [];
const services: SkillService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.close();
  await cleanup(dirs.splice(0));
});

async function serviceOver(root: string): Promise<{ service: SkillService; lines: LogLine[] }> {
  const lines: LogLine[] = [];
  const logger = pino({ level: 'info' }, { write: (l: string) => lines.push(JSON.parse(l) as LogLine) });
  const loaded = loadConfig({
    cwd: root,
    env: {},
    overrides: { store: { driver: 'memory' }, skills: { directories: [root], watch: false } },
  });
  const service = await createSkillService(loaded, { watch: false, logger });
  services.push(service);
  return { service, lines };
}

const WARN = 40;

describe('skill load and reload errors', () => {
  it('are logged at warn with the file, the field, the line, a code and the reason', async () => {
    const root = await makeTempDir('sp-loadlog-');
    dirs.push(root);
    await writeFiles(root, {
      ...toolSkillFiles('good', 'acme/good'),
      'bad/skill.yaml': 'skill_id: acme/bad\nversion: one\nkind: tool\ndescription: bad\nentry: ./x.mjs\n',
      'bad/x.mjs': 'export default async () => ({});\n',
    });
    const { service, lines } = await serviceOver(root);
    const file = path.join(root, 'bad', 'skill.yaml');
    expect(service.registry.has('acme/good')).toBe(true);
    expect(service.loadErrors).toEqual([
      expect.objectContaining({ file, path: 'version', line: 2, code: 'manifest_invalid' }),
    ]);
    const warn = lines.find((l) => l.file === file);
    expect(warn).toMatchObject({
      level: WARN,
      code: 'manifest_invalid',
      field: 'version',
      line: 2,
      reason: service.loadErrors[0]!.message,
    });
    expect(warn!.msg).toBe(`skill not loaded: ${file}:2 (version): ${service.loadErrors[0]!.message}`);
  });

  it('a reload that breaks a skill logs why, and reports the file and code to the caller', async () => {
    const root = await makeTempDir('sp-reloadlog-');
    dirs.push(root);
    await writeFiles(root, toolSkillFiles('good', 'acme/good'));
    const { service, lines } = await serviceOver(root);
    expect(lines.filter((l) => l.level >= WARN)).toEqual([]);
    const file = path.join(root, 'good', 'skill.yaml');
    await writeFiles(root, { 'good/skill.yaml': 'skill_id: acme/good\nversion: 1.0.0\nkind: [tool\n' });
    const result = await service.reload();
    expect(result.errors).toEqual([expect.objectContaining({ file, code: 'yaml_syntax' })]);
    expect(service.loadErrors).toEqual(result.errors);
    expect(lines.filter((l) => l.level === WARN && l.file === file)).toEqual([
      expect.objectContaining({
        code: 'yaml_syntax',
        msg: expect.stringMatching(/^skill not loaded: .*YAML/),
      }),
    ]);
  });
});
