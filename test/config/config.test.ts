import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/index.js';
import { loadConfig } from '../../src/config/index.js';

const dirs: string[] = [];
function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'sp-config-'));
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('loadConfig', () => {
  it('fills every default when there is no file and no env', () => {
    const { config, file } = loadConfig({ cwd: tempDir(), env: {} });
    expect(file).toBeNull();
    expect(config.agents).toMatchObject({
      enabled: true,
      max_parallel_agents: 8,
      max_steps_per_run: 32,
      default_timeout_sec: 300,
    });
    expect(config.skills).toMatchObject({
      directories: ['./examples/skills'],
      strict_validation: true,
      allow_shell: false,
      require_approval_tags: ['destructive', 'external_side_effect'],
    });
    expect(config.workers).toEqual({
      enabled: false,
      broker_url: 'redis://127.0.0.1:6379',
      result_backend: 'redis://127.0.0.1:6379',
    });
    expect(config.store.driver).toBe('sqlite');
    expect(config.models.default?.max_concurrency).toBe(4);
  });

  it('reads skillplane.yaml from the working folder and resolves paths against it', () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'skillplane.yaml'),
      'agents: {max_parallel_agents: 3}\nskills: {allow_shell: true}\n',
    );
    const loaded = loadConfig({ cwd: dir, env: {} });
    expect(loaded.file).toBe(join(dir, 'skillplane.yaml'));
    expect(loaded.baseDir).toBe(dir);
    expect(loaded.config.agents.max_parallel_agents).toBe(3);
    expect(loaded.config.skills.allow_shell).toBe(true);
  });

  it('lets SKILLPLANE_* env vars override the file, typed by YAML', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'skillplane.yaml'), 'server: {port: 9000}\n');
    const { config } = loadConfig({
      cwd: dir,
      env: {
        SKILLPLANE_SERVER__PORT: '9100',
        SKILLPLANE_SKILLS__DIRECTORIES: '[a, b]',
        SKILLPLANE_WORKERS__ENABLED: 'true',
        SKILLPLANE_MODELS__DEFAULT__BASE_URL: 'http://127.0.0.1:8000/v1',
      },
    });
    expect(config.server.port).toBe(9100);
    expect(config.skills.directories).toEqual(['a', 'b']);
    expect(config.workers.enabled).toBe(true);
    expect(config.models.default?.base_url).toBe('http://127.0.0.1:8000/v1');
  });

  it('applies explicit overrides last (CLI flags such as --port)', () => {
    const { config } = loadConfig({
      cwd: tempDir(),
      env: { SKILLPLANE_SERVER__PORT: '9100' },
      overrides: { server: { port: 9200 } },
    });
    expect(config.server.port).toBe(9200);
  });

  it('lists every problem of a bad file with file, path and reason', () => {
    const dir = tempDir();
    const file = join(dir, 'bad.yaml');
    writeFileSync(
      file,
      'agents: {max_parallel_agents: "8", bogus: 1}\nskills: {allow_shell: yes-please}\nnope: {}\n',
    );
    let error: unknown;
    try {
      loadConfig({ cwd: dir, file, env: {} });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues;
    expect((error as ConfigError).code).toBe('config_invalid');
    const paths = issues.map((i) => i.path);
    expect(paths).toEqual(
      expect.arrayContaining(['agents.max_parallel_agents', 'agents', 'skills.allow_shell', '']),
    );
    expect(issues.every((i) => i.file === file)).toBe(true);
  });

  it('reports YAML syntax errors and a missing --config file clearly', () => {
    const dir = tempDir();
    const file = join(dir, 'broken.yaml');
    writeFileSync(file, 'agents: [unclosed\n');
    expect(() => loadConfig({ cwd: dir, file, env: {} })).toThrow(/not valid YAML/);
    expect(() => loadConfig({ cwd: dir, file: join(dir, 'missing.yaml'), env: {} })).toThrow(/not found/);
  });

  it('refuses an api key entry with neither key nor hash', () => {
    expect(() =>
      loadConfig({ cwd: tempDir(), env: {}, overrides: { auth: { keys: [{ principal: 'ci' }] } } }),
    ).toThrow(ConfigError);
  });
});
