import { mkdir, symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ApprovalRequiredError, PermissionDeniedError } from '../../src/errors/index.js';
import { SkillPolicy, policyConfigFrom } from '../../src/skills/policy.js';
import type { PolicyConfig } from '../../src/skills/policy.js';
import { cleanup, makeSkill, makeTempDir, writeFiles } from './helpers.js';

const base: PolicyConfig = {
  allowShell: false,
  allowNetwork: true,
  allowedRoots: [],
  requireApprovalTags: ['destructive', 'external_side_effect'],
};

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    return (err as { code?: string }).code;
  }
  return undefined;
}

describe('SkillPolicy', () => {
  let dir: string;
  let shared: string;
  let outside: string;

  beforeAll(async () => {
    dir = await makeTempDir();
    shared = await makeTempDir('skillplane-shared-');
    outside = await makeTempDir('skillplane-outside-');
    await writeFiles(dir, { 'index.mjs': 'export default () => 1', 'docs/a.txt': 'a', 'out/.keep': '' });
    await writeFiles(shared, { 'data/b.txt': 'b' });
    await writeFiles(outside, { 'secret.txt': 's' });
    await symlink(outside, join(dir, 'docs', 'escape'));
  });
  afterAll(() => cleanup([dir, shared, outside]));

  it('maps the skills config section', () => {
    expect(
      policyConfigFrom({
        allow_shell: true,
        allow_network: false,
        allowed_roots: ['/x'],
        require_approval_tags: ['a'],
      }),
    ).toEqual({ allowShell: true, allowNetwork: false, allowedRoots: ['/x'], requireApprovalTags: ['a'] });
  });

  it('resolves roots and fs paths to realpaths with the skill folder always readable', () => {
    const policy = new SkillPolicy({ ...base, allowedRoots: [shared] });
    const skill = makeSkill(dir, {
      skill_id: 't/a',
      entry: './index.mjs',
      roots: ['docs/', join(shared, 'data')],
      permissions: {
        fs: { read: ['docs/a.txt'], write: [join(shared, 'data')] },
        network: ['api.example.com'],
      },
    });
    expect(policy.effectivePermissions(skill)).toEqual({
      fsRead: [dir, join(shared, 'data')],
      fsWrite: [join(shared, 'data')],
      network: ['api.example.com'],
      shell: false,
      roots: [join(dir, 'docs'), join(shared, 'data')],
    });
  });

  it('never grants write over the skill folder itself (its manifest and code)', () => {
    const policy = new SkillPolicy({ ...base, allowedRoots: [shared, dir] });
    for (const write of ['out/', '.', join(dir, 'index.mjs')]) {
      const skill = makeSkill(dir, {
        skill_id: 't/a',
        entry: './index.mjs',
        roots: ['.'],
        permissions: { fs: { write: [write] } },
      });
      expect(() => policy.effectivePermissions(skill), write).toThrow(/covers the skill folder itself/);
    }
  });

  it('empties the network list when the config denies network', () => {
    const policy = new SkillPolicy({ ...base, allowNetwork: false });
    const skill = makeSkill(dir, {
      skill_id: 't/a',
      entry: './index.mjs',
      permissions: { network: ['*.example.com'] },
    });
    expect(policy.effectivePermissions(skill).network).toEqual([]);
    expect(() => policy.check(skill)).not.toThrow();
  });

  it('refuses an absolute root that is not in allowed_roots', () => {
    const skill = makeSkill(dir, { skill_id: 't/a', entry: './index.mjs', roots: [shared] });
    const err = (() => {
      try {
        new SkillPolicy(base).effectivePermissions(skill);
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(PermissionDeniedError);
    expect((err as PermissionDeniedError).message).toContain('roots[0]');
  });

  it('accepts an absolute root inside allowed_roots and reads from it', () => {
    const policy = new SkillPolicy({ ...base, allowedRoots: [shared] });
    const skill = makeSkill(dir, {
      skill_id: 't/a',
      entry: './index.mjs',
      roots: [join(shared, 'data')],
      permissions: { fs: { read: [join(shared, 'data', 'b.txt')] } },
    });
    const perms = policy.effectivePermissions(skill);
    expect(perms.roots).toEqual([join(shared, 'data')]);
    expect(perms.fsRead).toEqual([dir, join(shared, 'data')]);
  });

  it('refuses a relative root that climbs out of the skill folder', () => {
    const skill = makeSkill(dir, { skill_id: 't/a', entry: './index.mjs', roots: ['../../'] });
    expect(codeOf(() => new SkillPolicy(base).effectivePermissions(skill))).toBe('permission_denied');
  });

  it('refuses a root that escapes through a symlink', () => {
    const skill = makeSkill(dir, { skill_id: 't/a', entry: './index.mjs', roots: ['docs/escape'] });
    expect(codeOf(() => new SkillPolicy(base).effectivePermissions(skill))).toBe('permission_denied');
  });

  it('refuses fs.read and fs.write outside the roots, naming the field', () => {
    const policy = new SkillPolicy(base);
    const read = makeSkill(dir, {
      skill_id: 't/a',
      entry: './index.mjs',
      roots: ['docs'],
      permissions: { fs: { read: ['/etc/passwd'] } },
    });
    expect(() => policy.effectivePermissions(read)).toThrow(/permissions\.fs\.read\[0\]/);
    const write = makeSkill(dir, {
      skill_id: 't/a',
      entry: './index.mjs',
      roots: ['docs'],
      permissions: { fs: { write: ['docs/../../x'] } },
    });
    expect(() => policy.effectivePermissions(write)).toThrow(/permissions\.fs\.write\[0\]/);
    const link = makeSkill(dir, {
      skill_id: 't/a',
      entry: './index.mjs',
      roots: ['docs'],
      permissions: { fs: { read: ['docs/escape/secret.txt'] } },
    });
    expect(codeOf(() => policy.effectivePermissions(link))).toBe('permission_denied');
  });

  it('allows fs paths inside the skill folder without roots, even ones that do not exist yet', () => {
    const skill = makeSkill(dir, {
      skill_id: 't/a',
      entry: './index.mjs',
      permissions: { fs: { read: ['new/deeper/file.txt'] } },
    });
    expect(new SkillPolicy(base).effectivePermissions(skill).fsRead).toEqual([dir]);
  });

  it('throws approval_required for a risk-tagged skill and passes with an approval', () => {
    const policy = new SkillPolicy(base);
    const skill = makeSkill(dir, {
      skill_id: 't/a',
      entry: './index.mjs',
      risk_tags: ['destructive', 'slow'],
    });
    expect(() => policy.check(skill)).toThrow(ApprovalRequiredError);
    expect(codeOf(() => policy.check(skill))).toBe('approval_required');
    expect(() => policy.check(skill, { approval: { approved_by: 'alice' } })).not.toThrow();
    const untagged = makeSkill(dir, { skill_id: 't/a', entry: './index.mjs', risk_tags: ['slow'] });
    expect(() => policy.check(untagged)).not.toThrow();
  });

  it('refuses a command skill unless both the manifest and the config grant shell', () => {
    const shellSkill = makeSkill(dir, {
      skill_id: 't/s',
      command: ['echo', 'hi'],
      permissions: { shell: true },
    });
    expect(codeOf(() => new SkillPolicy(base).check(shellSkill))).toBe('permission_denied');
    expect(() => new SkillPolicy({ ...base, allowShell: true }).check(shellSkill)).not.toThrow();
    // The manifest schema already requires shell for a command; simulate a skill built without it.
    const noShell = {
      ...shellSkill,
      manifest: { ...shellSkill.manifest, permissions: { ...shellSkill.manifest.permissions, shell: false } },
    };
    expect(() => new SkillPolicy({ ...base, allowShell: true }).check(noShell)).toThrow(/permissions\.shell/);
  });

  it('resolveInsideRoots resolves .. and symlinks by realpath', async () => {
    const policy = new SkillPolicy(base);
    const docs = join(dir, 'docs');
    expect(policy.resolveInsideRoots('a.txt', [docs], { mustExist: true })).toBe(join(docs, 'a.txt'));
    expect(policy.resolveInsideRoots('not/yet.txt', [docs])).toBe(join(docs, 'not/yet.txt'));
    expect(codeOf(() => policy.resolveInsideRoots('../index.mjs', [docs]))).toBe('permission_denied');
    expect(codeOf(() => policy.resolveInsideRoots('/etc/passwd', [docs]))).toBe('permission_denied');
    expect(codeOf(() => policy.resolveInsideRoots('escape/secret.txt', [docs]))).toBe('permission_denied');
    expect(codeOf(() => policy.resolveInsideRoots('escape/new.txt', [docs]))).toBe('permission_denied');
    expect(codeOf(() => policy.resolveInsideRoots('missing.txt', [docs], { mustExist: true }))).toBe(
      'permission_denied',
    );
    await mkdir(join(docs, 'sub'), { recursive: true });
    expect(policy.resolveInsideRoots('sub/../a.txt', [docs])).toBe(join(docs, 'a.txt'));
  });
});
