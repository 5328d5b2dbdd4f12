import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/index.js';
import { configWarnings, loadConfig } from '../../src/config/index.js';

const dirs: string[] = [];
function tempDir(yaml?: string): string {
  const d = mkdtempSync(join(tmpdir(), 'sp-config-src-'));
  dirs.push(d);
  if (yaml !== undefined) writeFileSync(join(d, 'skillplane.yaml'), yaml);
  return d;
}
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function configError(run: () => unknown): ConfigError {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('an invalid value is blamed on where it came from', () => {
  it('names the environment variable and its value, not the YAML file', () => {
    const dir = tempDir('server: {port: 9000}\n');
    const err = configError(() => loadConfig({ cwd: dir, env: { SKILLPLANE_SERVER__PORT: 'abc' } }));
    expect(err.message).toBe('invalid configuration in SKILLPLANE_SERVER__PORT');
    expect(err.message).not.toContain('skillplane.yaml');
    expect(err.issues).toHaveLength(1);
    expect(err.issues[0]!.file).toBeUndefined();
    expect(err.issues[0]!.path).toBe('server.port');
    expect(err.issues[0]!.message).toMatch(/^SKILLPLANE_SERVER__PORT=abc: .*number/);
  });

  it('blames the file for its own mistakes and the variable for its, in one error', () => {
    const dir = tempDir('agents: {max_parallel_agents: "8"}\n');
    const file = join(dir, 'skillplane.yaml');
    const err = configError(() =>
      loadConfig({ cwd: dir, env: { SKILLPLANE_SKILLS__ALLOW_SHELL: 'yes-please' } }),
    );
    expect(err.message).toBe(`invalid configuration in ${file} and SKILLPLANE_SKILLS__ALLOW_SHELL`);
    const byPath = Object.fromEntries(err.issues.map((i) => [i.path, i]));
    expect(byPath['agents.max_parallel_agents']!.file).toBe(file);
    expect(byPath['skills.allow_shell']!.file).toBeUndefined();
    expect(byPath['skills.allow_shell']!.message).toMatch(/^SKILLPLANE_SKILLS__ALLOW_SHELL=yes-please: /);
  });

  it('blames an unknown key on the variable that introduced it, the file for its own', () => {
    const dir = tempDir('server: {nope: 1}\n');
    const file = join(dir, 'skillplane.yaml');
    const err = configError(() => loadConfig({ cwd: dir, env: { SKILLPLANE_SERVER__BOGUS: '1' } }));
    const fromEnv = err.issues.find((i) => i.file === undefined);
    const fromFile = err.issues.find((i) => i.file === file);
    expect(fromEnv?.message).toBe('SKILLPLANE_SERVER__BOGUS=1: unknown setting "server.bogus"');
    expect(fromFile?.message).toMatch(/"nope"/);
    expect(fromFile?.message).not.toMatch(/bogus/);
  });

  it('never echoes the value of a variable that may hold a secret', () => {
    const err = configError(() =>
      loadConfig({
        cwd: tempDir(),
        env: { SKILLPLANE_MODELS__DEFAULT__BASE_URL: 'hunter2' },
      }),
    );
    expect(err.issues[0]!.message).toMatch(/^SKILLPLANE_MODELS__DEFAULT__BASE_URL \(value hidden\): /);
    expect(JSON.stringify(err.issues)).not.toContain('hunter2');
  });

  it('reads a variable that looks like a number as text where the setting is text', () => {
    const { config } = loadConfig({
      cwd: tempDir(),
      env: { SKILLPLANE_MODELS__DEFAULT__API_KEY: '1234567890', SKILLPLANE_SERVER__PORT: '9100' },
    });
    expect(config.models.default?.api_key).toBe('1234567890');
    expect(config.server.port).toBe(9100);
  });

  it('still blames the file when the variable is valid and the file is not', () => {
    const dir = tempDir('server: {port: "x"}\n');
    const err = configError(() => loadConfig({ cwd: dir, env: { SKILLPLANE_STORE__LEASE_SEC: '2' } }));
    expect(err.issues).toEqual([
      expect.objectContaining({ file: join(dir, 'skillplane.yaml'), path: 'server.port' }),
    ]);
  });
});

describe('worker plane and tracing settings', () => {
  it('accepts workers.enabled: true from the file or the environment', () => {
    expect(loadConfig({ cwd: tempDir('workers: {enabled: true}\n'), env: {} }).config.workers.enabled).toBe(
      true,
    );
    const fromEnv = loadConfig({ cwd: tempDir(), env: { SKILLPLANE_WORKERS__ENABLED: 'true' } });
    expect(fromEnv.config.workers.enabled).toBe(true);
    expect(fromEnv.warnings).toEqual([]);
  });

  it('refuses a broker URL that is not redis:// or rediss://, naming the key', () => {
    const err = configError(() =>
      loadConfig({ cwd: tempDir('workers: {broker_url: amqp://rabbit:5672}\n'), env: {} }),
    );
    expect(err.issues).toEqual([expect.objectContaining({ path: 'workers.broker_url' })]);
  });

  it('warns about a result backend BullMQ does not use, naming the key and its source, and not about tracing.otlp_endpoint', () => {
    const dir = tempDir(
      'tracing: {otlp_endpoint: http://collector:4318}\nworkers: {broker_url: redis://queue:6379}\n',
    );
    const loaded = loadConfig({
      cwd: dir,
      env: { SKILLPLANE_WORKERS__RESULT_BACKEND: 'redis://results:6379' },
    });
    expect(loaded.warnings).toEqual([
      expect.objectContaining({
        key: 'workers.result_backend',
        source: 'SKILLPLANE_WORKERS__RESULT_BACKEND',
      }),
    ]);
    for (const w of loaded.warnings!) expect(w.message).toMatch(new RegExp(`^${w.key} has no effect`));
    // The same URL for both (Opta-LMX's usual config) says nothing.
    const same = loadConfig({
      cwd: tempDir('workers: {broker_url: redis://q:6379, result_backend: redis://q:6379}\n'),
      env: {},
    });
    expect(same.warnings).toEqual([]);
    // Only a broker URL set (the usual case) says nothing either: the result backend is unset.
    const brokerOnly = loadConfig({
      cwd: tempDir(),
      env: { SKILLPLANE_WORKERS__BROKER_URL: 'redis://10.0.0.5:6379' },
    });
    expect(brokerOnly.warnings).toEqual([]);
  });

  it('has nothing to say about the defaults', () => {
    const loaded = loadConfig({ cwd: tempDir(), env: {} });
    expect(loaded.warnings).toEqual([]);
    expect(configWarnings(loaded.config)).toEqual([]);
  });
});
