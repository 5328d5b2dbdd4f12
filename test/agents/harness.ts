import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type App } from '../../src/app/index.js';
import { loadConfig, type AgentDefinition } from '../../src/config/index.js';
import { MemoryRunStore, type RunStore } from '../../src/store/index.js';
import { startScriptedModelServer, type Script, type ScriptedModelServer } from '../../src/testing/index.js';

/** Test skills: record (writes a line per execution), danger (same, risk-tagged), slow, echo. */
export function writeTestSkills(dir: string): { sideFile: string; workspace: string } {
  const workspace = join(dir, 'workspace');
  mkdirSync(workspace, { recursive: true });
  const sideFile = join(workspace, 'executions.log');
  const tool = (name: string, extra: string, code: string) => {
    const d = join(dir, 'skills', name);
    mkdirSync(d, { recursive: true });
    writeFileSync(
      join(d, 'skill.yaml'),
      `skill_id: test/${name}\nversion: 1.0.0\nkind: tool\ndescription: test skill ${name}\nentry: ./index.mjs\n${extra}`,
    );
    writeFileSync(join(d, 'index.mjs'), code);
  };
  const record = `import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
export default async (input, ctx) => {
  appendFileSync(join(ctx.roots[0], 'executions.log'), JSON.stringify({ skill: process.env.SKILL ?? 'x', label: input.label, run: ctx.runId }) + '\\n');
  return { recorded: input.label };
};`;
  const rw = `roots: [${workspace}]\npermissions: {fs: {read: [${workspace}], write: [${workspace}]}}\ninput_schema: {type: object, required: [label], properties: {label: {type: string}}}\n`;
  tool('record', rw, record);
  tool('danger', `${rw}risk_tags: [destructive]\n`, record);
  tool(
    'slow',
    `input_schema: {type: object, properties: {ms: {type: integer}}}\ntimeouts: {execute_sec: 60}\n`,
    `export default (input, ctx) => new Promise((resolve, reject) => {
  const t = setTimeout(() => resolve({ slept: input.ms ?? 60000, pid: process.pid }), input.ms ?? 60000);
  ctx.signal.addEventListener('abort', () => { clearTimeout(t); reject(new Error('aborted')); });
});`,
  );
  tool(
    'echo',
    `input_schema: {type: object}\n`,
    `export default async (input) => ({ echo: input, pid: process.pid });`,
  );
  return { sideFile, workspace };
}

export interface Harness {
  app: App;
  server: ScriptedModelServer;
  store: RunStore;
  dir: string;
  sideFile: string;
  close(): Promise<void>;
}

/** A full in-process runtime: memory store (or the one given), real skills, scripted model server. */
export async function startHarness(opts: {
  script: Script;
  agents: Partial<AgentDefinition>[];
  config?: Record<string, unknown>;
  store?: RunStore;
  dir?: string;
  start?: boolean;
}): Promise<Harness> {
  const server = await startScriptedModelServer({ script: opts.script, model: 'test-model' });
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'sp-rt-'));
  const { sideFile, workspace } = writeTestSkills(dir);
  writeFlakySkills(dir, workspace);
  const cfg = opts.config ?? {};
  const loaded = loadConfig({
    cwd: dir,
    env: {},
    overrides: {
      ...cfg,
      store: { driver: 'memory' },
      models: {
        default: {
          base_url: server.url,
          model: 'test-model',
          max_retries: 0,
          price_per_1k_input: 0.001,
          price_per_1k_output: 0.002,
          ...((cfg.models as { default?: object } | undefined)?.default ?? {}),
        },
      },
      skills: {
        directories: [join(dir, 'skills')],
        allowed_roots: [workspace],
        watch: false,
        ...((cfg.skills as object | undefined) ?? {}),
      },
      agents: {
        directories: [],
        ...((cfg.agents as object | undefined) ?? {}),
        definitions: opts.agents.map((a) => ({ instructions: 'test', ...a })),
      },
    },
  });
  const store = opts.store ?? new MemoryRunStore();
  const app = await createApp(loaded, { store, watch: false, retryBaseMs: 5, start: opts.start ?? true });
  return {
    app,
    server,
    store,
    dir,
    sideFile,
    async close() {
      await app.close(200);
      await server.close();
      if (opts.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The tool names a scripted request offered. */
export function offered(body: { tools?: { function: { name: string } }[] }): string[] {
  return (body.tools ?? []).map((t) => t.function.name);
}

/** Number of tool results in a scripted request's conversation. */
export function toolResultCount(body: { messages: { role: string }[] }): number {
  return body.messages.filter((m) => m.role === 'tool').length;
}

/** Text of the last user message of a scripted request. */
export function userText(body: { messages: { role: string; content?: unknown }[] }): string {
  for (let i = body.messages.length - 1; i >= 0; i--) {
    const m = body.messages[i]!;
    if (m.role === 'user' && typeof m.content === 'string') return m.content;
  }
  return '';
}

/** Adds `test/flaky` (crashes its process on the first call, then works) and its risk-tagged twin. */
export function writeFlakySkills(dir: string, workspace: string): void {
  const code = `import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
export default async (input, ctx) => {
  const marker = join(ctx.roots[0], input.marker);
  appendFileSync(join(ctx.roots[0], 'executions.log'), JSON.stringify({ label: input.marker, run: ctx.runId }) + '\\n');
  if (!existsSync(marker)) { writeFileSync(marker, 'crashed once'); process.exit(9); }
  return { ok: true };
};`;
  for (const [name, extra] of [
    ['flaky', ''],
    ['flaky-risky', 'risk_tags: [external_side_effect]\n'],
  ] as const) {
    const d = join(dir, 'skills', name);
    mkdirSync(d, { recursive: true });
    writeFileSync(
      join(d, 'skill.yaml'),
      `skill_id: test/${name}\nversion: 1.0.0\nkind: tool\ndescription: crashes once\nentry: ./index.mjs\nroots: [${workspace}]\npermissions: {fs: {read: [${workspace}], write: [${workspace}]}}\ninput_schema: {type: object, required: [marker], properties: {marker: {type: string}}}\n${extra}`,
    );
    writeFileSync(join(d, 'index.mjs'), code);
  }
}
