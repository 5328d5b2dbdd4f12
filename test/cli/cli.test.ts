import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = resolve(import.meta.dirname, '..', '..');
const main = join(root, 'src', 'cli', 'main.ts');

async function cli(args: string[], cwd = root): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ['--import', 'tsx', main, ...args], {
      cwd,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
      timeout: 30_000,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

const temp = mkdtempSync(join(tmpdir(), 'sp-cli-'));
afterAll(() => rmSync(temp, { recursive: true, force: true }));

describe('skillplane CLI', () => {
  it('lists the example skills as a table and as JSON', async () => {
    const table = await cli(['skills', 'list']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/files\/read\s+1\.0\.0\s+tool/);
    expect(table.stdout).toMatch(/local\/code-review\s+0\.0\.0\s+prompt/);
    const json = await cli(['skills', 'list', '--json', '--kind', 'tool']);
    const parsed = JSON.parse(json.stdout) as { skills: { id: string; kind: string }[]; errors: unknown[] };
    expect(parsed.errors).toEqual([]);
    expect(parsed.skills.every((s) => s.kind === 'tool')).toBe(true);
    expect(parsed.skills.map((s) => s.id)).toContain('files/write');
  });

  it('shows one skill by range', async () => {
    const r = await cli(['skills', 'show', 'files/write@^1', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      id: 'files/write',
      version: '1.0.0',
      risk_tags: ['destructive'],
    });
  });

  it('validates a folder, listing every error and exiting 1', async () => {
    const dir = join(temp, 'bad-skills');
    mkdirSync(join(dir, 'one'), { recursive: true });
    mkdirSync(join(dir, 'two'), { recursive: true });
    writeFileSync(
      join(dir, 'one', 'skill.yaml'),
      'skill_id: Bad Id\nversion: one\nkind: tool\ndescription: x\nentry: ./x.mjs\n',
    );
    writeFileSync(
      join(dir, 'two', 'skill.yaml'),
      'skill_id: ok/two\nversion: 1.0.0\nkind: prompt\ndescription: fine\nprompt: hi {{name}}\n',
    );
    const r = await cli(['skills', 'validate', dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('ok     ok/two@1.0.0');
    expect(r.stderr).toMatch(/one[/\\]skill\.yaml: skill_id: /);
    expect(r.stderr).toMatch(/one[/\\]skill\.yaml: version: /);
    const json = await cli(['skills', 'validate', dir, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, skills: ['ok/two@1.0.0'] });
  });

  it('validates the examples cleanly', async () => {
    const r = await cli(['skills', 'validate']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/8 valid, 0 error/);
  });

  it('runs a tool skill in the sandbox and prints its output', async () => {
    const r = await cli(['skills', 'run', 'files/search', '--input', '{"query":"approval"}', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { ok: boolean; output: { matches: { path: string }[] } };
    expect(out.ok).toBe(true);
    expect(out.output.matches.map((m) => m.path)).toContain('notes/skillplane.md');
  });

  it('prints the rendered prompt of a prompt skill', async () => {
    const r = await cli([
      'skills',
      'run',
      'text/summarize',
      '--input',
      '{"text":"A long story.","max_words":10}',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('in at most 10 words');
    expect(r.stdout).toContain('A long story.');
  });

  it('refuses a risk-tagged skill without --approve and an invalid input, with codes', async () => {
    const denied = await cli([
      'skills',
      'run',
      'files/write',
      '--input',
      '{"path":"x.md","text":"hi"}',
      '--json',
    ]);
    expect(denied.code).toBe(1);
    expect(JSON.parse(denied.stdout)).toMatchObject({ ok: false, error: { code: 'approval_required' } });
    const invalid = await cli(['skills', 'run', 'files/read', '--input', '{"nope":1}']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('error [input_invalid]');
    const shell = await cli(['skills', 'run', 'files/grep', '--input', '{"pattern":"x"}', '--json']);
    expect(JSON.parse(shell.stdout)).toMatchObject({ ok: false, error: { code: 'permission_denied' } });
  });

  it('stops on a bad config with every problem and no stack trace', async () => {
    const file = join(temp, 'bad.yaml');
    writeFileSync(file, 'agents: {max_parallel_agents: "many"}\nskills: {allow_shell: maybe}\n');
    const r = await cli(['--config', file, 'skills', 'list']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error [config_invalid]');
    expect(r.stderr).toContain('agents.max_parallel_agents');
    expect(r.stderr).toContain('skills.allow_shell');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('runs the demo end to end against the scripted model', async () => {
    const r = await cli(['demo']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('4/4 demo runs completed');
    expect(r.stdout).toMatch(/approval apr_\w+ needed for files\/write/);
  }, 60_000);
});
