import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ShellExecutor, renderArgv } from '../../src/skills/executors/shell.js';
import { SkillPolicy } from '../../src/skills/policy.js';
import type { PolicyConfig } from '../../src/skills/policy.js';
import type { Skill } from '../../src/skills/types.js';
import { cleanup, isAlive, makeSkill, makeTempDir, neverAborted, writeFiles } from './helpers.js';

const allowShell: PolicyConfig = {
  allowShell: true,
  allowNetwork: false,
  allowedRoots: [],
  requireApprovalTags: [],
};

let parent: string;
let counter = 0;

async function shellSkill(command: string[], manifest: Record<string, unknown> = {}): Promise<Skill> {
  counter += 1;
  const dir = join(parent, `s${counter}`);
  await writeFiles(dir, { 'work/.keep': '' });
  return makeSkill(dir, {
    skill_id: `t/sh${counter}`,
    command,
    roots: ['work'],
    permissions: { shell: true },
    ...manifest,
  });
}

async function waitGone(pid: number, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return !isAlive(pid);
}

describe('ShellExecutor', () => {
  beforeAll(async () => {
    parent = await makeTempDir('skillplane-shell-');
  });
  afterAll(() => cleanup([parent]));

  it('runs when both the manifest and the config grant shell', async () => {
    const skill = await shellSkill(['echo', 'hello {{name}}']);
    const out = await new ShellExecutor({ policy: new SkillPolicy(allowShell) }).execute(
      skill,
      { name: 'world' },
      { signal: neverAborted() },
    );
    expect(out).toEqual({ stdout: 'hello world\n', stderr: '', exit_code: 0 });
  });

  it('is refused before spawning when the config denies shell', async () => {
    const marker = join(parent, 'spawned-config');
    const skill = await shellSkill(['touch', marker]);
    const exec = new ShellExecutor({ policy: new SkillPolicy({ ...allowShell, allowShell: false }) });
    await expect(exec.execute(skill, {}, { signal: neverAborted() })).rejects.toMatchObject({
      code: 'permission_denied',
    });
    await expect(readFile(marker)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('is refused before spawning when the manifest does not ask for shell', async () => {
    const marker = join(parent, 'spawned-manifest');
    const built = await shellSkill(['touch', marker]);
    // The schema refuses a command without shell; a skill object built some other way must still be refused.
    const skill: Skill = {
      ...built,
      manifest: { ...built.manifest, permissions: { ...built.manifest.permissions, shell: false } },
    };
    const exec = new ShellExecutor({ policy: new SkillPolicy(allowShell) });
    await expect(exec.execute(skill, {}, { signal: neverAborted() })).rejects.toMatchObject({
      code: 'permission_denied',
    });
    await expect(readFile(marker)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('keeps an injection attempt as one literal argument', async () => {
    const evil = '"; rm -rf / ; echo "$(id)';
    const skill = await shellSkill([
      process.execPath,
      '-e',
      'console.log(JSON.stringify(process.argv.slice(1)))',
      '{{q}}',
    ]);
    const out = await new ShellExecutor({ policy: new SkillPolicy(allowShell) }).execute(
      skill,
      { q: evil },
      { signal: neverAborted() },
    );
    expect(out).toEqual([evil]);
    expect(renderArgv(['a', 'x={{q}}', '{{n}}', '{{b}}'], { q: 'a b;c', n: 3, b: false })).toEqual([
      'a',
      'x=a b;c',
      '3',
      'false',
    ]);
  });

  it('rejects placeholder values that are not scalars', async () => {
    const skill = await shellSkill(['echo', '{{q}}']);
    const exec = new ShellExecutor({ policy: new SkillPolicy(allowShell) });
    for (const q of [{ a: 1 }, ['x'], null]) {
      await expect(exec.execute(skill, { q }, { signal: neverAborted() })).rejects.toMatchObject({
        code: 'validation_failed',
      });
    }
  });

  it('passes the input on stdin, parses JSON stdout and runs in the first root with a minimal env', async () => {
    process.env.SKILLPLANE_TEST_SECRET = 'hunter2';
    try {
      const script = `let s='';process.stdin.on('data',(c)=>(s+=c));process.stdin.on('end',()=>console.log(JSON.stringify({input:JSON.parse(s),cwd:process.cwd(),env:process.env})));`;
      const skill = await shellSkill([process.execPath, '-e', script]);
      const traceparent = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';
      const out = (await new ShellExecutor({ policy: new SkillPolicy(allowShell) }).execute(
        skill,
        { a: [1, 2] },
        { signal: neverAborted(), traceparent },
      )) as { input: unknown; cwd: string; env: Record<string, string> };
      expect(out.input).toEqual({ a: [1, 2] });
      expect(out.cwd).toBe(join(skill.dir, 'work'));
      expect(Object.keys(out.env).sort()).toEqual(['HOME', 'LANG', 'PATH', 'SKILLPLANE_TRACEPARENT']);
      expect(out.env).toMatchObject({
        HOME: join(skill.dir, 'work'),
        LANG: 'C.UTF-8',
        SKILLPLANE_TRACEPARENT: traceparent,
      });
    } finally {
      delete process.env.SKILLPLANE_TEST_SECRET;
    }
  });

  it('fails with skill_failed, the exit code and the stderr tail on a non-zero exit', async () => {
    const skill = await shellSkill([process.execPath, '-e', 'console.error("bad thing"); process.exit(4)']);
    await expect(
      new ShellExecutor({ policy: new SkillPolicy(allowShell) }).execute(
        skill,
        {},
        { signal: neverAborted() },
      ),
    ).rejects.toMatchObject({
      code: 'skill_failed',
      data: { exit_code: 4, stderr: expect.stringContaining('bad thing') },
    });
  });

  it('fails with skill_failed when the command does not exist', async () => {
    const skill = await shellSkill(['skillplane-no-such-command-xyz']);
    await expect(
      new ShellExecutor({ policy: new SkillPolicy(allowShell) }).execute(
        skill,
        {},
        { signal: neverAborted() },
      ),
    ).rejects.toMatchObject({ code: 'skill_failed' });
  });

  it('kills the process group on timeout', async () => {
    const pidFile = 'pid.txt';
    // The child starts a grandchild and waits; both must die.
    const script = `const cp=require('node:child_process');const g=cp.spawn(process.execPath,['-e','setTimeout(()=>{},60000)'],{stdio:'ignore'});require('node:fs').writeFileSync('${pidFile}',String(g.pid));setTimeout(()=>{},60000);`;
    const skill = await shellSkill([process.execPath, '-e', script], { timeouts: { execute_sec: 0.5 } });
    await expect(
      new ShellExecutor({ policy: new SkillPolicy(allowShell) }).execute(
        skill,
        {},
        { signal: neverAborted() },
      ),
    ).rejects.toMatchObject({ code: 'timeout' });
    const grandchild = Number(await readFile(join(skill.dir, 'work', pidFile), 'utf8'));
    expect(await waitGone(grandchild, 1000)).toBe(true);
  });

  it('kills the process group on abort', async () => {
    const script = `require('node:fs').writeFileSync('pid.txt',String(process.pid));setTimeout(()=>{},60000);`;
    const skill = await shellSkill([process.execPath, '-e', script]);
    const controller = new AbortController();
    const call = new ShellExecutor({ policy: new SkillPolicy(allowShell) }).execute(
      skill,
      {},
      { signal: controller.signal },
    );
    const pidPath = join(skill.dir, 'work', 'pid.txt');
    let pid = 0;
    for (let i = 0; i < 200 && pid === 0; i++) {
      pid = Number(await readFile(pidPath, 'utf8').catch(() => '0'));
      if (pid === 0) await new Promise((r) => setTimeout(r, 10));
    }
    const abortedAt = performance.now();
    controller.abort();
    await expect(call).rejects.toMatchObject({ code: 'cancelled' });
    expect(performance.now() - abortedAt).toBeLessThan(500);
    expect(isAlive(pid)).toBe(false);
  });
});
