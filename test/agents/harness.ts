import { EventEmitter } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { App } from '../../src/app/index.js';
import type { AgentDefinition } from '../../src/config/index.js';
import type { Runtime } from '../../src/agents/index.js';
import type { ToolProcessEvent } from '../../src/skills/index.js';
import { MemoryRunStore, type Run, type RunEvent, type RunStore } from '../../src/store/index.js';
import { isTerminal, type Clock, type RunStatus } from '../../src/vocabulary/index.js';
import {
  createTestApp,
  startScriptedModelServer,
  type Script,
  type ScriptedModelServer,
} from '../../src/testing/index.js';

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
  /** Every sandbox process spawn, reuse and exit so far, in order. */
  processEvents: ToolProcessEvent[];
  /** Emits `'event'` with each {@link ToolProcessEvent} as it happens. */
  processes: EventEmitter<{ event: [ToolProcessEvent] }>;
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
  /** The memory store's (and so the runtime's) clock. */
  clock?: Clock;
}): Promise<Harness> {
  const server = await startScriptedModelServer({ script: opts.script, model: 'test-model' });
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), 'sp-rt-'));
  const { sideFile, workspace } = writeTestSkills(dir);
  writeFlakySkills(dir, workspace);
  const cfg = opts.config ?? {};
  const store = opts.store ?? new MemoryRunStore(opts.clock === undefined ? {} : { clock: opts.clock });
  const processEvents: ToolProcessEvent[] = [];
  const processes = new EventEmitter<{ event: [ToolProcessEvent] }>();
  const app = await createTestApp({
    dir,
    modelUrl: server.url,
    agents: opts.agents,
    allowedRoots: [workspace],
    store,
    config: {
      ...cfg,
      store: { driver: 'memory' },
      models: {
        ...((cfg.models as object | undefined) ?? {}),
        default: {
          price_per_1k_input: 0.001,
          price_per_1k_output: 0.002,
          ...((cfg.models as { default?: object } | undefined)?.default ?? {}),
        },
      },
    },
    app: {
      start: opts.start ?? true,
      onProcessEvent: (e) => {
        processEvents.push(e);
        processes.emit('event', e);
      },
    },
  });
  return {
    app,
    server,
    store,
    dir,
    sideFile,
    processEvents,
    processes,
    async close() {
      await app.close(200);
      await server.close();
      if (opts.dir === undefined) rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** One execution a test skill recorded in its side file. */
export interface Execution {
  skill?: string;
  label: string;
  run: string;
}

/** Every execution recorded in the side file `file` so far, in order. */
export function executions(file: string): Execution[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Execution);
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

/**
 * Settles like `promise`, or rejects naming `what` once `ms` pass first: an await on an event or
 * a promise the code under test resolves, with a deadline and a message.
 */
export async function withDeadline<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** A promise with its resolver, for a test double to tell the test that something happened. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/**
 * Reads with `read` now and after every notification of run `runId` (subscribed before the first
 * read, one read at a time) until it returns a value, which is resolved; rejects when `read`
 * throws or `ms` pass first, with a message naming `what` and what `describe` saw last.
 */
export function untilRunChanges<T>(
  runtime: Pick<Runtime, 'subscribe'>,
  runId: string,
  read: () => Promise<T | undefined>,
  ms: number,
  what: string,
  describe: () => string = () => '',
): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let reading = false;
    let again = false;
    let settled = false;
    const finish = (err: unknown, value?: T): void => {
      if (settled) return;
      settled = true;
      off();
      clearTimeout(timer);
      if (err === undefined) resolve(value!);
      else reject(err instanceof Error ? err : new Error(String(err)));
    };
    // A notification during a read asks for one more read.
    const check = async (): Promise<void> => {
      if (reading) {
        again = true;
        return;
      }
      reading = true;
      try {
        do {
          again = false;
          const value = await read();
          if (value !== undefined) return finish(undefined, value);
        } while (again && !settled);
      } catch (err) {
        finish(err);
      } finally {
        reading = false;
      }
    };
    const off = runtime.subscribe(runId, () => void check());
    const timer = setTimeout(() => {
      const seen = describe();
      finish(new Error(`timed out after ${ms} ms waiting for ${what}${seen === '' ? '' : ` (${seen})`}`));
    }, ms);
    void check();
  });
}

/**
 * Resolves with run `runId` once it has `status`, woken by the runtime's notifications. Rejects
 * when `ms` pass first, or when the run ends in another terminal status.
 */
export function waitForStatus(
  runtime: Pick<Runtime, 'subscribe' | 'getRun'>,
  runId: string,
  status: RunStatus,
  ms = 10_000,
): Promise<Run> {
  let last = 'not read yet';
  return untilRunChanges(
    runtime,
    runId,
    async () => {
      const run = await runtime.getRun(runId);
      last = run.status;
      if (run.status === status) return run;
      if (isTerminal(run.status))
        throw new Error(`run ${runId} ended ${run.status} while waiting for it to be ${status}`);
      return undefined;
    },
    ms,
    `run ${runId} to be ${status}`,
    () => `last status ${last}`,
  );
}

/**
 * Resolves with the stored events of run `runId` once `enough` holds for them, woken by the
 * runtime's notifications; rejects naming `what` when `ms` pass first.
 */
export function waitForEvents(
  runtime: Pick<Runtime, 'subscribe' | 'listEvents'>,
  runId: string,
  enough: (events: RunEvent[]) => boolean,
  ms: number,
  what: string,
): Promise<RunEvent[]> {
  let last: RunEvent[] = [];
  return untilRunChanges(
    runtime,
    runId,
    async () => {
      last = await runtime.listEvents(runId, 0);
      return enough(last) ? last : undefined;
    },
    ms,
    what,
    () => `events so far: ${last.map((e) => e.type).join(', ')}`,
  );
}

/**
 * Resolves with the first sandbox process event of the harness that matches `match`, whether it
 * already happened or happens within `ms`; rejects naming `what` otherwise.
 */
export function processEvent(
  h: Pick<Harness, 'processEvents' | 'processes'>,
  match: (e: ToolProcessEvent) => boolean,
  ms: number,
  what: string,
): Promise<ToolProcessEvent> {
  const seen = h.processEvents.find(match);
  if (seen !== undefined) return Promise.resolve(seen);
  let listener: ((e: ToolProcessEvent) => void) | undefined;
  const next = new Promise<ToolProcessEvent>((resolve) => {
    listener = (e) => {
      if (match(e)) resolve(e);
    };
    h.processes.on('event', listener);
  });
  return withDeadline(next, ms, what).finally(() => h.processes.off('event', listener!));
}
