import { afterEach, describe, expect, it } from 'vitest';
import type { Script, ScriptedReply } from '../../src/testing/index.js';
import { executions, startHarness, type Harness } from '../agents/harness.js';

/**
 * Model-server faults end to end: each bad answer is scripted for the first model call of a run,
 * the run must reach `failed` with the documented code, record no completed step twice, and a
 * fresh run on the same app must then complete (the runtime still answers).
 */
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Replies `fault` while `bad` is true, a plain answer once it is false. */
function faulty(fault: ScriptedReply): { script: Script; heal: () => void } {
  let bad = true;
  return { script: () => (bad ? fault : { content: 'healthy' }), heal: () => (bad = false) };
}

const cases: { name: string; fault: ScriptedReply; code: string; stream?: boolean }[] = [
  { name: 'HTTP 500s until retries run out', fault: { status: 500, error: 'boom' }, code: 'model_error' },
  { name: 'garbage JSON with a 200', fault: { garbage: true }, code: 'model_error' },
  {
    name: 'a 200 with an error body',
    fault: { error_body: { message: 'No models loaded' } },
    code: 'model_error',
  },
  { name: 'an HTML 502 page from a proxy', fault: { html_status: 502 }, code: 'model_unavailable' },
  // The runtime asks without streaming: a body that stalls after the headers is a `timeout`.
  { name: 'an answer stalled past timeout_sec', fault: { content: 'abc', stall_ms: 5_000 }, code: 'timeout' },
];

describe('model-server faults through the runtime', () => {
  it('answers tool-call arguments that are not JSON with a tool error the model sees, and goes on', async () => {
    let calls = 0;
    h = await startHarness({
      script: () =>
        ++calls === 1
          ? { tool_calls: [{ name: 'test__record', arguments: '{"label": ' }] }
          : { content: 'recovered' },
      agents: [{ name: 'solo', skills: ['test/record'] }],
    });
    const { run } = await h.app.runtime.submit({ agent: 'solo', input: 'x' });
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 10_000 });
    const second = h.server.requests[1]?.body as
      { messages: { role: string; content?: unknown }[] } | undefined;
    expect(done.status).toBe('completed');
    const toolReplies = second?.messages.filter((m) => m.role === 'tool') ?? [];
    expect(toolReplies).toHaveLength(1);
    expect(JSON.parse(String(toolReplies[0]!.content))).toMatchObject({ error: { code: 'input_invalid' } });
    expect(executions(h.sideFile)).toHaveLength(0);
  });

  for (const c of cases) {
    it(`fails a run on ${c.name} with ${c.code}, then serves a fresh run`, async () => {
      const { script, heal } = faulty(c.fault);
      h = await startHarness({
        script,
        agents: [{ name: 'solo' }],
        config: { models: { default: { timeout_sec: 0.4, max_retries: 1 } } },
      });
      const { run } = await h.app.runtime.submit({ agent: 'solo', input: 'x' });
      const done = await h.app.runtime.wait(run.id, { timeoutMs: 10_000 });
      expect(done.status).toBe('failed');
      expect(done.error).toMatchObject({ code: c.code });
      const steps = await h.app.runtime.getSteps(run.id);
      const completed = steps.filter((s) => s.status === 'completed').map((s) => s.key);
      expect(new Set(completed).size).toBe(completed.length);

      heal();
      const fresh = await h.app.runtime.submit({ agent: 'solo', input: 'y' });
      const ok = await h.app.runtime.wait(fresh.run.id, { timeoutMs: 10_000 });
      expect(ok.status).toBe('completed');
    });
  }
});
