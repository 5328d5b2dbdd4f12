/**
 * The runtime benchmark's workloads: the scripted model, the app under test, the run requests,
 * and the two drivers (runtime, and the plain async baseline making the same calls).
 */
import { join } from 'node:path';
import type { App } from '../../src/app/index.js';
import type { RunRequestInput } from '../../src/agents/index.js';
import type { ChatMessage, ToolDefinition } from '../../src/models/index.js';
import { openRunStore, type Run, type RunStore } from '../../src/store/index.js';
import { createTestApp, type Script, type ScriptedModelServer } from '../../src/testing/index.js';
import type { Tracing } from '../../src/tracing/index.js';

export type StoreKind = 'memory' | 'sqlite';
export type Workload = 'fanout' | 'chain' | 'router';

/** What the command line sets for the app under test. */
export interface Settings {
  window: number;
  warm: number;
  maxProcs: number;
  sandbox: string;
}

export const WORKERS = ['w1', 'w2', 'w3', 'w4', 'w5'];
export const CHAIN_CALLS = 9;
export const SKILL_ID = 'bench/noop';
export const TOOL = 'bench__noop';

/** Sandbox process spawns and exits, counted through the tool executor's event hook. */
export const processEvents = { spawn: 0, exit: 0 };

/** Counts sandbox spawns and exits (the app's `onProcessEvent` hook). */
function countProcessEvent(e: { type: string }): void {
  if (e.type === 'spawn') processEvents.spawn++;
  else if (e.type === 'exit') processEvents.exit++;
}

const CHAIN_MARK = '[chain]';

/**
 * Instant answers, decided from the conversation: no tools offered → answer (reducer); fewer tool
 * results than the agent's target (9 for the chain agent, 1 otherwise) → one `bench__noop` call;
 * otherwise → answer.
 */
export const script: Script = ({ body }) => {
  if ((body.tools ?? []).length === 0)
    return { content: 'reduced', usage: { prompt_tokens: 40, completion_tokens: 2 } };
  const messages = body.messages;
  const first = messages[0];
  const target = first?.role === 'system' && first.content.includes(CHAIN_MARK) ? CHAIN_CALLS : 1;
  let done = 0;
  for (const m of messages) if (m.role === 'tool') done++;
  if (done >= target)
    return { content: `done after ${done}`, usage: { prompt_tokens: 40, completion_tokens: 3 } };
  return {
    tool_calls: [{ id: `call_${done}`, name: TOOL, arguments: { n: done } }],
    usage: { prompt_tokens: 40, completion_tokens: 8 },
  };
};

export const WORKER_INSTRUCTIONS = 'You are a worker. Call the tool once, then answer.';
export const REDUCER_INSTRUCTIONS = 'You combine results.';
export const CHAIN_INSTRUCTIONS = `You are a chain ${CHAIN_MARK}. Call the tool ${CHAIN_CALLS} times, then answer.`;

export async function startApp(
  settings: Settings,
  dir: string,
  server: ScriptedModelServer,
  kind: StoreKind,
  queued: number,
  tracing?: Tracing,
): Promise<{ app: App; store: RunStore; close(): Promise<void> }> {
  const store =
    kind === 'memory'
      ? await openRunStore({ driver: 'memory' })
      : await openRunStore({ driver: 'sqlite', path: join(dir, `bench-${Date.now()}.db`) });
  const app = await createTestApp({
    dir,
    modelUrl: server.url,
    store,
    agents: [
      ...WORKERS.map((name) => ({ name, instructions: WORKER_INSTRUCTIONS, skills: [SKILL_ID] })),
      { name: 'reducer', instructions: REDUCER_INSTRUCTIONS },
      { name: 'chain', instructions: CHAIN_INSTRUCTIONS, skills: [SKILL_ID], max_steps: CHAIN_CALLS + 2 },
    ],
    config: {
      models: {
        default: {
          model: 'bench-model',
          // Every branch of every admitted run may call the model at once: the scheduler limits.
          max_concurrency: settings.window * WORKERS.length,
        },
      },
      skills: {
        warm_processes: settings.warm,
        max_processes_per_skill: settings.maxProcs,
        sandbox: settings.sandbox,
      },
      agents: { max_parallel_agents: settings.window, max_queued_runs: queued },
    },
    app: { onProcessEvent: countProcessEvent, ...(tracing === undefined ? {} : { tracing }) },
  });
  return {
    app,
    store,
    async close() {
      await app.close(1000);
      await store.close();
    },
  };
}

export function request(
  workload: Workload,
  i: number,
  priority: 'interactive' | 'normal' | 'batch' = 'normal',
): RunRequestInput {
  switch (workload) {
    case 'fanout':
      return {
        strategy: 'parallel_map',
        agents: WORKERS,
        input: `fan out ${i}`,
        priority,
        options: { reducer: 'reducer' },
      };
    case 'chain':
      return { strategy: 'single', agent: 'chain', input: `chain ${i}`, priority };
    case 'router':
      return {
        strategy: 'router',
        agents: ['w1', 'w2'],
        input: `route ${i} to billing`,
        priority,
        options: { routes: [{ match: 'billing', agent: 'w1' }] },
      };
  }
}

/** The first few runs that did not complete, for the report. */
export const failures: string[] = [];

export async function runtimeOne(app: App, req: RunRequestInput): Promise<Run> {
  const { run } = await app.runtime.submit(req);
  return app.runtime.wait(run.id, { timeoutMs: 300_000 });
}

export function runtimeJob(app: App, workload: Workload): (i: number) => Promise<boolean> {
  return async (i) => {
    const done = await runtimeOne(app, request(workload, i));
    if (done.status === 'completed') return true;
    if (failures.length < 5)
      failures.push(`${workload} ${done.id}: ${done.status} ${JSON.stringify(done.error)}`);
    return false;
  };
}

/** The same model and skill calls as the runtime makes, with plain async code (no scheduler/store/journal). */
export function baselineJob(app: App, workload: Workload): (i: number) => Promise<boolean> {
  const client = app.models.get('default');
  const invoker = app.skills.invoker;
  const skill = invoker.resolve(SKILL_ID);
  const tools: ToolDefinition[] = [
    {
      type: 'function',
      function: {
        name: skill.toolName,
        description: skill.manifest.description,
        parameters: skill.inputSchema,
      },
    },
  ];
  /** One agent loop: model, tool calls, model… until an answer. */
  const agent = async (system: string, user: string, withTools: boolean): Promise<string> => {
    const messages: ChatMessage[] = [
      { role: 'system', content: system },
      { role: 'user', content: user },
    ];
    for (;;) {
      const r = await client.chat({ messages, ...(withTools ? { tools } : {}) }, { priority: 'normal' });
      if (r.message.tool_calls.length === 0) return r.message.content ?? '';
      messages.push({
        role: 'assistant',
        content: r.message.content,
        tool_calls: r.message.tool_calls.map((c) => ({
          id: c.id,
          type: 'function' as const,
          function: { name: c.name, arguments: c.arguments },
        })),
      });
      for (const c of r.message.tool_calls) {
        const out = await invoker.invoke({ skill, input: JSON.parse(c.arguments) as unknown, door: 'run' });
        messages.push({ role: 'tool', tool_call_id: c.id, content: JSON.stringify(out.output) });
      }
    }
  };
  return async (i) => {
    switch (workload) {
      case 'fanout': {
        const outputs = await Promise.all(
          WORKERS.map(() => agent(WORKER_INSTRUCTIONS, `fan out ${i}`, true)),
        );
        const reduced = await agent(
          REDUCER_INSTRUCTIONS,
          `fan out ${i}\n\nCombine these results into one answer:\n${JSON.stringify(outputs)}`,
          false,
        );
        return reduced === 'reduced';
      }
      case 'chain':
        return (await agent(CHAIN_INSTRUCTIONS, `chain ${i}`, true)) === `done after ${CHAIN_CALLS}`;
      case 'router': {
        const target = /billing/i.test(`route ${i} to billing`) ? 'w1' : 'w2';
        return (
          target === 'w1' &&
          (await agent(WORKER_INSTRUCTIONS, `route ${i} to billing`, true)) === 'done after 1'
        );
      }
    }
  };
}

/** Describes the steps one completed run of the workload journaled, e.g. `model×11 skill×5`. */
export async function stepShape(app: App, workload: Workload): Promise<string> {
  const done = await runtimeOne(app, request(workload, -1));
  const counts = new Map<string, number>();
  for (const s of await app.runtime.getSteps(done.id)) counts.set(s.kind, (counts.get(s.kind) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${k}×${n}`).join(' ');
}
