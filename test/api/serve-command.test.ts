import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startScriptedModelServer } from '../../src/testing/index.js';

let dir: string;
let configFile: string;
/** A config whose only model backend is at `modelUrl`; its skills folder holds one broken skill. */
function writeConfig(file: string, modelUrl: string, extra: string[] = []): void {
  writeFileSync(
    file,
    [
      'store: {driver: memory}',
      'skills: {directories: [./skills], watch: false}',
      'agents: {directories: [], definitions: [{name: helper}]}',
      `models: {default: {base_url: "${modelUrl}", model: m}}`,
      ...extra,
    ].join('\n'),
  );
}
let deadUrl: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sp-serve-'));
  // A port nothing listens on any more: the connection is refused.
  const closed = createServer();
  await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
  deadUrl = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/v1`;
  await new Promise<void>((r) => closed.close(() => r()));
  mkdirSync(join(dir, 'skills', 'broken'), { recursive: true });
  writeFileSync(join(dir, 'skills', 'broken', 'skill.yaml'), 'skill_id: acme/broken\nversion: one\n');
  configFile = join(dir, 'skillplane.yaml');
  writeConfig(configFile, deadUrl, ['workers: {result_backend: "redis://results:6379"}']);
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function serve(args: string[], config = configFile) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', '--config', config, 'serve', ...args],
    {
      cwd: process.cwd(),
      env: { ...process.env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const listening = new Promise<string>((resolve, reject) => {
    const check = () => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m !== null) resolve(m[1]!);
    };
    child.stdout.on('data', check);
    void exited.then(() => reject(new Error(`exited before listening:\n${output}`)));
  });
  listening.catch(() => undefined); // awaited by the tests that expect it to succeed
  return { child, exited, listening, output: () => output };
}

describe('skillplane serve', () => {
  it('listens on port 0, logs the real URL, open auth and every start-up warning, and exits 0 on SIGTERM', async () => {
    const s = serve(['--port', '0']);
    const url = await s.listening;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const agents = (await (await fetch(`${url}/v1/agents`)).json()) as { agents: { name: string }[] };
    expect(agents.agents.map((a) => a.name)).toEqual(['helper']);
    expect(s.output()).toContain('auth is open');
    // It started despite a dead model backend, a broken skill and a setting without effect,
    // and warned about each.
    const out = s.output();
    expect(out).toContain(`model backend default at ${deadUrl} is not answering: connection refused`);
    expect(out).toContain('CONFIG WARNING: workers.result_backend has no effect');
    const broken = join(dir, 'skills', 'broken', 'skill.yaml');
    expect(out).toContain(`skill not loaded: ${broken}`);
    expect(out).toMatch(/\d skill load errors in 1 file \(those skills are left out\): /);
    expect(out).toContain(`: ${broken} (manifest_invalid); details in the warnings above`);
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({
      code: 'models_unavailable',
      detail: 'model backend not answering: default (connection refused)',
    });
    const skills = (await (await fetch(`${url}/v1/skills`)).json()) as {
      load_errors: number;
      load_error_details: { file: string; code: string }[];
    };
    expect(skills.load_errors).toBe(skills.load_error_details.length);
    expect(skills.load_error_details).toContainEqual(
      expect.objectContaining({ file: broken, code: 'manifest_invalid' }),
    );
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  }, 30_000);

  it('says a live model backend answers, and /readyz is 200', async () => {
    const model = await startScriptedModelServer();
    const file = join(dir, 'live.yaml');
    writeConfig(file, model.url);
    try {
      const s = serve(['--port', '0'], file);
      const url = await s.listening;
      expect(s.output()).toContain('model backend default answers');
      expect(s.output()).not.toContain('CONFIG WARNING');
      expect((await fetch(`${url}/readyz`)).status).toBe(200);
      s.child.kill('SIGTERM');
      expect(await s.exited).toBe(0);
    } finally {
      await model.close();
    }
  }, 30_000);

  it('refuses to start on a non-loopback host without API keys', async () => {
    const s = serve(['--port', '0', '--host', '0.0.0.0']);
    expect(await s.exited).not.toBe(0);
    expect(s.output()).toContain('refusing to listen on 0.0.0.0 without API keys');
  }, 30_000);
});
