import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { until, type Script } from '../../src/testing/index.js';
import { isAlive } from '../skills/helpers.js';
import { offered, startHarness, toolResultCount, type Harness } from '../agents/harness.js';

/**
 * Skill faults through the runtime: a skill that throws, one that hangs with a blocked event loop
 * (so it cannot even see its abort signal), and one that exhausts its V8 heap. Each ends with its
 * documented code: a throw or a timeout is the tool result the model sees (the run completes), an
 * out-of-memory death fails the run with resource_exhausted. No hung process is left behind and a
 * fresh run still works.
 */
let h: Harness | undefined;
let dir: string | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

function writeSkill(root: string, name: string, extra: string, code: string): void {
  const d = join(root, 'skills', name);
  mkdirSync(d, { recursive: true });
  writeFileSync(
    join(d, 'skill.yaml'),
    `skill_id: fault/${name}\nversion: 1.0.0\nkind: tool\ndescription: fault skill ${name}\nentry: ./index.mjs\ninput_schema: {type: object}\n${extra}`,
  );
  writeFileSync(join(d, 'index.mjs'), code);
}

/** Calls `tool` once (for inputs other than `fresh`), then answers. */
function callOnce(tool: string): Script {
  return ({ body }) =>
    toolResultCount(body) === 0 && offered(body).includes(tool) && !JSON.stringify(body).includes('fresh')
      ? { tool_calls: [{ name: tool, arguments: {} }] }
      : { content: 'answered' };
}

const cases = [
  {
    name: 'throws',
    extra: '',
    code: `export default async () => { throw new Error('kaboom from skill'); };`,
    expected: 'skill_failed',
    fatal: false,
  },
  {
    name: 'spins',
    extra: 'timeouts: {execute_sec: 0.5}\n',
    code: `export default async (input, ctx) => { ctx.signal.addEventListener('abort', () => {}); for (;;) {} };`,
    expected: 'timeout',
    fatal: false,
  },
  {
    name: 'hogs',
    extra: '',
    code: `export default async () => { const keep = []; for (;;) keep.push(new Array(131072).fill(keep.length)); };`,
    expected: 'resource_exhausted',
    fatal: true,
  },
];

describe('skill faults through the runtime', () => {
  for (const c of cases) {
    it(`a skill that ${c.name} fails its step with ${c.expected}; the run and a fresh run go on`, async () => {
      dir = mkdtempSync(join(tmpdir(), 'sp-faults-'));
      writeSkill(dir, c.name, c.extra, c.code);
      const tool = `fault__${c.name}`;
      h = await startHarness({
        dir,
        script: callOnce(tool),
        agents: [{ name: 'solo', skills: [`fault/${c.name}`] }],
        config: { skills: { sandbox_limits: { heap_mb: 64 } } },
      });
      const t0 = performance.now();
      const { run } = await h.app.runtime.submit({ agent: 'solo', input: 'x' });
      const done = await h.app.runtime.wait(run.id, { timeoutMs: 15_000 });
      expect(performance.now() - t0).toBeLessThan(10_000);
      const steps = await h.app.runtime.getSteps(run.id);
      const skill = steps.filter((s) => s.kind === 'skill');
      expect(skill).toHaveLength(1);
      const keys = steps.filter((s) => s.status === 'completed').map((s) => s.key);
      expect(new Set(keys).size).toBe(keys.length);
      if (c.fatal) {
        // A process that ran out of memory fails the run: retrying would only do it again.
        expect(done.status).toBe('failed');
        expect(done.error).toMatchObject({ code: c.expected });
        expect(skill[0]).toMatchObject({ status: 'failed', error: { code: c.expected } });
        expect(h.server.requests).toHaveLength(1);
      } else {
        // The failure is the tool result the model sees, and the agent goes on to answer.
        expect(done.status).toBe('completed');
        expect(skill[0]).toMatchObject({ status: 'completed', output: { error: { code: c.expected } } });
        const second = h.server.requests[1]?.body as { messages: { role: string; content?: unknown }[] };
        const toolMsg = second.messages.find((m) => m.role === 'tool');
        expect(JSON.parse(String(toolMsg?.content))).toMatchObject({ error: { code: c.expected } });
      }
      if (c.expected !== 'skill_failed') {
        // The hung or exhausted process was ended, not left behind.
        const exited = await until(
          () => h!.processEvents.find((e) => e.type === 'exit' && e.skill.startsWith(`fault/${c.name}`)),
          5_000,
          'the failed skill process to exit',
        );
        expect(isAlive(exited!.pid)).toBe(false);
      }

      const fresh = await h.app.runtime.submit({ agent: 'solo', input: 'fresh' });
      expect((await h.app.runtime.wait(fresh.run.id, { timeoutMs: 10_000 })).status).toBe('completed');
    });
  }
});
