import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createApp, openConfiguredStore } from '../../src/app/create-app.js';
import { serveNodeId } from '../../src/cli/serve-command.js';
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
    expect(config.workers).toMatchObject({
      enabled: false,
      queue: 'skills',
      prefix: 'skillplane',
      broker_url: 'redis://127.0.0.1:6379',
      result_backend: null,
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
        SKILLPLANE_SKILLS__ALLOW_SHELL: 'true',
        SKILLPLANE_MODELS__DEFAULT__BASE_URL: 'http://127.0.0.1:8000/v1',
      },
    });
    expect(config.server.port).toBe(9100);
    expect(config.skills.directories).toEqual(['a', 'b']);
    expect(config.skills.allow_shell).toBe(true);
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

  it('takes a trace viewer URL with {trace_id} and refuses one without it or not over http(s)', () => {
    const load = (viewer_url: string) =>
      loadConfig({ cwd: tempDir(), env: {}, overrides: { tracing: { viewer_url } } }).config.tracing
        .viewer_url;
    const refusal = (viewer_url: string) => {
      try {
        load(viewer_url);
      } catch (err) {
        return (err as ConfigError).issues.map((i) => `${i.path}: ${i.message}`);
      }
      return [];
    };
    expect(load('http://127.0.0.1:16686/trace/{trace_id}')).toBe('http://127.0.0.1:16686/trace/{trace_id}');
    expect(refusal('http://127.0.0.1:16686/search')).toEqual(['tracing.viewer_url: must contain {trace_id}']);
    expect(refusal('javascript:alert(1)//{trace_id}')).toEqual([
      'tracing.viewer_url: must be an http(s) URL',
    ]);
  });
});

describe('node identity, leases and the PostgreSQL store settings', () => {
  it('defaults server.node_id to null, store.lease_sec to 30, store.schema to public, pool_size unset', () => {
    const { config } = loadConfig({ cwd: tempDir(), env: {} });
    expect(config.server.node_id).toBeNull();
    expect(config.store.lease_sec).toBe(30);
    expect(config.store.schema).toBe('public');
    expect(config.store.pool_size).toBeUndefined();
  });

  it('reads them from SKILLPLANE_* environment overrides', () => {
    const { config } = loadConfig({
      cwd: tempDir(),
      env: {
        SKILLPLANE_SERVER__NODE_ID: 'node-7',
        SKILLPLANE_STORE__LEASE_SEC: '2',
        SKILLPLANE_STORE__SCHEMA: 'tenant_a',
        SKILLPLANE_STORE__POOL_SIZE: '4',
      },
    });
    expect(config.server.node_id).toBe('node-7');
    expect(config.store.lease_sec).toBe(2);
    expect(config.store.schema).toBe('tenant_a');
    expect(config.store.pool_size).toBe(4);
  });

  it('refuses an unsafe schema, a lease under a second, a bad pool size and a bad node id', () => {
    const issues = (overrides: Record<string, unknown>): string[] => {
      try {
        loadConfig({ cwd: tempDir(), env: {}, overrides });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        return (err as ConfigError).issues.map((i) => i.path);
      }
      return [];
    };
    for (const schema of ['a"; DROP SCHEMA public; --', 'with space', '1abc', '', 'x'.repeat(64)])
      expect(issues({ store: { schema } })).toEqual(['store.schema']);
    expect(issues({ store: { schema: 'Tenant_01' } })).toEqual([]);
    expect(issues({ store: { lease_sec: 0.5 } })).toEqual(['store.lease_sec']);
    expect(issues({ store: { pool_size: 0 } })).toEqual(['store.pool_size']);
    expect(issues({ server: { node_id: '' } })).toEqual(['server.node_id']);
    expect(issues({ server: { node_id: 'a b' } })).toEqual(['server.node_id']);
    expect(issues({ server: { node_id: 'host.example-8787' } })).toEqual([]);
  });

  it('createApp runs the runtime under server.node_id with a lease of store.lease_sec', async () => {
    const base = {
      store: { driver: 'memory', lease_sec: 7 },
      skills: { directories: [], watch: false },
      agents: { directories: [] },
    };
    const leaseOf = (a: { runtime: unknown }): number => (a.runtime as { leaseMs: number }).leaseMs;
    const loaded = loadConfig({
      cwd: tempDir(),
      env: {},
      overrides: { ...base, server: { node_id: 'node-cfg' } },
    });
    const app = await createApp(loaded, { start: false, watch: false });
    expect(app.runtime.nodeId).toBe('node-cfg');
    expect(leaseOf(app)).toBe(7_000);
    await app.close(0);
    // An explicit option still wins; without either, the id is random.
    const other = await createApp(loaded, { start: false, watch: false, nodeId: 'node-opt', leaseMs: 1_234 });
    expect(other.runtime.nodeId).toBe('node-opt');
    expect(leaseOf(other)).toBe(1_234);
    await other.close(0);
    const random = await createApp(loadConfig({ cwd: tempDir(), env: {}, overrides: base }), {
      start: false,
      watch: false,
    });
    expect(random.runtime.nodeId).toMatch(/^node-[0-9a-f]{8}$/);
    await random.close(0);
  });

  it('serve derives <hostname>-<port> when server.node_id is null, a random id on port 0', () => {
    const id = serveNodeId({ server: { node_id: null, port: 8787 } });
    expect(id).toMatch(/-8787$/);
    expect(id).toBe(serveNodeId({ server: { node_id: null, port: 8787 } }));
    // A derived id is itself a valid `server.node_id`.
    expect(
      loadConfig({ cwd: tempDir(), env: {}, overrides: { server: { node_id: id } } }).config.server.node_id,
    ).toBe(id);
    expect(serveNodeId({ server: { node_id: null, port: 0 } })).toBeUndefined();
    expect(serveNodeId({ server: { node_id: 'fixed', port: 8787 } })).toBe('fixed');
  });

  it('openConfiguredStore opens PostgreSQL in store.schema with store.pool_size', async () => {
    const url = process.env.SKILLPLANE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
    const schema = `sp_cfg_${randomBytes(5).toString('hex')}`;
    const loaded = loadConfig({
      cwd: tempDir(),
      env: {},
      overrides: { store: { driver: 'postgres', url, schema, pool_size: 2 } },
    });
    const store = await openConfiguredStore(loaded);
    const c = new pg.Client({ connectionString: url });
    await c.connect();
    try {
      const tables = await c.query(
        'SELECT table_name FROM information_schema.tables WHERE table_schema = $1',
        [schema],
      );
      expect(tables.rowCount).toBeGreaterThan(0);
      expect((store as unknown as { pool: { options: { max: number } } }).pool.options.max).toBe(2);
    } finally {
      await store.close();
      await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      await c.end();
    }
  });
});
