import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startScriptedModelServer, type Script, type ScriptedModelServer } from '../../src/testing/index.js';

/*
 * The real `skillplane serve` process for attack tests: a skill that tries to hurt the server hurts
 * only a separate process, and the test asks that process over HTTP whether it still answers.
 */

const repo = join(import.meta.dirname, '..', '..');

/** One attack skill: its manifest fields (beyond id, version, kind, description) and its code. */
export interface AttackSkill {
  manifest?: Record<string, unknown>;
  /** `index.mjs`; tool skills with an entry get `entry: ./index.mjs`. */
  code?: string;
  /** Extra files in the skill folder. */
  files?: Record<string, string>;
}

export interface SecurityServer {
  url: string;
  /** Pid of the server process. */
  pid: number;
  dir: string;
  /** The folder with every skill (`<id name>/`). */
  skillsDir: string;
  /** An allowed root outside the skill folders, readable and writable by skills that list it. */
  workspace: string;
  /** A file outside every grant; its content must never reach a skill. */
  secretFile: string;
  secret: string;
  model: ScriptedModelServer;
  /** Everything the server printed. */
  output(): string;
  /** POST /v1/skills/{id}/execute. */
  execute(
    id: string,
    input: unknown,
    body?: Record<string, unknown>,
  ): Promise<{ status: number; body: Record<string, unknown> }>;
  /** GET /healthz answered 200. */
  healthy(): Promise<boolean>;
  post(path: string, body: unknown, headers?: Record<string, string>): Promise<Response>;
  close(): Promise<void>;
}

/** Writes skills under `<dir>/skills/<name>` with `skill_id: attack/<name>`. */
export function writeAttackSkills(skillsDir: string, skills: Record<string, AttackSkill>): void {
  for (const [name, s] of Object.entries(skills)) {
    const d = join(skillsDir, name);
    mkdirSync(d, { recursive: true });
    const manifest = {
      skill_id: `attack/${name}`,
      version: '1.0.0',
      kind: 'tool',
      description: `attack skill ${name}`,
      ...(s.code === undefined ? {} : { entry: './index.mjs' }),
      ...s.manifest,
    };
    writeFileSync(join(d, 'skill.yaml'), JSON.stringify(manifest));
    if (s.code !== undefined) writeFileSync(join(d, 'index.mjs'), s.code);
    for (const [rel, text] of Object.entries(s.files ?? {})) {
      mkdirSync(join(d, rel, '..'), { recursive: true });
      writeFileSync(join(d, rel), text);
    }
  }
}

/** Starts `skillplane serve` (port 0, SQLite, open loopback auth) over `skills`. */
export async function startSecurityServer(opts: {
  skills: Record<string, AttackSkill>;
  config?: Record<string, unknown>;
  script?: Script;
  agents?: Record<string, unknown>[];
  /** Prepares the folder before the server starts (links, extra folders). */
  prepare?: (paths: { dir: string; skillsDir: string; workspace: string }) => void;
}): Promise<SecurityServer> {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'sp-sec-')));
  const skillsDir = join(dir, 'skills');
  const workspace = join(dir, 'workspace');
  mkdirSync(workspace, { recursive: true });
  const secret = `secret-${Math.random().toString(36).slice(2)}`;
  const secretFile = join(dir, 'secret.txt');
  writeFileSync(secretFile, secret);
  writeAttackSkills(skillsDir, opts.skills);
  opts.prepare?.({ dir, skillsDir, workspace });
  const model = await startScriptedModelServer({
    script: opts.script ?? (() => ({ content: 'ok' })),
    model: 'test-model',
  });
  const configFile = join(dir, 'skillplane.yaml');
  const cfg = opts.config ?? {};
  writeFileSync(
    configFile,
    JSON.stringify({
      ...cfg,
      server: { host: '127.0.0.1', ...(cfg.server as object | undefined) },
      store: { driver: 'sqlite', path: join(dir, 'data', 'skillplane.db') },
      models: { default: { base_url: model.url, model: 'test-model', max_retries: 0 } },
      skills: {
        directories: [skillsDir],
        allowed_roots: [workspace],
        watch: false,
        ...(cfg.skills as object | undefined),
      },
      agents: { directories: [], definitions: opts.agents ?? [{ name: 'assistant', instructions: 'test' }] },
    }),
  );
  let output = '';
  const child: ChildProcessWithoutNullStreams = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', '--config', configFile, 'serve', '--port', '0', '--grace', '1000'],
    { cwd: repo, env: { ...process.env, LOG_LEVEL: 'info' }, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`server did not listen within 30 s:\n${output}`)),
      30_000,
    );
    const check = () => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m !== null) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    };
    child.stdout.on('data', check);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`server exited before listening:\n${output}`));
    });
  });
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  return {
    url,
    pid: child.pid!,
    dir,
    skillsDir,
    workspace,
    secretFile,
    secret,
    model,
    output: () => output,
    post,
    async execute(id, input, body = {}) {
      const res = await post(`/v1/skills/${encodeURIComponent(id)}/execute`, { input, ...body });
      return { status: res.status, body: (await res.json()) as Record<string, unknown> };
    },
    async healthy() {
      try {
        const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(5_000) });
        return res.status === 200;
      } catch {
        return false;
      }
    },
    async close() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await model.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
