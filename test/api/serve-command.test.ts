import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let dir: string;
let configFile: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'sp-serve-'));
  configFile = join(dir, 'skillplane.yaml');
  writeFileSync(
    configFile,
    [
      'store: {driver: memory}',
      'skills: {directories: [], watch: false}',
      'agents: {directories: [], definitions: [{name: helper}]}',
      'models: {default: {base_url: "http://127.0.0.1:9/v1", model: m}}',
    ].join('\n'),
  );
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

function serve(args: string[]) {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', '--config', configFile, 'serve', ...args],
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
  it('listens on port 0, logs the real URL and open auth, and exits 0 on SIGTERM', async () => {
    const s = serve(['--port', '0']);
    const url = await s.listening;
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect((await fetch(`${url}/readyz`)).status).toBe(200);
    const agents = (await (await fetch(`${url}/v1/agents`)).json()) as { agents: { name: string }[] };
    expect(agents.agents.map((a) => a.name)).toEqual(['helper']);
    expect(s.output()).toContain('auth is open');
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
  }, 30_000);

  it('refuses to start on a non-loopback host without API keys', async () => {
    const s = serve(['--port', '0', '--host', '0.0.0.0']);
    expect(await s.exited).not.toBe(0);
    expect(s.output()).toContain('refusing to listen on 0.0.0.0 without API keys');
  }, 30_000);
});
