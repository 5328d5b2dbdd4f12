import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TimeoutError } from '../../src/errors/index.js';
import { ShellExecutor, renderArgv } from '../../src/skills/executors/shell.js';
import { until } from '../../src/testing/index.js';
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
  await writeFiles(join(parent, `out${counter}`), { '.keep': '' });
  return makeSkill(dir, {
    skill_id: `t/sh${counter}`,
    command,
    roots: ['work'],
    permissions: { shell: true },
    ...manifest,
  });
}

/** Host pids of live processes whose command line holds `marker` (works inside PID namespaces too). */
function processesWith(marker: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/cmdline`, 'utf8').includes(marker) && isAlive(Number(name)))
        pids.push(Number(name));
    } catch {
      // gone meanwhile
    }
  }
  return pids;
}

/** Polls until no process holds `marker`; false at the deadline. */
async function gone(marker: string, ms: number): Promise<boolean> {
  return until(() => processesWith(marker).length === 0, ms).then(
    () => true,
    () => false,
  );
}

/** A signal that aborts with a TimeoutError after `ms`, as the runner's deadline does. */
function deadline(ms: number): AbortSignal {
  const controller = new AbortController();
  setTimeout(() => controller.abort(new TimeoutError(`timed out after ${ms} ms`, ms)), ms).unref();
  return controller.signal;
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
        code: 'input_invalid',
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
      // bubblewrap adds PWD (the working root); nothing of the parent's environment leaks.
      expect(Object.keys(out.env).sort()).toEqual(
        expect.arrayContaining(['HOME', 'LANG', 'PATH', 'SKILLPLANE_TRACEPARENT']),
      );
      expect(
        Object.keys(out.env).every((k) =>
          ['HOME', 'LANG', 'PATH', 'PWD', 'SKILLPLANE_TRACEPARENT'].includes(k),
        ),
      ).toBe(true);
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
    const marker = `sp-shell-${randomUUID()}`;
    // The child starts a grandchild and waits; both must die.
    const script = `const cp=require('node:child_process');cp.spawn(process.execPath,['-e','setTimeout(()=>{},60000)//${marker}'],{stdio:'ignore'});require('node:fs').writeFileSync('started','1');setTimeout(()=>{},60000);`;
    const out = join(parent, `out${counter + 1}`);
    const skill = await shellSkill([process.execPath, '-e', script], {
      roots: [out],
      permissions: { shell: true, fs: { write: [out] } },
    });
    const call = new ShellExecutor({
      policy: new SkillPolicy({ ...allowShell, allowedRoots: [out] }),
    }).execute(skill, {}, { signal: deadline(500) });
    await expect(call).rejects.toMatchObject({ code: 'timeout' });
    expect(await readFile(join(out, 'started'), 'utf8')).toBe('1');
    expect(await gone(marker, 1000)).toBe(true);
  });

  it('kills the process group on abort', async () => {
    const marker = `sp-shell-${randomUUID()}`;
    const script = `require('node:fs').writeFileSync('started','1');setTimeout(()=>{},60000);//${marker}`;
    const out = join(parent, `out${counter + 1}`);
    const skill = await shellSkill([process.execPath, '-e', script], {
      roots: [out],
      permissions: { shell: true, fs: { write: [out] } },
    });
    const controller = new AbortController();
    const call = new ShellExecutor({
      policy: new SkillPolicy({ ...allowShell, allowedRoots: [out] }),
    }).execute(skill, {}, { signal: controller.signal });
    const started = join(out, 'started');
    await until(
      () =>
        readFile(started, 'utf8').then(
          () => true,
          () => false,
        ),
      5000,
      'the command to start',
    );
    expect(processesWith(marker)).not.toHaveLength(0);
    const abortedAt = performance.now();
    controller.abort();
    await expect(call).rejects.toMatchObject({ code: 'cancelled' });
    expect(performance.now() - abortedAt).toBeLessThan(500);
    expect(await gone(marker, 1000)).toBe(true);
  });
});
