/**
 * The CLI as a user runs it: the built `dist/cli/main.js` (tsc + assets, as `npm run build`,
 * built once for this file), in the repo or a temp folder, against a real server on a socket (or
 * none), reading its exit codes, stdout and stderr. One test runs the sources through tsx too.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type StartedServer } from '../../src/api/index.js';
import type { Script } from '../../src/testing/index.js';
import { apiAgents, apiScript } from '../api/helpers.js';
import { startHarness, userText, type Harness } from '../agents/harness.js';
import {
  buildCli,
  cli as runCli,
  cliIntoClosedPipe,
  cliArgv,
  root,
  SOURCE,
  type CliEntry,
  type CliResult,
} from './run-cli.js';

const ALICE_KEY = 'alice-key-0123456789abcdef';

/** The API tests' script, plus `proxy …`: a reverse proxy's HTML 502 page instead of the model. */
const script: Script = (req) =>
  userText(req.body).startsWith('proxy') ? { html_status: 502 } : apiScript(req);

let entry: CliEntry;
let h: Harness;
let server: StartedServer;
let temp: string;

beforeAll(async () => {
  temp = mkdtempSync(join(tmpdir(), 'sp-cli-built-'));
  const [main, harness] = await Promise.all([
    buildCli(),
    startHarness({
      script,
      agents: apiAgents,
      config: { auth: { keys: [{ principal: 'alice', key: ALICE_KEY, scopes: ['admin'] }] } },
    }),
  ]);
  entry = { kind: 'built', main };
  h = harness;
  server = await startServer(h.app.ports, { host: '127.0.0.1', port: 0, logger: false, heartbeatMs: 50 });
}, 300_000);

afterAll(async () => {
  await server?.close();
  await h?.close();
  if (temp !== undefined) rmSync(temp, { recursive: true, force: true });
});

/** Runs the built binary; `opts` may be just the working folder. */
function cli(
  args: string[],
  opts: string | { cwd?: string; env?: Record<string, string> } = {},
): Promise<CliResult> {
  return runCli(args, { ...(typeof opts === 'string' ? { cwd: opts } : opts), entry });
}

/** `--url` and `--key` of the test server (alice's key). */
function remote(): string[] {
  return ['--url', server.url, '--key', ALICE_KEY];
}

/** A port nothing listens on (bound, then released). */
async function closedPort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return port;
}

// Each test starts the binary a few times; a process start costs seconds on 2 loaded cores.
describe('skillplane CLI (the built binary)', { timeout: 120_000 }, () => {
  it('lists the example skills as a table and as JSON', async () => {
    const table = await cli(['skills', 'list']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(/files\/read\s+1\.0\.0\s+tool/);
    expect(table.stdout).toMatch(/local\/code-review\s+0\.0\.0\s+prompt/);
    const json = await cli(['skills', 'list', '--json', '--kind', 'tool']);
    const parsed = JSON.parse(json.stdout) as { skills: { id: string; kind: string }[]; errors: unknown[] };
    expect(parsed.errors).toEqual([]);
    expect(parsed.skills.every((s) => s.kind === 'tool')).toBe(true);
    expect(parsed.skills.map((s) => s.id)).toContain('files/write');
  });

  it('shows one skill by range', async () => {
    const r = await cli(['skills', 'show', 'files/write@^1', '--json']);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      id: 'files/write',
      version: '1.0.0',
      risk_tags: ['destructive'],
    });
    // What a crash does to a call in flight, as the README's Durability table says.
    const risky = await cli(['skills', 'show', 'files/write']);
    expect(risky.stdout).toMatch(/idempotent: +yes, but risk-tagged \(never re-run/);
    const plain = await cli(['skills', 'show', 'files/read']);
    expect(plain.stdout).toMatch(/idempotent: +yes \(re-run if in flight at a crash\)/);
  });

  it('validates a folder, listing every error and exiting 1', async () => {
    const dir = join(temp, 'bad-skills');
    mkdirSync(join(dir, 'one'), { recursive: true });
    mkdirSync(join(dir, 'two'), { recursive: true });
    writeFileSync(
      join(dir, 'one', 'skill.yaml'),
      'skill_id: Bad Id\nversion: one\nkind: tool\ndescription: x\nentry: ./x.mjs\n',
    );
    writeFileSync(
      join(dir, 'two', 'skill.yaml'),
      'skill_id: ok/two\nversion: 1.0.0\nkind: prompt\ndescription: fine\nprompt: hi {{name}}\n',
    );
    const r = await cli(['skills', 'validate', dir]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain('ok     ok/two@1.0.0');
    expect(r.stderr).toMatch(/one[/\\]skill\.yaml: skill_id: /);
    expect(r.stderr).toMatch(/one[/\\]skill\.yaml: version: /);
    const json = await cli(['skills', 'validate', dir, '--json']);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toMatchObject({ ok: false, skills: ['ok/two@1.0.0'] });
  });

  it('validates the examples cleanly', async () => {
    const r = await cli(['skills', 'validate']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/8 valid, 0 error/);
  });

  it('runs a tool skill in the sandbox and prints its output', async () => {
    const r = await cli(['skills', 'run', 'files/search', '--input', '{"query":"approval"}', '--json']);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { ok: boolean; output: { matches: { path: string }[] } };
    expect(out.ok).toBe(true);
    expect(out.output.matches.map((m) => m.path)).toContain('notes/skillplane.md');
  });

  it('prints the rendered prompt of a prompt skill', async () => {
    const r = await cli([
      'skills',
      'run',
      'text/summarize',
      '--input',
      '{"text":"A long story.","max_words":10}',
    ]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('in at most 10 words');
    expect(r.stdout).toContain('A long story.');
  });

  it('refuses a risk-tagged skill without --approve and an invalid input, with codes', async () => {
    const denied = await cli([
      'skills',
      'run',
      'files/write',
      '--input',
      '{"path":"x.md","text":"hi"}',
      '--json',
    ]);
    expect(denied.code).toBe(1);
    expect(JSON.parse(denied.stdout)).toMatchObject({ ok: false, error: { code: 'approval_required' } });
    const deniedText = await cli(['skills', 'run', 'files/write', '--input', '{"path":"x.md","text":"hi"}']);
    expect(deniedText.code).toBe(1);
    expect(deniedText.stderr).toContain('error [approval_required]');
    expect(deniedText.stderr).toContain('hint: pass --approve');
    const invalid = await cli(['skills', 'run', 'files/read', '--input', '{"nope":1}']);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('error [input_invalid]');
    const shell = await cli(['skills', 'run', 'files/grep', '--input', '{"pattern":"x"}', '--json']);
    expect(JSON.parse(shell.stdout)).toMatchObject({ ok: false, error: { code: 'permission_denied' } });
  });

  it('stops on a bad config with every problem and no stack trace', async () => {
    const file = join(temp, 'bad.yaml');
    writeFileSync(file, 'agents: {max_parallel_agents: "many"}\nskills: {allow_shell: maybe}\n');
    const r = await cli(['--config', file, 'skills', 'list']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error [config_invalid]');
    expect(r.stderr).toContain('agents.max_parallel_agents');
    expect(r.stderr).toContain('skills.allow_shell');
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('runs the demo end to end against the scripted model', async () => {
    const r = await cli(['demo']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('4/4 demo runs completed');
    expect(r.stdout).toMatch(/approval apr_\w+ needed for files\/write/);
  });

  it('prints the package version', async () => {
    const { version } = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    const long = await cli(['--version']);
    const short = await cli(['-V']);
    expect([long.code, long.stdout.trim(), short.code, short.stdout.trim()]).toEqual([
      0,
      version,
      0,
      version,
    ]);
  });

  it('refuses enum values outside their choices with the allowed ones and exit code 2', async () => {
    const cases: [string[], string][] = [
      [['skills', 'list', '--kind', 'bogus'], 'Allowed choices are tool, prompt, workflow'],
      [['run', 'assistant', '-i', 'x', '-s', 'fanout'], 'Allowed choices are single, router, handoff'],
      [
        ['submit', 'assistant', '-i', 'x', '--priority', 'now'],
        'Allowed choices are interactive, normal, batch',
      ],
      [['runs', 'list', '--status', 'done'], 'done is not allowed'],
      [['approvals', 'list', '--status', 'maybe'], 'Allowed choices are pending, approved, denied, expired'],
      [['submit', 'researcher', '-i', 'x', '--items', '[1,'], 'not a valid JSON array'],
      [['runs', 'list', '--url', 'localhost:8787'], 'expected an http(s) URL'],
      [['runs', 'list', '--limit', 'many'], 'expected a non-negative number'],
    ];
    const results = await Promise.all(cases.map(([args]) => cli(args)));
    for (const [i, [args, message]] of cases.entries()) {
      const r = results[i]!;
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: '' });
      expect(r.stderr).toContain(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('exits 0 without a stack trace when stdout is closed by its reader (| head)', async () => {
    const dir = join(temp, 'big-output');
    mkdirSync(join(dir, 'skills', 'big'), { recursive: true });
    writeFileSync(
      join(dir, 'skillplane.yaml'),
      'skills: {directories: [./skills]}\nagents: {directories: []}\n',
    );
    writeFileSync(
      join(dir, 'skills', 'big', 'skill.yaml'),
      'skill_id: test/big\nversion: 1.0.0\nkind: tool\ndescription: A large output.\nentry: ./index.mjs\n',
    );
    writeFileSync(
      join(dir, 'skills', 'big', 'index.mjs'),
      "export default async () => ({ lines: Array.from({ length: 40000 }, (_, i) => `line ${i} ${'x'.repeat(40)}`) });\n",
    );
    const r = await cliIntoClosedPipe(['skills', 'run', 'test/big', '--json'], { cwd: dir, entry });
    expect(r.firstChunk).toContain('"ok": true');
    expect({ code: r.code, signal: r.signal, stderr: r.stderr }).toEqual({
      code: 0,
      signal: null,
      stderr: '',
    });
  });

  it('says how to start the server when nothing listens at the URL, with exit code 5', async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    const expected =
      `error [connection_failed]: cannot reach the skillplane server at ${url} (connection refused) — ` +
      'is it running? start it with `npm start` or `skillplane serve`, or pass --url / set SKILLPLANE_URL\n';
    for (const args of [
      ['runs', 'list', '--url', url],
      ['approvals', 'list', '--url', url],
      ['submit', 'assistant', '-i', 'hi', '--url', url],
    ]) {
      const r = await cli(args);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 5, stderr: expected });
    }
    const fromEnv = await cli(['runs', 'list', '--json'], { env: { SKILLPLANE_URL: url } });
    expect(fromEnv.code).toBe(5);
    expect(JSON.parse(fromEnv.stdout)).toMatchObject({
      ok: false,
      error: { code: 'connection_failed', url, reason: 'connection refused', errno: 'ECONNREFUSED' },
    });
  });

  it('submit --wait exits 3 on a run waiting for approval; approving it records the key principal', async () => {
    const waited = await cli(['submit', 'ops', '-i', 'danger', '--wait', '20', '--json', ...remote()]);
    expect(waited.code).toBe(3);
    const run = JSON.parse(waited.stdout) as { id: string; status: string };
    expect(run.status).toBe('waiting_approval');
    const [pending] = await h.app.runtime.listApprovals({ run_id: run.id, status: 'pending' });
    expect(pending).toBeDefined();

    const approved = await cli(['approvals', 'approve', pending!.id, '--reason', 'looks fine', ...remote()]);
    expect(approved.stderr).toBe('');
    expect(approved.code).toBe(0);
    expect(approved.stdout).toBe(`approval ${pending!.id} approved by alice (run ${run.id})\n`);
    const [decided] = await h.app.runtime.listApprovals({ run_id: run.id });
    expect(decided).toMatchObject({ status: 'approved', decided_by: 'alice', reason: 'looks fine' });
    const audit = await h.store.listAudit({ action: 'approval.decide', target: pending!.id });
    expect(audit.entries.map((e) => e.principal)).toEqual(['alice']);

    const events = await cli(['runs', 'events', run.id, ...remote()]);
    expect(events.code).toBe(0);
    expect(events.stdout).toMatch(/approval\.decided\s+approval apr_\w+ approved/);
    expect(events.stdout).toMatch(/run\.completed/);
  });

  it('submit --wait exits 6 when the run is still running after the wait', async () => {
    const r = await cli(['submit', 'assistant', '-i', 'sleep 4000', '--wait', '1', '--json', ...remote()]);
    expect(r.code).toBe(6);
    expect(JSON.parse(r.stdout)).toMatchObject({ status: 'running' });
  });

  it('submit --follow shows the live view and leaves a run waiting for approval with exit code 3', async () => {
    const r = await cli(['submit', 'ops', '-i', 'danger', '--follow', ...remote()]);
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^run run_\w+ \(single, normal\)\n/);
    expect(r.stdout).toMatch(/⏸ approval apr_\w+ needed for test\/danger \(destructive\)/);
    expect(r.stdout).toMatch(
      /waits for approval apr_\w+; decide it with `skillplane approvals approve apr_\w+`/,
    );
  });

  it('submit --follow --approve-all approves as the key principal and completes with exit code 0', async () => {
    const r = await cli(['submit', 'ops', '-i', 'danger', '--follow', '--approve-all', ...remote()]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/· approval apr_\w+ approved by alice/);
    expect(r.stdout).toContain('✓ skill test/danger');
    expect(r.stdout).toContain('✓ completed');
    expect(r.stdout).toMatch(/usage: \d+ steps/);
    const runId = /^run (run_\w+)/.exec(r.stdout)?.[1];
    const [approval] = await h.app.runtime.listApprovals({ run_id: runId! });
    expect(approval).toMatchObject({ status: 'approved', decided_by: 'alice' });
  });

  it('without API keys (open loopback server) records decisions as cli:<OS user>, not anonymous', async () => {
    const open = await startHarness({ script, agents: apiAgents });
    const openServer = await startServer(open.app.ports, { host: '127.0.0.1', port: 0, logger: false });
    try {
      // No $USER in the CLI's environment: the OS account names the caller.
      const r = await cli(['submit', 'ops', '-i', 'danger', '--approve-all', '--url', openServer.url]);
      expect(r.code).toBe(0);
      const user = `cli:${userInfo().username}`;
      expect(r.stdout).toContain(`approved by ${user}`);
      const runId = /^run (run_\w+)/.exec(r.stdout)?.[1];
      const [approval] = await open.app.runtime.listApprovals({ run_id: runId! });
      expect(approval).toMatchObject({ status: 'approved', decided_by: user });
    } finally {
      await openServer.close();
      await open.close();
    }
  });

  it('submit passes --items (JSON array or repeated) and --reducer to a parallel_map run', async () => {
    const r = await cli([
      'submit',
      'writer',
      '-i',
      'topic',
      '-s',
      'parallel_map',
      '--items',
      '["alpha","beta"]',
      '--items',
      'gamma',
      '--reducer',
      'critic',
      '--follow',
      ...remote(),
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    for (const branch of ['map.0', 'map.1', 'map.2', 'reduce'])
      expect(r.stdout).toContain(`[${branch}] ✓ model test-model`);
    const runId = /^run (run_\w+)/.exec(r.stdout)?.[1];
    const run = await h.app.runtime.getRun(runId!);
    // The scripted model echoes each branch's input: one branch per item, in order.
    const result = run.result as { branches: { agent: string; output: string }[] };
    expect(result.branches.map((b) => b.agent)).toEqual(['writer', 'writer', 'writer']);
    expect(result.branches.map((b) => /alpha|beta|gamma/.exec(b.output)?.[0])).toEqual([
      'alpha',
      'beta',
      'gamma',
    ]);
    const steps = await h.app.runtime.getSteps(runId!);
    expect(steps.find((s) => s.branch === 'reduce')?.key).toMatch(/^reduce\/critic/);
  });

  it('prints a proxy error page once, shortened, when the run fails on it (exit code 1)', async () => {
    const r = await cli(['submit', 'assistant', '-i', 'proxy', '--follow', ...remote()]);
    expect(r.code).toBe(1);
    const failures = r.stdout.split('\n').filter((l) => l.includes('✗'));
    expect(failures.length).toBeGreaterThanOrEqual(2);
    expect(r.stdout.match(/answered HTTP 502/g)).toHaveLength(1);
    expect(r.stdout).not.toContain('<html');
    expect(failures.at(-1)).toBe('✗ failed: model_unavailable (same error as above)');
    for (const line of r.stdout.split('\n')) expect(line.length).toBeLessThan(400);
  });

  it('run (in-process) ends with the same exit codes as submit --follow', async () => {
    const dir = join(temp, 'in-process');
    mkdirSync(dir, { recursive: true });
    const config = {
      store: { driver: 'memory' },
      models: { default: { base_url: h.server.url, model: 'test-model', max_retries: 0 } },
      skills: {
        directories: [join(h.dir, 'skills')],
        allowed_roots: [join(h.dir, 'workspace')],
        watch: false,
      },
      agents: {
        directories: [],
        definitions: [
          { name: 'ops', instructions: 'test', skills: ['test/danger'] },
          { name: 'assistant', instructions: 'test' },
        ],
      },
    };
    writeFileSync(join(dir, 'skillplane.yaml'), JSON.stringify(config));
    const waiting = await cli(['run', 'ops', '-i', 'danger'], { cwd: dir });
    expect(waiting.code).toBe(3);
    expect(waiting.stdout).toMatch(/waits for approval apr_\w+; decide it with/);
    const approved = await cli(['run', 'ops', '-i', 'danger', '--approve-all'], { cwd: dir });
    expect(approved.code).toBe(0);
    expect(approved.stdout).toMatch(/· approval apr_\w+ approved by cli:/);
    const failed = await cli(['run', 'assistant', '-i', 'proxy'], { cwd: dir });
    expect(failed.code).toBe(1);
    expect(failed.stdout.match(/answered HTTP 502/g)).toHaveLength(1);
  });

  it('init writes a starter that `serve --config` loads: its agent and skill are served', async () => {
    const dir = join(temp, 'served-starter');
    const init = await cli(['init', dir]);
    expect(init.code).toBe(0);
    const serve = spawn(
      process.execPath,
      cliArgv(['--config', join(dir, 'skillplane.yaml'), 'serve', '--port', '0'], entry),
      {
        cwd: temp,
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    try {
      let log = '';
      const url = await new Promise<string>((resolve, reject) => {
        serve.stdout.setEncoding('utf8').on('data', (d: string) => {
          log += d;
          const m = /listening on (http:\/\/[^\s"]+)/.exec(log);
          if (m !== null) resolve(m[1]!);
        });
        serve.once('exit', (code) => reject(new Error(`serve exited with ${String(code)}: ${log}`)));
      });
      expect(log).toContain('"skill_load_errors":0');
      const skills = (await (await fetch(`${url}/v1/skills`)).json()) as { skills: { id: string }[] };
      expect(skills.skills.map((x) => x.id)).toEqual(['starter/word-count']);
      const agents = (await (await fetch(`${url}/v1/agents`)).json()) as {
        agents: { name: string; skills: string[] }[];
      };
      expect(agents.agents).toMatchObject([{ name: 'assistant' }]);
      const executed = await fetch(`${url}/v1/skills/starter%2Fword-count/execute`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ input: { text: 'one two three' } }),
      });
      expect(await executed.json()).toMatchObject({ output: { words: 3, characters: 13 } });
    } finally {
      const exited = new Promise((resolve) => serve.once('exit', resolve));
      serve.kill('SIGTERM');
      await exited;
    }
  });

  it('init writes a starter config, agent and skill that validate and load', async () => {
    const dir = join(temp, 'starter', 'new-folder');
    const r = await cli(['init', dir]);
    expect(r.code).toBe(0);
    for (const f of ['skillplane.yaml', 'agents/assistant.yaml', 'skills/word-count/skill.yaml']) {
      expect(existsSync(join(dir, f))).toBe(true);
      expect(r.stdout).toContain(`wrote ${join(dir, f)}`);
    }
    expect(readFileSync(join(dir, 'skillplane.yaml'), 'utf8')).toContain('http://127.0.0.1:11434/v1');
    const valid = await cli(['skills', 'validate'], dir);
    expect(valid.code).toBe(0);
    expect(valid.stdout).toContain('ok     starter/word-count@0.1.0');
    expect(valid.stdout).toContain('1 valid, 0 error(s)');
    const list = await cli(['skills', 'list', '--json'], dir);
    expect(JSON.parse(list.stdout)).toMatchObject({ skills: [{ id: 'starter/word-count' }], errors: [] });
    const ran = await cli(['skills', 'run', 'starter/word-count', '--input', '{"text":"to be or not"}'], dir);
    expect(ran.code).toBe(0);
    expect(JSON.parse(ran.stdout)).toEqual({ words: 4, characters: 12 });
  });

  it('init refuses to overwrite an existing file unless --force', async () => {
    const dir = join(temp, 'starter-taken');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'skillplane.yaml'), '# mine\n');
    const refused = await cli(['init', dir, '--json']);
    expect(refused.code).toBe(1);
    expect(JSON.parse(refused.stdout)).toMatchObject({
      ok: false,
      error: { code: 'init_would_overwrite', existing: [join(dir, 'skillplane.yaml')] },
    });
    expect(readFileSync(join(dir, 'skillplane.yaml'), 'utf8')).toBe('# mine\n');
    expect(existsSync(join(dir, 'agents'))).toBe(false);
    const forced = await cli(['init', dir, '--force']);
    expect(forced.code).toBe(0);
    expect(readFileSync(join(dir, 'skillplane.yaml'), 'utf8')).toContain('models:');
  });
  it('runs from the TypeScript sources through tsx as well (the development path)', async () => {
    const version = await runCli(['-V'], { entry: SOURCE, timeoutMs: 60_000 });
    expect(version.code).toBe(0);
    expect(version.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
    const kind = await runCli(['skills', 'list', '--kind', 'bogus'], { entry: SOURCE, timeoutMs: 60_000 });
    expect(kind.code).toBe(2);
    expect(kind.stderr).toContain('Allowed choices are tool, prompt, workflow');
  });
});
