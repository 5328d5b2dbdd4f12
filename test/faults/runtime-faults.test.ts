import { afterEach, describe, expect, it } from 'vitest';
import type { Script } from '../../src/testing/index.js';
import { startHarness, toolResultCount, userText, waitForStatus, type Harness } from '../agents/harness.js';

/**
 * Runtime-level faults not covered elsewhere end to end: a run cancelled while still queued, and a
 * token budget that runs out in the middle of a parallel_map fan-out.
 */
let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function noDuplicateCompleted(steps: { key: string; status: string }[]): void {
  const completed = steps.filter((s) => s.status === 'completed').map((s) => s.key);
  expect(new Set(completed).size).toBe(completed.length);
}

describe('runtime faults', () => {
  it('cancels a queued run before any model call, while the run ahead of it goes on', async () => {
    const script: Script = ({ body }) =>
      userText(body) === 'blocker' && toolResultCount(body) === 0
        ? { tool_calls: [{ name: 'test__slow', arguments: { ms: 30_000 } }] }
        : { content: `done ${userText(body)}` };
    h = await startHarness({
      script,
      agents: [{ name: 'solo', skills: ['test/slow'] }],
      config: { agents: { max_parallel_agents: 1 } },
    });
    const blocker = await h.app.runtime.submit({ agent: 'solo', input: 'blocker' });
    await waitForStatus(h.app.runtime, blocker.run.id, 'running', 5_000);
    const queued = await h.app.runtime.submit({ agent: 'solo', input: 'queued' });
    expect((await h.app.runtime.getRun(queued.run.id))?.status).toBe('queued');
    const cancelled = await h.app.runtime.cancel(queued.run.id, 'tester');
    expect(cancelled.status).toBe('cancelled');
    expect(await h.app.runtime.getSteps(queued.run.id)).toHaveLength(0);
    expect(h.server.requests.filter((r) => userText(r.body as never) === 'queued')).toHaveLength(0);

    await h.app.runtime.cancel(blocker.run.id);
    const fresh = await h.app.runtime.submit({ agent: 'solo', input: 'fresh' });
    expect((await h.app.runtime.wait(fresh.run.id, { timeoutMs: 10_000 })).status).toBe('completed');
    // The cancelled queued run never started afterwards either.
    expect((await h.app.runtime.getRun(queued.run.id))?.status).toBe('cancelled');
    expect(h.server.requests.filter((r) => userText(r.body as never) === 'queued')).toHaveLength(0);
  });

  it('fails a parallel_map with budget_exhausted when the token budget runs out mid fan-out', async () => {
    // Every branch loops on a tool call; each model call costs 500 tokens.
    const script: Script = ({ body }) =>
      userText(body).startsWith('fresh')
        ? { content: 'fresh done' }
        : {
            tool_calls: [{ name: 'test__echo', arguments: {} }],
            usage: { prompt_tokens: 400, completion_tokens: 100 },
          };
    h = await startHarness({ script, agents: [{ name: 'worker', skills: ['test/echo'] }] });
    const { run } = await h.app.runtime.submit({
      strategy: 'parallel_map',
      agent: 'worker',
      items: ['a', 'b', 'c'],
      input: 'go',
      limits: { token_budget: 3_000 },
      options: { fail_fast: true },
    });
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 10_000 });
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'budget_exhausted' });
    expect(done.usage.input_tokens + done.usage.output_tokens).toBeLessThanOrEqual(3_000);
    const steps = await h.app.runtime.getSteps(run.id);
    expect(steps.filter((s) => s.status === 'running')).toHaveLength(0);
    noDuplicateCompleted(steps);
    // Every model request the fan-out sent is a recorded model step: nothing ran unaccounted.
    const sent = h.server.requests.length;
    expect(sent).toBeGreaterThan(3);
    expect(steps.filter((s) => s.kind === 'model').length).toBeGreaterThanOrEqual(sent);

    const fresh = await h.app.runtime.submit({ agent: 'worker', input: 'fresh' });
    expect((await h.app.runtime.wait(fresh.run.id, { timeoutMs: 10_000 })).status).toBe('completed');
    // Only the fresh run's one call came after: no sibling of the failed fan-out called again.
    expect(h.server.requests.length).toBe(sent + 1);
  });
});
