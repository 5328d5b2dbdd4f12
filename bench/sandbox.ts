/**
 * The cost of one skill call through the sandbox, with OS confinement (Linux namespaces through
 * bubblewrap, rlimits) and without it (Node's permission model only), beside a floor that uses
 * nothing of ours: a warm plain child process (`fork`) answering over Node's IPC.
 *
 *   npx tsx bench/sandbox.ts [--calls 4000] [--concurrency 4] [--cold 10]
 *
 * Warm rows: `--calls` calls of a no-op tool skill through `SkillInvoker.invoke` (policy, limits,
 * input schema, the framed channel, output checks), `--concurrency` at once with as many warm
 * processes. Cold row: a new executor each time, so the time includes starting the sandbox.
 */
import { fork } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import {
  detectConfinement,
  LocalDispatcher,
  PromptExecutor,
  SkillInvoker,
  SkillPolicy,
  SkillRegistry,
  ShellExecutor,
  ToolExecutor,
  WorkflowExecutor,
} from '../src/skills/index.js';
import { loadSkillsFromDirectories } from '../src/skills/index.js';
import { emitResult, sized, summaryRow, type SummaryRow } from './lib/measure.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return (i === -1 ? undefined : process.argv[i + 1]) ?? fallback;
}
const CALLS = Number(arg('calls', String(sized(4000, 500, 40))));
const CONCURRENCY = Number(arg('concurrency', '4'));
const COLD = Number(arg('cold', String(sized(10, 3, 1))));

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? 0;
}

interface Row {
  name: string;
  callsPerSec: number;
  p50: number;
  p95: number;
}

async function drive(name: string, call: (i: number) => Promise<unknown>): Promise<Row> {
  const latencies: number[] = [];
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < CALLS) {
        const i = next++;
        const t = performance.now();
        await call(i);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  return { name, callsPerSec: CALLS / seconds, p50: pct(latencies, 0.5), p95: pct(latencies, 0.95) };
}

/** The floor: warm forked children echoing over IPC, one call at a time each. */
async function floor(dir: string): Promise<Row> {
  const script = join(dir, 'echo.cjs');
  writeFileSync(
    script,
    "process.on('message', (m) => process.send({ id: m.id, output: { ok: true, n: m.input.n } }));",
  );
  const children = Array.from({ length: CONCURRENCY }, () =>
    fork(script, [], { stdio: 'ignore', execArgv: [] }),
  );
  const idle = [...children];
  const waiting: ((c: (typeof children)[number]) => void)[] = [];
  const take = () =>
    idle.length > 0
      ? Promise.resolve(idle.pop()!)
      : new Promise<(typeof children)[number]>((r) => waiting.push(r));
  const give = (c: (typeof children)[number]) => {
    const w = waiting.shift();
    if (w !== undefined) w(c);
    else idle.push(c);
  };
  const call = async (i: number) => {
    const child = await take();
    await new Promise<void>((resolve) => {
      const onMessage = (m: { id: number }) => {
        if (m.id !== i) return;
        child.off('message', onMessage);
        resolve();
      };
      child.on('message', onMessage);
      child.send({ id: i, input: { n: i } });
    });
    give(child);
  };
  for (let i = 0; i < 200; i++) await call(-1 - i);
  const row = await drive('floor: warm fork() child over IPC', call);
  for (const c of children) c.kill();
  return row;
}

async function runnerFor(dir: string, sandbox: 'auto' | 'node') {
  const policy = new SkillPolicy({
    allowShell: false,
    allowNetwork: false,
    allowedRoots: [],
    requireApprovalTags: [],
  });
  const { skills } = await loadSkillsFromDirectories([join(dir, 'skills')], { strict: true });
  const registry = new SkillRegistry(skills);
  const confinement = await detectConfinement(sandbox);
  const tool = new ToolExecutor({
    policy,
    sandbox: confinement,
    warmProcesses: CONCURRENCY,
    maxProcessesPerSkill: CONCURRENCY,
  });
  const holder: { invoker?: SkillInvoker } = {};
  const invoker = new SkillInvoker({
    registry,
    policy,
    dispatcher: new LocalDispatcher({
      tool,
      shell: new ShellExecutor({ policy, sandbox: confinement }),
      prompt: new PromptExecutor(),
      workflow: new WorkflowExecutor((ref, input, ctx) =>
        holder
          .invoker!.invoke({ skill: ref, input, door: 'workflow', signal: ctx.signal })
          .then((r) => r.output),
      ),
    }),
  });
  holder.invoker = invoker;
  const runner = {
    execute: (ref: string, input: unknown) => invoker.invoke({ skill: ref, input, door: 'cli' }),
    close: () => invoker.close(),
  };
  return { confinement, runner };
}

async function warm(dir: string, sandbox: 'auto' | 'node'): Promise<Row> {
  const { confinement, runner } = await runnerFor(dir, sandbox);
  const call = (i: number) => runner.execute('bench/noop', { n: i });
  await Promise.all(Array.from({ length: CONCURRENCY * 50 }, (_, i) => call(i)));
  const row = await drive(
    `skillplane, ${confinement.kind === 'namespaces' ? 'namespaces (bubblewrap) + rlimits' : 'Node permission model only'}`,
    call,
  );
  await runner.close();
  return row;
}

async function cold(dir: string, sandbox: 'auto' | 'node'): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < COLD; i++) {
    const { runner } = await runnerFor(dir, sandbox);
    const t = performance.now();
    await runner.execute('bench/noop', { n: i });
    times.push(performance.now() - t);
    await runner.close();
  }
  times.sort((a, b) => a - b);
  return pct(times, 0.5);
}

async function coldFloor(dir: string): Promise<number> {
  const script = join(dir, 'echo.cjs');
  const times: number[] = [];
  for (let i = 0; i < COLD; i++) {
    const t = performance.now();
    const child = fork(script, [], { stdio: 'ignore', execArgv: [] });
    await new Promise<void>((resolve) => {
      child.once('message', () => resolve());
      child.send({ id: 0, input: { n: 0 } });
    });
    times.push(performance.now() - t);
    child.kill();
  }
  times.sort((a, b) => a - b);
  return pct(times, 0.5);
}

const dir = realpathSync(mkdtempSync(join(tmpdir(), 'sp-bench-sandbox-')));
try {
  const skill = join(dir, 'skills', 'noop');
  mkdirSync(skill, { recursive: true });
  writeFileSync(
    join(skill, 'skill.yaml'),
    'skill_id: bench/noop\nversion: 1.0.0\nkind: tool\ndescription: no-op\nentry: ./index.mjs\n' +
      'input_schema: {type: object, properties: {n: {type: integer}}}\n',
  );
  writeFileSync(
    join(skill, 'index.mjs'),
    'export default async (input) => ({ ok: true, n: input.n ?? 0 });\n',
  );
  // Three rounds, the rows interleaved, so drift of the machine hits every row alike; the median
  // round of each row is shown.
  const rounds: Row[][] = [[], [], []];
  for (let r = 0; r < 3; r++) {
    rounds[0]!.push(await floor(dir));
    rounds[1]!.push(await warm(dir, 'node'));
    rounds[2]!.push(await warm(dir, 'auto'));
  }
  const rows = rounds.map((list) => [...list].sort((a, b) => a.callsPerSec - b.callsPerSec)[1]!);
  console.log(
    `\nSandbox benchmark — ${CALLS} warm calls, ${CONCURRENCY} at once (one warm process each), median of 3 rounds, Node ${process.version}\n`,
  );
  console.log('| row | calls/s | p50 ms | p95 ms | per call vs floor |');
  console.log('|---|---|---|---|---|');
  const base = rows[0]!;
  for (const r of rows) {
    const extra = (1000 / r.callsPerSec - 1000 / base.callsPerSec) * CONCURRENCY;
    console.log(
      `| ${r.name} | ${r.callsPerSec.toFixed(0)} | ${r.p50.toFixed(3)} | ${r.p95.toFixed(3)} | ${r === base ? '—' : `+${extra.toFixed(3)} ms`} |`,
    );
  }
  const [cf, cn, ca] = [await coldFloor(dir), await cold(dir, 'node'), await cold(dir, 'auto')];
  console.log(
    `\nFirst call of a new process (median of ${COLD}): fork() ${cf.toFixed(1)} ms · Node permission model ${cn.toFixed(1)} ms · namespaces ${ca.toFixed(1)} ms`,
  );
  const summary: SummaryRow[] = rows
    .slice(1)
    .map((r) =>
      summaryRow(
        `skill call, warm: ${r.name.replace('skillplane, ', '')}`,
        r.callsPerSec,
        base.callsPerSec,
        'calls/s',
      ),
    );
  summary.push(summaryRow('skill call, cold start (namespaces)', ca, cf, 'ms', { lowerIsBetter: true }));
  emitResult('sandbox', summary, {
    calls: CALLS,
    concurrency: CONCURRENCY,
    cold: COLD,
    rows,
    cold_ms: { fork: cf, node: cn, namespaces: ca },
  });
} finally {
  rmSync(dir, { recursive: true, force: true });
}
