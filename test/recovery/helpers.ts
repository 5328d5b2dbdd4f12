import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import type { App } from '../../src/app/index.js';
import type { AgentDefinition } from '../../src/config/index.js';
import {
  newRunId,
  type NewRun,
  type Run,
  type RunPatch,
  type RunStore,
  type Step,
} from '../../src/store/index.js';
import {
  createTestApp,
  startScriptedModelServer,
  type ScriptedModelServer,
  type Script,
} from '../../src/testing/index.js';
import { executions, toolResultCount, userText, writeTestSkills } from '../agents/harness.js';

export { executions, writeTestSkills, type Execution } from '../agents/harness.js';

/** How many times each `run/label` was executed. */
export function executionCounts(file: string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const e of executions(file)) {
    const k = `${e.run}/${e.label}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}

/**
 * The multi-step workload: each run calls `tool` `calls` times, one call per model turn, with the
 * label `<input>#<n>`, then answers `done`. Deterministic from the conversation, so a model step
 * retried after a crash asks for the same thing.
 */
export function recordScript(opts: { calls: number; delayMs: number; tool?: string }): Script {
  const tool = opts.tool ?? 'test__record';
  return ({ body }) => {
    const n = toolResultCount(body);
    if (n < opts.calls) {
      return {
        tool_calls: [{ name: tool, arguments: { label: `${userText(body)}#${n}` } }],
        delay_ms: opts.delayMs,
      };
    }
    return { content: 'done', delay_ms: opts.delayMs };
  };
}

/** Adds a slow risk-tagged skill `test/slowdanger` that records its start, then sleeps. */
export function writeSlowDangerSkill(dir: string, workspace: string): void {
  const d = join(dir, 'skills', 'slowdanger');
  mkdirSync(d, { recursive: true });
  writeFileSync(
    join(d, 'skill.yaml'),
    `skill_id: test/slowdanger\nversion: 1.0.0\nkind: tool\ndescription: slow risky skill\nentry: ./index.mjs\n` +
      `roots: [${workspace}]\npermissions: {fs: {read: [${workspace}], write: [${workspace}]}}\n` +
      `input_schema: {type: object, required: [label], properties: {label: {type: string}}}\n` +
      `risk_tags: [destructive]\ntimeouts: {execute_sec: 60}\n`,
  );
  writeFileSync(
    join(d, 'index.mjs'),
    `import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
export default (input, ctx) => {
  appendFileSync(join(ctx.roots[0], 'executions.log'), JSON.stringify({ skill: 'slowdanger', label: input.label, run: ctx.runId }) + '\\n');
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => resolve({ done: input.label }), 30000);
    ctx.signal.addEventListener('abort', () => { clearTimeout(t); reject(new Error('aborted')); });
  });
};`,
  );
}

/** One execution of a `test/keyed*` skill: what it saw of `ctx`. */
export interface KeyedExecution {
  skill: string;
  label: string;
  run: string;
  key: string;
  attempt: number;
}

/**
 * Adds `test/keyed` (idempotent) and `test/keyed-once` (`idempotent: false`): each records its
 * label, `ctx.idempotencyKey` and `ctx.attempt` in the side file, then: a label starting with
 * `crash` kills its process on attempt 1 (a retryable `skill_crashed`); a label starting with `gate`
 * waits, from attempt 2 on, until the file `gate` exists in the workspace.
 */
export function writeKeyedSkills(dir: string, workspace: string): void {
  const code = (name: string) => `import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
export default async (input, ctx) => {
  const root = ctx.roots[0];
  appendFileSync(join(root, 'executions.log'), JSON.stringify({ skill: '${name}', label: input.label, run: ctx.runId, key: ctx.idempotencyKey, attempt: ctx.attempt }) + '\\n');
  if (input.label.startsWith('crash') && ctx.attempt === 1) process.exit(9);
  if (input.label.startsWith('gate') && ctx.attempt >= 2) {
    while (!existsSync(join(root, 'gate'))) {
      ctx.signal.throwIfAborted();
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  return { recorded: input.label, attempt: ctx.attempt };
};`;
  for (const [name, extra] of [
    ['keyed', ''],
    ['keyed-once', 'idempotent: false\n'],
  ] as const) {
    const d = join(dir, 'skills', name);
    mkdirSync(d, { recursive: true });
    writeFileSync(
      join(d, 'skill.yaml'),
      `skill_id: test/${name}\nversion: 1.0.0\nkind: tool\ndescription: records its idempotency key\nentry: ./index.mjs\n` +
        `roots: [${workspace}]\npermissions: {fs: {read: [${workspace}], write: [${workspace}]}}\n` +
        `input_schema: {type: object, required: [label], properties: {label: {type: string}}}\ntimeouts: {execute_sec: 60}\n${extra}`,
    );
    writeFileSync(join(d, 'index.mjs'), code(name));
  }
}

/** The executions of `test/keyed*` skills recorded in `file`. */
export function keyedExecutions(file: string): KeyedExecution[] {
  return executions(file).filter((e) => e.skill?.startsWith('keyed') === true) as unknown as KeyedExecution[];
}

/**
 * Wraps a store so that, from the first call `trigger` matches on, every call (that one included)
 * is held back: a node whose database answers stall (a long pause, a partition). `release()` then
 * passes the held calls on in order, as a late network would, and resolves once they settled;
 * `kill()` rejects them and every later call instead.
 */
export function pausingStore(
  inner: RunStore,
  trigger: (method: string, args: unknown[]) => boolean,
): { store: RunStore; paused: Promise<void>; release(): Promise<void>; kill(): void } {
  let state: 'live' | 'paused' | 'dead' = 'live';
  let onPause!: () => void;
  const paused = new Promise<void>((r) => (onPause = r));
  const held: { run: () => Promise<unknown>; resolve(v: unknown): void; reject(e: unknown): void }[] = [];
  const dead = () => new Error('store of a dead node');
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || prop === 'driver') return v;
      return (...args: unknown[]) => {
        if (state === 'dead') return Promise.reject(dead());
        if (state === 'live' && trigger(String(prop), args)) {
          state = 'paused';
          onPause();
        }
        const run = () => (v as (...a: unknown[]) => Promise<unknown>).apply(target, args);
        if (state === 'live') return run();
        return new Promise((resolve, reject) => held.push({ run, resolve, reject }));
      };
    },
  });
  return {
    store,
    paused,
    async release() {
      state = 'live';
      const calls = held.splice(0);
      const settled = calls.map((c) => c.run().then(c.resolve, c.reject));
      await Promise.allSettled(settled);
    },
    kill() {
      state = 'dead';
      for (const c of held.splice(0)) c.reject(dead());
    },
  };
}

/** True for the `finishStep` call that records a completed `test/keyed*` or `test/record` call. */
export function isSkillCompletion(method: string, args: unknown[]): boolean {
  if (method !== 'finishStep') return false;
  const result = args[2] as { status?: string; output?: { recorded?: unknown } } | undefined;
  return result?.status === 'completed' && typeof result.output?.recorded === 'string';
}

/** Builds an App over `store` with the test skills in `dir` and the scripted model at `modelUrl`. */
export async function buildApp(opts: {
  dir: string;
  workspace: string;
  modelUrl: string;
  store: RunStore;
  agents: Partial<AgentDefinition>[];
  nodeId: string;
  leaseMs?: number;
  start?: boolean;
  config?: {
    agents?: Record<string, unknown>;
    skills?: Record<string, unknown>;
    store?: Record<string, unknown>;
  };
}): Promise<App> {
  return createTestApp({
    dir: opts.dir,
    modelUrl: opts.modelUrl,
    agents: opts.agents,
    allowedRoots: [opts.workspace],
    store: opts.store,
    config: { ...(opts.config ?? {}) },
    app: {
      nodeId: opts.nodeId,
      ...(opts.leaseMs === undefined ? {} : { leaseMs: opts.leaseMs }),
      ...(opts.start === undefined ? {} : { start: opts.start }),
    },
  });
}

/**
 * Wraps a store so that it can "die": after `freeze()` every call hangs (a frozen or partitioned
 * process — nothing more reaches the database); `kill()` then rejects the hung calls and every
 * later one, so the dead node can be torn down. Calls made before `freeze()` complete normally.
 */
export function crashableStore(inner: RunStore): {
  store: RunStore;
  freeze(): void;
  kill(): void;
  /** The database is reachable again (after `kill()`: a healed partition). */
  heal(): void;
} {
  let state: 'live' | 'frozen' | 'dead' = 'live';
  const hung: ((e: Error) => void)[] = [];
  const dead = () => new Error('store of a dead node');
  const store = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function' || prop === 'driver') return v;
      return (...args: unknown[]) => {
        if (state === 'dead') return Promise.reject(dead());
        if (state === 'frozen') return new Promise((_, reject) => hung.push(reject));
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return {
    store,
    freeze() {
      state = 'frozen';
    },
    kill() {
      state = 'dead';
      for (const r of hung.splice(0)) r(dead());
    },
    heal() {
      state = 'live';
    },
  };
}

export { until } from '../../src/testing/index.js';

/** Every run of a store (up to 5,000), oldest first. */
export async function allRuns(store: RunStore): Promise<Run[]> {
  const out: Run[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await store.listRuns({ limit: 500, ...(cursor === undefined ? {} : { cursor }) });
    out.push(...page.runs);
    if (page.next_cursor === null || out.length >= 5_000) break;
    cursor = page.next_cursor;
  }
  return out.reverse();
}

/** Label of a `record` skill step (its input). */
export function stepLabel(step: Step): string | undefined {
  const input = step.input as { label?: unknown } | null;
  return step.kind === 'skill' && typeof input?.label === 'string' ? input.label : undefined;
}

/** `fn` over `items`, at most `limit` at a time, results in order (bulk reads of a test's audit). */
export async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<R>,
): Promise<R[]> {
  const out: R[] = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}

/** The steps of each run, read 8 at a time. */
function stepsOf(store: RunStore, runIds: string[]): Promise<Step[][]> {
  return mapLimit(runIds, 8, (id) => store.getSteps(id));
}

/** `run/label` keys of the skill steps completed in `store` right now. */
export async function completedSkillSteps(store: RunStore, runIds: string[]): Promise<Set<string>> {
  const done = new Set<string>();
  const all = await stepsOf(store, runIds);
  for (const [i, id] of runIds.entries()) {
    for (const s of all[i]!) {
      const label = stepLabel(s);
      if (label !== undefined && s.status === 'completed') done.add(`${id}/${label}`);
    }
  }
  return done;
}

/** What a crash left: the skill steps completed in the journal, and the side file's counts. */
export interface CrashSnapshot {
  /** `run/label` keys of the skill steps completed when the snapshot was taken. */
  completed: Set<string>;
  /** Executions per `run/label` in the side file, read after the journal. */
  counts: Map<string, number>;
}

/**
 * Takes the journal (completed skill steps) THEN the side file. In that order every execution of
 * a step completed by then is already counted (a skill writes its line before it returns, and its
 * step completes after), so a step completed before the crash must never be counted again later.
 * Survivors keep running meanwhile: a step may complete (even after a retry) between the crash
 * and the snapshot, which is why "ran once in all" is not the invariant, "never again" is.
 */
export async function crashSnapshot(
  store: RunStore,
  runIds: string[],
  sideFile: string,
): Promise<CrashSnapshot> {
  const completed = await completedSkillSteps(store, runIds);
  return { completed, counts: executionCounts(sideFile) };
}

/**
 * The exactly-once check of the side file against the final journal: every skill step of every
 * run executed at least once; a step completed before the crash never executed again after it; a
 * step run more than once only if its journal shows it was begun again (retried after a failed
 * attempt, or in flight at the crash and re-run). Returns the steps that ran more than once.
 */
export async function checkExactlyOnce(
  store: RunStore,
  runIds: string[],
  sideFile: string,
  before: CrashSnapshot,
): Promise<{ problems: string[]; retriedInFlight: string[]; skillSteps: number }> {
  const counts = executionCounts(sideFile);
  const problems: string[] = [];
  const retriedInFlight: string[] = [];
  let skillSteps = 0;
  const all = await stepsOf(store, runIds);
  for (const [i, id] of runIds.entries()) {
    for (const s of all[i]!) {
      const label = stepLabel(s);
      if (label === undefined) continue;
      skillSteps++;
      const k = `${id}/${label}`;
      const n = counts.get(k) ?? 0;
      if (n === 0) problems.push(`${k}: never executed`);
      const then = before.counts.get(k) ?? 0;
      if (before.completed.has(k) && n !== then)
        problems.push(
          `${k}: completed before the crash after ${then} executions, ran ${n - then} more times`,
        );
      if (n > 1) {
        if (s.attempt < n) problems.push(`${k}: ran ${n} times with only ${s.attempt} attempts journaled`);
        retriedInFlight.push(k);
      }
      counts.delete(k);
    }
  }
  for (const [k, n] of counts) problems.push(`${k}: executed ${n} times without a journaled step`);
  return { problems, retriedInFlight, skillSteps };
}

/** One store call of a node, for ownership-overlap checks. */
export interface StepCall {
  node: string;
  op: 'begin' | 'finish';
  run: string;
  seq: number;
  /** When the call was made and when it settled (ms since epoch). */
  at: number;
  settledAt: number;
  ok: boolean;
}

/**
 * Wraps a store to log every `beginStep`/`finishStep` a node makes (successful or not), so a test
 * can check that no step was worked on by two nodes at once.
 */
export function recordingStore(inner: RunStore, node: string, log: StepCall[]): RunStore {
  return new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (prop !== 'beginStep' && prop !== 'finishStep') {
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      }
      return async (...args: unknown[]) => {
        const at = Date.now();
        const fn = v as (...a: unknown[]) => Promise<Step>;
        const entry = (ok: boolean, run: string, seq: number): void => {
          log.push({
            node,
            op: prop === 'beginStep' ? 'begin' : 'finish',
            run,
            seq,
            at,
            settledAt: Date.now(),
            ok,
          });
        };
        const run = prop === 'beginStep' ? (args[0] as { run_id: string }).run_id : (args[0] as string);
        try {
          const s = await fn.apply(target, args);
          entry(true, run, s.seq);
          return s;
        } catch (err) {
          entry(false, run, prop === 'finishStep' ? (args[1] as number) : -1);
          throw err;
        }
      };
    },
  });
}

/**
 * Checks that, for every step, the intervals during which different nodes worked on it (from a
 * successful begin to that node's next finish call for the same step, or forever if it never made
 * one) do not overlap. Returns the overlaps found.
 */
export function stepOverlaps(log: StepCall[]): string[] {
  const spans = new Map<string, { node: string; from: number; to: number }[]>();
  const open = new Map<string, { node: string; from: number }>();
  for (const c of [...log].sort((a, b) => a.at - b.at)) {
    const k = `${c.run}#${c.seq}/${c.node}`;
    if (c.op === 'begin' && c.ok) open.set(k, { node: c.node, from: c.settledAt });
    if (c.op === 'finish') {
      const o = open.get(k);
      if (o === undefined) continue;
      open.delete(k);
      const list = spans.get(`${c.run}#${c.seq}`) ?? [];
      list.push({ node: o.node, from: o.from, to: c.at });
      spans.set(`${c.run}#${c.seq}`, list);
    }
  }
  for (const [k, o] of open) {
    const step = k.slice(0, k.lastIndexOf('/'));
    const list = spans.get(step) ?? [];
    list.push({ node: o.node, from: o.from, to: Infinity });
    spans.set(step, list);
  }
  const out: string[] = [];
  for (const [step, list] of spans) {
    for (const x of list)
      for (const y of list)
        if (x.node < y.node && x.from < y.to && y.from < x.to)
          out.push(`${step}: ${x.node} [${x.from}, ${x.to}] overlaps ${y.node} [${y.from}, ${y.to}]`);
  }
  return out;
}

/** Stores a run directly (a test's seed data): a fresh id and its `run.created` event. */
export async function seedRun(store: RunStore, fields: Omit<NewRun, 'id'> & { id?: string }): Promise<Run> {
  const { run } = await store.createRun(
    { id: fields.id ?? newRunId(), ...fields },
    {
      event: {
        type: 'run.created',
        data: { agent: fields.agent, strategy: fields.strategy, priority: 'normal' },
      },
    },
  );
  return run;
}

/**
 * Changes a stored run behind the runtime's back (as another node or an operator would), with a
 * `run.resumed` event naming who did it.
 */
export function tamperRun(store: RunStore, id: string, patch: RunPatch, by = 'test'): Promise<Run> {
  return store.transitionRun(id, patch, { type: 'run.resumed', data: { node: by } });
}

/** Teardowns registered by a recovery test file, run in reverse after each test. */
export function cleanupsAfterEach(): (() => Promise<void> | void)[] {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return cleanups;
}

/** A temp folder with the test skills, a scripted model server and where a SQLite store goes. */
export interface RecoveryEnv {
  dir: string;
  workspace: string;
  sideFile: string;
  dbPath: string;
  server: ScriptedModelServer;
}

/** Builds a {@link RecoveryEnv} (torn down through `cleanups`); `extra` adds skills to the folder. */
export async function recoveryEnv(
  cleanups: (() => Promise<void> | void)[],
  prefix: string,
  script: Script,
  extra: (dir: string, workspace: string) => void,
): Promise<RecoveryEnv> {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  const { sideFile, workspace } = writeTestSkills(dir);
  extra(dir, workspace);
  const server = await startScriptedModelServer({ script, model: 'test-model' });
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  cleanups.push(() => server.close());
  return { dir, workspace, sideFile, dbPath: join(dir, 'runs.db'), server };
}
