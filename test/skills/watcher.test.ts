import { once } from 'node:events';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { SkillRegistry } from '../../src/skills/registry.js';
import type { SkillsChangedEvent } from '../../src/skills/registry.js';
import { SkillWatcher } from '../../src/skills/watcher.js';
import type { SkillReloadResult } from '../../src/skills/watcher.js';
import { tempDirs, toolSkillFiles, toolSkillYaml, writeFiles } from './skill-fixtures.js';

const dirs = tempDirs();
const watchers: SkillWatcher[] = [];
afterEach(async () => {
  await Promise.all(watchers.splice(0).map((w) => w.close()));
  await dirs.cleanup();
});

async function setup(files: Record<string, string>, debounceMs = 50) {
  const root = await dirs.make();
  await writeFiles(root, files);
  const registry = new SkillRegistry();
  const watcher = new SkillWatcher({ directories: [root], registry, strict: true, debounceMs });
  watchers.push(watcher);
  return { root, registry, watcher };
}

/** Waits for the next skills.changed, failing after `ms`. */
async function nextChange(registry: SkillRegistry, ms = 10_000): Promise<SkillsChangedEvent> {
  const [event] = (await once(registry, 'skills.changed', { signal: AbortSignal.timeout(ms) })) as [
    SkillsChangedEvent,
  ];
  return event;
}

describe('SkillWatcher', () => {
  it('starts at once with no skill folders, watching nothing (serve with skills.directories: [])', async () => {
    const watcher = new SkillWatcher({ directories: [], registry: new SkillRegistry(), strict: true });
    watchers.push(watcher);
    await watcher.start();
    expect(watcher.watching).toBe(false);
    expect((await watcher.reload()).skills).toBe(0);
  });

  it('reload() loads every skill into the registry and reports errors', async () => {
    const { registry, watcher } = await setup({
      ...toolSkillFiles('a', 'acme/a'),
      'bad/skill.yaml': 'skill_id: acme/bad\n',
    });
    const reloaded = vi.fn();
    watcher.on('reloaded', reloaded);
    const result = await watcher.reload();
    expect(result.skills).toBe(1);
    expect(result.changes).toEqual({ added: ['acme/a@1.0.0'], changed: [], removed: [] });
    expect(result.errors.map((e) => e.path).sort()).toEqual(['description', 'kind', 'version']);
    expect(registry.get('acme/a')).toBeDefined();
    expect(reloaded).toHaveBeenCalledWith(result);
  });

  it('hot-reloads an added, a changed and a removed skill, emitting skills.changed', async () => {
    const { root, registry, watcher } = await setup({
      ...toolSkillFiles('a', 'acme/a'),
      ...toolSkillFiles('b', 'acme/b'),
    });
    await watcher.reload();
    await watcher.start();

    let change = nextChange(registry);
    await writeFiles(root, toolSkillFiles('c', 'acme/c'));
    expect(await change).toEqual({ added: ['acme/c@1.0.0'], changed: [], removed: [] });

    change = nextChange(registry);
    await writeFiles(root, { 'a/skill.yaml': toolSkillYaml('acme/a', '1.0.0', 'tags: [edited]') });
    expect(await change).toEqual({ added: [], changed: ['acme/a@1.0.0'], removed: [] });
    expect(registry.get('acme/a')?.manifest.tags).toEqual(['edited']);

    change = nextChange(registry);
    await rm(path.join(root, 'b'), { recursive: true });
    expect(await change).toEqual({ added: [], changed: [], removed: ['acme/b@1.0.0'] });
    expect(registry.list().map((s) => s.ref)).toEqual(['acme/a@1.0.0', 'acme/c@1.0.0']);
  });

  it('sees a change to a $ref schema file as a changed skill', async () => {
    const { root, registry, watcher } = await setup({
      ...toolSkillFiles('a', 'acme/a'),
      'a/skill.yaml': toolSkillYaml('acme/a').replace(/input_schema: .*/, 'input_schema: {$ref: ./in.json}'),
      'a/in.json': '{"type": "object"}',
    });
    await watcher.reload();
    await watcher.start();
    const change = nextChange(registry);
    await writeFiles(root, { 'a/in.json': '{"type": "object", "required": ["q"]}' });
    expect((await change).changed).toEqual(['acme/a@1.0.0']);
    expect(registry.get('acme/a')?.inputSchema).toEqual({ type: 'object', required: ['q'] });
  });

  it('debounces a burst of file events into one reload', async () => {
    const { root, watcher } = await setup({}, 300);
    await watcher.reload();
    await watcher.start();
    const results: SkillReloadResult[] = [];
    watcher.on('reloaded', (r) => results.push(r));
    const reloaded = once(watcher, 'reloaded', { signal: AbortSignal.timeout(10_000) });
    const files = {
      ...toolSkillFiles('a', 'acme/a'),
      ...toolSkillFiles('b', 'acme/b'),
      ...toolSkillFiles('c', 'acme/c'),
    };
    await Promise.all(['a', 'b', 'c'].map((d) => mkdir(path.join(root, d))));
    await Promise.all(Object.entries(files).map(([rel, text]) => writeFile(path.join(root, rel), text)));
    await reloaded;
    // The burst armed one reload; nothing else is pending once it ran.
    expect(watcher.pending).toBe(false);
    expect(results).toHaveLength(1);
    expect(results[0]!.skills).toBe(3);
  });

  it('ignores changes in node_modules and dot-folders', async () => {
    const { root, watcher } = await setup({});
    await watcher.reload();
    await watcher.start();
    const changes: string[] = [];
    watcher.on('change', (c) => changes.push(c.path));
    await writeFiles(root, { 'node_modules/x/skill.yaml': 'x', '.git/HEAD': 'ref' });
    // A file the watcher does act on, written after the ignored ones: once its event arrives,
    // the earlier ones would have arrived too.
    const sentinel = path.join(root, 'sentinel.txt');
    const seen = once(watcher, 'reloaded', { signal: AbortSignal.timeout(10_000) });
    await writeFile(sentinel, 'x');
    await seen;
    expect(changes).toContain(sentinel);
    expect(changes.filter((c) => c.includes('node_modules') || c.includes(`${path.sep}.git`))).toEqual([]);
  });

  it('never runs two reloads at once and shares a queued reload between callers', async () => {
    const registry = new SkillRegistry();
    let active = 0;
    let maxActive = 0;
    let calls = 0;
    const gates: (() => void)[] = [];
    const started: (() => void)[] = [];
    const watcher = new SkillWatcher({
      directories: [],
      registry,
      strict: true,
      load: async () => {
        calls++;
        active++;
        maxActive = Math.max(maxActive, active);
        started.shift()?.();
        await new Promise<void>((r) => gates.push(r));
        active--;
        return { skills: [], errors: [] };
      },
    });
    watchers.push(watcher);
    const firstStarted = new Promise<void>((r) => started.push(r));
    const first = watcher.reload();
    await firstStarted;
    const second = watcher.reload();
    const third = watcher.reload();
    expect(third).toBe(second);
    // The second waits for the first: still one load running.
    expect(calls).toBe(1);
    const secondStarted = new Promise<void>((r) => started.push(r));
    gates.shift()!();
    await first;
    await secondStarted;
    gates.shift()!();
    await Promise.all([second, third]);
    expect(calls).toBe(2);
    expect(maxActive).toBe(1);
  });

  it('emits error when a reload fails and rejects the manual reload', async () => {
    const registry = new SkillRegistry();
    const watcher = new SkillWatcher({
      directories: [],
      registry,
      strict: true,
      load: () => Promise.reject(new Error('disk on fire')),
    });
    watchers.push(watcher);
    const onError = vi.fn();
    watcher.on('error', onError);
    await expect(watcher.reload()).rejects.toThrow('disk on fire');
    expect(onError).toHaveBeenCalledWith(expect.objectContaining({ message: 'disk on fire' }));
  });

  it('close() stops watching, cancels a pending reload and is safe to call twice', async () => {
    const { root, watcher } = await setup({}, 100);
    await watcher.start();
    expect(watcher.watching).toBe(true);
    const reloaded = vi.fn();
    watcher.on('reloaded', reloaded);
    const changed = once(watcher, 'change', { signal: AbortSignal.timeout(10_000) });
    await writeFiles(root, toolSkillFiles('a', 'acme/a'));
    await changed;
    // The change armed a reload (debounce 100 ms); close cancels it before it starts.
    expect(watcher.pending).toBe(true);
    await watcher.close();
    await watcher.close();
    expect(watcher.watching).toBe(false);
    expect(watcher.pending).toBe(false);
    expect(reloaded).not.toHaveBeenCalled();
    await expect(watcher.start()).rejects.toThrow(/closed/);
  });
});
