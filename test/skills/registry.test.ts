import { describe, expect, it, vi } from 'vitest';
import { NotFoundError } from '../../src/errors/index.js';
import { lenientManifestSchema, toolNameFor } from '../../src/skills/manifest.js';
import { SkillRegistry } from '../../src/skills/registry.js';
import type { SkillsChangedEvent } from '../../src/skills/registry.js';
import type { Skill } from '../../src/skills/types.js';

function makeSkill(
  id: string,
  version: string,
  opts: {
    kind?: 'tool' | 'prompt';
    tags?: string[];
    risk_tags?: string[];
    mtimeMs?: number;
    description?: string;
  } = {},
): Skill {
  const kind = opts.kind ?? 'tool';
  const manifest = lenientManifestSchema.parse({
    skill_id: id,
    version,
    kind,
    description: opts.description ?? `${id} ${version}`,
    tags: opts.tags ?? [],
    risk_tags: opts.risk_tags ?? [],
    ...(kind === 'tool' ? { entry: './index.mjs' } : { prompt: 'Hi' }),
  });
  return {
    id,
    version,
    ref: `${id}@${version}`,
    toolName: toolNameFor(id),
    manifest,
    dir: `/skills/${id}`,
    file: `/skills/${id}/skill.yaml`,
    source: 'skill.yaml',
    inputSchema: manifest.input_schema,
    outputSchema: undefined,
    loadPrompt: () => Promise.resolve('Hi'),
    mtimeMs: opts.mtimeMs ?? 1,
  };
}

function sample(): SkillRegistry {
  return new SkillRegistry([
    makeSkill('acme/search', '1.2.0', { tags: ['web'] }),
    makeSkill('acme/search', '1.10.1', { tags: ['web'] }),
    makeSkill('acme/search', '2.0.0-beta.1', { tags: ['web'] }),
    makeSkill('acme/search', '0.9.0'),
    makeSkill('acme/delete', '1.0.0', { risk_tags: ['destructive'] }),
    makeSkill('tools/summarize', '3.0.0', { kind: 'prompt', tags: ['text'] }),
    makeSkill('beta/only', '1.0.0-rc.1'),
    makeSkill('beta/only', '1.0.0-rc.2'),
  ]);
}

describe('SkillRegistry bare names (Opta-LMX clients send them)', () => {
  const registry = new SkillRegistry([
    makeSkill('default/echo', '1.0.0'),
    makeSkill('default/echo', '1.1.0'),
    makeSkill('team/echo', '9.0.0'),
    makeSkill('team/planner', '2.0.0'),
    makeSkill('a/twin', '1.0.0'),
    makeSkill('b/twin', '1.0.0'),
  ]);

  it('resolves a name in one namespace, and prefers `default` when several have it', () => {
    expect(registry.get('planner')?.ref).toBe('team/planner@2.0.0');
    expect(registry.get('echo')?.ref).toBe('default/echo@1.1.0');
    expect(registry.get('echo@1.0.0')?.ref).toBe('default/echo@1.0.0');
    expect(registry.get('echo@^1')?.ref).toBe('default/echo@1.1.0');
  });

  it('refuses a name several namespaces share without `default`, naming the candidates', () => {
    expect(registry.get('twin')).toBeUndefined();
    expect(() => registry.resolve('twin')).toThrow(
      expect.objectContaining({ code: 'ambiguous_skill', data: { candidates: ['a/twin', 'b/twin'] } }),
    );
    expect(() => registry.resolve('nothing')).toThrow(expect.objectContaining({ code: 'not_found' }));
  });

  it('keeps ids and tool names first', () => {
    expect(registry.get('team/echo')?.ref).toBe('team/echo@9.0.0');
    expect(registry.get('team__echo')?.ref).toBe('team/echo@9.0.0');
  });
});

describe('SkillRegistry look-up', () => {
  it('returns the highest release for a bare id, ignoring prereleases', () => {
    expect(sample().get('acme/search')?.version).toBe('1.10.1');
  });

  it('returns the highest prerelease when an id has nothing else', () => {
    expect(sample().get('beta/only')?.version).toBe('1.0.0-rc.2');
  });

  it('returns an exact version, prereleases included', () => {
    const registry = sample();
    expect(registry.get('acme/search@1.2.0')?.ref).toBe('acme/search@1.2.0');
    expect(registry.get('acme/search@2.0.0-beta.1')?.version).toBe('2.0.0-beta.1');
    expect(registry.get('acme/search@1.3.0')).toBeUndefined();
  });

  it('returns the highest version satisfying a semver range', () => {
    const registry = sample();
    expect(registry.get('acme/search@^1.2')?.version).toBe('1.10.1');
    expect(registry.get('acme/search@~1.2')?.version).toBe('1.2.0');
    expect(registry.get('acme/search@<1')?.version).toBe('0.9.0');
    expect(registry.get('acme/search@>=3')).toBeUndefined();
    expect(registry.get('acme/search@not-a-range')).toBeUndefined();
  });

  it('finds a skill by its tool name, with or without a range', () => {
    const registry = sample();
    expect(registry.get('acme__search')?.ref).toBe('acme/search@1.10.1');
    expect(registry.get('acme__search@^1.2 <1.10')?.version).toBe('1.2.0');
    expect(registry.get('tools__summarize')?.id).toBe('tools/summarize');
    expect(registry.get('nobody__here')).toBeUndefined();
  });

  it('finds a skill whose long id gets a hashed tool name', () => {
    const id = `${'n'.repeat(40)}/${'s'.repeat(40)}`;
    const registry = new SkillRegistry([makeSkill(id, '1.0.0')]);
    const toolName = toolNameFor(id);
    expect(toolName.length).toBeLessThanOrEqual(64);
    expect(registry.get(toolName)?.id).toBe(id);
  });

  it('resolve throws NotFoundError with code not_found when nothing fits', () => {
    const registry = sample();
    expect(registry.resolve('acme/search@^1').version).toBe('1.10.1');
    expect(() => registry.resolve('acme/missing')).toThrow(NotFoundError);
    expect(() => registry.resolve('acme/search@9')).toThrow(expect.objectContaining({ code: 'not_found' }));
  });

  it('lists the versions of an id newest first and counts every version', () => {
    const registry = sample();
    expect(registry.versions('acme/search').map((s) => s.version)).toEqual([
      '2.0.0-beta.1',
      '1.10.1',
      '1.2.0',
      '0.9.0',
    ]);
    expect(registry.versions('acme/none')).toEqual([]);
    expect(registry.size).toBe(8);
    expect(registry.has('acme/delete')).toBe(true);
  });
});

describe('SkillRegistry.list', () => {
  const refs = (skills: Skill[]) => skills.map((s) => s.ref);

  it('sorts by id, then version newest first', () => {
    expect(refs(sample().list())).toEqual([
      'acme/delete@1.0.0',
      'acme/search@2.0.0-beta.1',
      'acme/search@1.10.1',
      'acme/search@1.2.0',
      'acme/search@0.9.0',
      'beta/only@1.0.0-rc.2',
      'beta/only@1.0.0-rc.1',
      'tools/summarize@3.0.0',
    ]);
  });

  it('filters by namespace, kind, tag (tags and risk_tags) and latest only', () => {
    const registry = sample();
    expect(refs(registry.list({ namespace: 'tools' }))).toEqual(['tools/summarize@3.0.0']);
    expect(refs(registry.list({ kind: 'prompt' }))).toEqual(['tools/summarize@3.0.0']);
    expect(refs(registry.list({ tag: 'destructive' }))).toEqual(['acme/delete@1.0.0']);
    expect(refs(registry.list({ tag: 'web', latestOnly: true }))).toEqual(['acme/search@1.10.1']);
    expect(refs(registry.list({ latestOnly: true }))).toEqual([
      'acme/delete@1.0.0',
      'acme/search@1.10.1',
      'beta/only@1.0.0-rc.2',
      'tools/summarize@3.0.0',
    ]);
    expect(registry.list({ namespace: 'acm' })).toEqual([]);
  });
});

describe('SkillRegistry.replaceAll', () => {
  it('reports added, changed (mtime or content) and removed refs and emits skills.changed', () => {
    const registry = new SkillRegistry();
    const events: SkillsChangedEvent[] = [];
    registry.on('skills.changed', (e) => events.push(e));
    registry.replaceAll([
      makeSkill('a/one', '1.0.0'),
      makeSkill('a/two', '1.0.0'),
      makeSkill('a/three', '1.0.0'),
    ]);
    const diff = registry.replaceAll([
      makeSkill('a/one', '1.0.0', { mtimeMs: 2 }),
      makeSkill('a/two', '1.0.0', { description: 'new text' }),
      makeSkill('a/four', '1.0.0'),
    ]);
    expect(diff).toEqual({
      added: ['a/four@1.0.0'],
      changed: ['a/one@1.0.0', 'a/two@1.0.0'],
      removed: ['a/three@1.0.0'],
    });
    expect(events).toEqual([
      { added: ['a/one@1.0.0', 'a/three@1.0.0', 'a/two@1.0.0'], changed: [], removed: [] },
      diff,
    ]);
    expect(registry.get('a/three')).toBeUndefined();
    expect(registry.get('a/two')?.manifest.description).toBe('new text');
  });

  it('prefers the loader fingerprint when a skill carries one', () => {
    const registry = new SkillRegistry([{ ...makeSkill('a/one', '1.0.0'), fingerprint: 'x' } as Skill]);
    const diff = registry.replaceAll([{ ...makeSkill('a/one', '1.0.0'), fingerprint: 'y' } as Skill]);
    expect(diff.changed).toEqual(['a/one@1.0.0']);
  });

  it('does not emit when nothing changed', () => {
    const registry = new SkillRegistry([makeSkill('a/one', '1.0.0')]);
    const listener = vi.fn();
    registry.on('skills.changed', listener);
    expect(registry.replaceAll([makeSkill('a/one', '1.0.0')])).toEqual({
      added: [],
      changed: [],
      removed: [],
    });
    expect(listener).not.toHaveBeenCalled();
  });

  it('treats a new version of an id as added beside the old one', () => {
    const registry = new SkillRegistry([makeSkill('a/one', '1.0.0')]);
    const diff = registry.replaceAll([makeSkill('a/one', '1.0.0'), makeSkill('a/one', '1.1.0')]);
    expect(diff.added).toEqual(['a/one@1.1.0']);
    expect(registry.get('a/one')?.version).toBe('1.1.0');
    expect(registry.get('a/one@1.0.0')).toBeDefined();
  });
});
