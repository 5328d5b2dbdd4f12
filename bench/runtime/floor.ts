/**
 * The floor: the same work as a run, with nothing of ours. Model calls are plain `fetch` (Node's
 * built-in undici, pooled keep-alive connections like any client) to the same scripted model
 * server; the skill runs in warm plain child processes (`child_process.fork`, IPC channel), as
 * many as the runtime keeps for the skill, chosen round-robin. No scheduler, store, journal,
 * validation, sandbox or tracing: what the work itself costs.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CHAIN_CALLS,
  CHAIN_INSTRUCTIONS,
  REDUCER_INSTRUCTIONS,
  TOOL,
  WORKERS,
  WORKER_INSTRUCTIONS,
  type Workload,
} from './workloads.js';

const CHILD = `process.on('message', (m) => {
  const input = JSON.parse(m.input);
  process.send({ id: m.id, output: { ok: true, n: input.n ?? 0 } });
});
`;

interface Message {
  role: string;
  content: string | null;
  tool_calls?: { id: string; type: 'function'; function: { name: string; arguments: string } }[];
  tool_call_id?: string;
}

const TOOLS = [
  {
    type: 'function',
    function: {
      name: TOOL,
      description: 'Returns its input.',
      parameters: { type: 'object', properties: { n: { type: 'integer' } } },
    },
  },
];

export class Floor {
  private readonly children: ChildProcess[] = [];
  private readonly pending = new Map<number, (output: unknown) => void>();
  private nextId = 0;
  private rr = 0;
  private readonly dir = mkdtempSync(join(tmpdir(), 'sp-floor-'));
  private readonly chatUrl: string;

  constructor(modelUrl: string, processes: number) {
    this.chatUrl = `${modelUrl}/chat/completions`;
    const file = join(this.dir, 'child.mjs');
    writeFileSync(file, CHILD);
    for (let i = 0; i < processes; i++) {
      const child = fork(file, [], { stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
      child.on('message', (m: { id: number; output: unknown }) => {
        const done = this.pending.get(m.id);
        this.pending.delete(m.id);
        done?.(m.output);
      });
      this.children.push(child);
    }
  }

  private tool(args: string): Promise<unknown> {
    const id = this.nextId++;
    const child = this.children[this.rr++ % this.children.length]!;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      child.send({ id, input: args });
    });
  }

  /**
   * One chat call. Like any client (and like ours, `max_retries`), a connection reset is retried:
   * with thousands of sockets open at once the loopback server drops one now and then.
   */
  private async chat(body: string): Promise<{ choices: { message: Message }[] }> {
    for (let attempt = 0; ; attempt++) {
      try {
        const res = await fetch(this.chatUrl, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
        });
        return (await res.json()) as { choices: { message: Message }[] };
      } catch (err) {
        if (attempt >= 2) throw err;
        this.retries++;
      }
    }
  }

  /** Chat calls made again after a network error. */
  retries = 0;

  private async agent(system: string, user: string, withTools: boolean): Promise<string> {
    const messages: Message[] = [
      { role: 'system', content: system },
      { role: 'user', content: user },
    ];
    for (;;) {
      const body = await this.chat(
        JSON.stringify({ model: 'bench-model', messages, ...(withTools ? { tools: TOOLS } : {}) }),
      );
      const message = body.choices[0]!.message;
      const calls = message.tool_calls ?? [];
      if (calls.length === 0) return message.content ?? '';
      messages.push({ role: 'assistant', content: message.content, tool_calls: calls });
      for (const c of calls) {
        const out = await this.tool(c.function.arguments);
        messages.push({ role: 'tool', tool_call_id: c.id, content: JSON.stringify(out) });
      }
    }
  }

  job(workload: Workload): (i: number) => Promise<boolean> {
    return async (i) => {
      switch (workload) {
        case 'fanout': {
          const outputs = await Promise.all(
            WORKERS.map(() => this.agent(WORKER_INSTRUCTIONS, `fan out ${i}`, true)),
          );
          const reduced = await this.agent(
            REDUCER_INSTRUCTIONS,
            `fan out ${i}\n\nCombine these results into one answer:\n${JSON.stringify(outputs)}`,
            false,
          );
          return reduced === 'reduced';
        }
        case 'chain':
          return (await this.agent(CHAIN_INSTRUCTIONS, `chain ${i}`, true)) === `done after ${CHAIN_CALLS}`;
        case 'router':
          return (await this.agent(WORKER_INSTRUCTIONS, `route ${i} to billing`, true)) === 'done after 1';
      }
    };
  }

  close(): void {
    for (const c of this.children) c.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
