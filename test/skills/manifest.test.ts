import { describe, expect, it } from 'vitest';
import { validateManifest } from '../../src/skills/loader.js';
import type { SkillLoadError } from '../../src/skills/loader.js';

const FILE = '/skills/acme/search/skill.yaml';

function baseTool(): Record<string, unknown> {
  return {
    skill_id: 'acme/search',
    version: '1.2.0',
    kind: 'tool',
    description: 'Search the docs.',
    entry: './index.js',
  };
}

/** Sets `value` at a dotted path, creating objects (or arrays for numeric keys) on the way. */
function setPath(target: Record<string, unknown>, dotted: string, value: unknown): Record<string, unknown> {
  const keys = dotted.split('.');
  let node: Record<string, unknown> = target;
  keys.slice(0, -1).forEach((key, i) => {
    const nextIsIndex = /^\d+$/.test(keys[i + 1]!);
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = nextIsIndex ? [] : {};
    node = node[key] as Record<string, unknown>;
  });
  node[keys.at(-1)!] = value;
  return target;
}

function check(raw: unknown, strict: boolean) {
  return validateManifest(raw, { strict, file: FILE });
}

function paths(errors: SkillLoadError[]): string[] {
  return errors.map((e) => e.path);
}

// Every manifest field with a value of the wrong type.
const wrongTypes: [field: string, value: unknown][] = [
  ['skill_id', 42],
  ['version', 1],
  ['kind', 3],
  ['description', ['Search']],
  ['tags', 'search,docs'],
  ['tags.0', 5],
  ['input_schema', 'object'],
  ['output_schema', 7],
  ['entry', true],
  ['command', 'ls -la'],
  ['command.0', 1],
  ['prompt', 12],
  ['steps', 'search then summarise'],
  ['steps.0', 'search'],
  ['permissions', 'all'],
  ['permissions.fs', 'rw'],
  ['permissions.fs.read', 'docs/'],
  ['permissions.fs.read.0', 5],
  ['permissions.fs.write', 'out/'],
  ['permissions.fs.write.0', false],
  ['permissions.network', 'example.com'],
  ['permissions.network.0', 443],
  ['permissions.shell', 'yes'],
  ['roots', 'docs/'],
  ['roots.0', 1],
  ['risk_tags', 'destructive'],
  ['risk_tags.0', 1],
  ['idempotent', 'no'],
  ['model_preferences', 'small'],
  ['model_preferences.hints', 'small'],
  ['model_preferences.model', 5],
  ['model_preferences.cost_priority', '0.5'],
  ['model_preferences.speed_priority', '0.8'],
  ['model_preferences.intelligence_priority', true],
  ['timeouts', 30],
  ['timeouts.execute_sec', '30'],
  ['execution', 1],
];

describe('manifest validation (strict)', () => {
  it('accepts a minimal tool manifest and fills in the defaults', () => {
    const { manifest, errors } = check(baseTool(), true);
    expect(errors).toEqual([]);
    expect(manifest).toMatchObject({
      tags: [],
      input_schema: { type: 'object' },
      permissions: { fs: { read: [], write: [] }, network: [], shell: false },
      roots: [],
      risk_tags: [],
      timeouts: { execute_sec: 30 },
      execution: 'local',
    });
  });

  it.each(wrongTypes)('rejects a wrong type for %s with the field path in the error', (field, value) => {
    const { manifest, errors } = check(setPath(baseTool(), field, value), true);
    expect(manifest).toBeUndefined();
    expect(paths(errors)).toContain(field);
    const error = errors.find((e) => e.path === field)!;
    expect(error.file).toBe(FILE);
    expect(error.message).toMatch(/expected|invalid/i);
  });

  it('rejects an unknown top-level field, naming it', () => {
    const { errors } = check({ ...baseTool(), colour: 'blue' }, true);
    expect(errors).toEqual([
      { file: FILE, path: 'colour', code: 'manifest_unknown_field', message: 'unknown field "colour"' },
    ]);
  });

  it('rejects an unknown nested field with its dotted path', () => {
    const raw = setPath(baseTool(), 'permissions.fs.exec', ['bin/']);
    expect(paths(check(raw, true).errors)).toEqual(['permissions.fs.exec']);
  });

  it('reports every problem, not only the first', () => {
    const raw = { ...baseTool(), version: 2, tags: 'x', extra: 1 };
    expect(paths(check(raw, true).errors).sort()).toEqual(['extra', 'tags', 'version']);
  });

  it('rejects a coerced number ("30") and a coerced boolean ("yes")', () => {
    const raw = setPath(setPath(baseTool(), 'timeouts.execute_sec', '30'), 'permissions.shell', 'yes');
    expect(paths(check(raw, true).errors).sort()).toEqual(['permissions.shell', 'timeouts.execute_sec']);
  });

  it('rejects a version that is not semver', () => {
    expect(paths(check({ ...baseTool(), version: '1.2' }, true).errors)).toEqual(['version']);
  });

  it('rejects a skill_id that is not namespace/name', () => {
    expect(paths(check({ ...baseTool(), skill_id: 'Search' }, true).errors)).toEqual(['skill_id']);
  });

  it('rejects a tool skill with both entry and command', () => {
    const raw = { ...baseTool(), command: ['ls'], permissions: { shell: true } };
    expect(paths(check(raw, true).errors)).toEqual(['entry']);
  });

  it('rejects a command skill that does not ask for shell', () => {
    const raw: Record<string, unknown> = { ...baseTool(), command: ['ls'] };
    delete raw.entry;
    expect(paths(check(raw, true).errors)).toEqual(['permissions.shell']);
  });

  it('rejects a prompt skill without a prompt and a workflow without steps', () => {
    const base = { skill_id: 'acme/p', version: '1.0.0', description: 'd' };
    expect(paths(check({ ...base, kind: 'prompt' }, true).errors)).toEqual(['prompt']);
    expect(paths(check({ ...base, kind: 'workflow' }, true).errors)).toEqual(['steps']);
  });

  it('rejects a workflow step that needs an unknown step', () => {
    const raw = {
      skill_id: 'acme/flow',
      version: '1.0.0',
      kind: 'workflow',
      description: 'd',
      steps: [{ id: 'a', skill: 'acme/search', needs: ['b'] }],
    };
    expect(paths(check(raw, true).errors)).toEqual(['steps.0.needs.0']);
  });
});

describe('manifest validation (lenient)', () => {
  it('drops unknown fields instead of rejecting them', () => {
    const raw = setPath({ ...baseTool(), colour: 'blue' }, 'permissions.fs.exec', ['bin/']);
    const { manifest, errors } = check(raw, false);
    expect(errors).toEqual([]);
    expect(manifest).not.toHaveProperty('colour');
    expect(manifest?.permissions.fs).not.toHaveProperty('exec');
  });

  it('accepts coerced scalars ("30" as a number, "yes" as a boolean)', () => {
    let raw = setPath(baseTool(), 'timeouts.execute_sec', '30');
    raw = setPath(raw, 'model_preferences.speed_priority', '0.8');
    delete raw.entry;
    raw = setPath({ ...raw, command: ['ls'] }, 'permissions.shell', 'yes');
    const { manifest, errors } = check(raw, false);
    expect(errors).toEqual([]);
    expect(manifest?.timeouts.execute_sec).toBe(30);
    expect(manifest?.model_preferences?.speed_priority).toBe(0.8);
    expect(manifest?.permissions.shell).toBe(true);
  });

  it('reads idempotent: "no" as false, and defaults idempotent to true', () => {
    expect(check({ ...baseTool(), idempotent: 'no' }, false).manifest?.idempotent).toBe(false);
    expect(check(baseTool(), false).manifest?.idempotent).toBe(true);
    expect(check(baseTool(), true).manifest?.idempotent).toBe(true);
    expect(check({ ...baseTool(), idempotent: false }, true).manifest?.idempotent).toBe(false);
  });

  it('still rejects values that cannot be coerced', () => {
    const raw = setPath(baseTool(), 'timeouts.execute_sec', 'soon');
    expect(paths(check(raw, false).errors)).toEqual(['timeouts.execute_sec']);
  });
});
