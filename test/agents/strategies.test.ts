import { afterEach, describe, expect, it } from 'vitest';
import type { Script } from '../../src/testing/index.js';
import { offered, startHarness, toolResultCount, userText, type Harness } from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

function systemOf(body: { messages: { role: string; content?: unknown }[] }): string {
  const s = body.messages.find((m) => m.role === 'system');
  return typeof s?.content === 'string' ? s.content : '';
}

describe('strategies', () => {
  it('router by rules delegates to the matching agent', async () => {
    h = await startHarness({
      script: ({ body }) => ({ content: `${systemOf(body)} answers` }),
      agents: [
        { name: 'billing', instructions: 'BILLING' },
        { name: 'tech', instructions: 'TECH' },
      ],
    });
    const { run } = await h.app.runtime.submit({
      strategy: 'router',
      agents: ['billing', 'tech'],
      input: 'my invoice is wrong',
      options: {
        routes: [
          { match: 'invoice|refund', agent: 'billing' },
          { match: '.', agent: 'tech' },
        ],
      },
    });
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 5_000 });
    expect(done.status).toBe('completed');
    expect(done.result).toMatchObject({ output: 'BILLING answers', agent: 'billing', routed_by: 'rule' });
    const steps = await h.app.runtime.getSteps(run.id);
    expect(steps.map((s) => s.kind)).toEqual(['route', 'model']);
  });

  it('router by a router model picks a candidate with its route_to tool', async () => {
    h = await startHarness({
      script: ({ body }) =>
        offered(body).includes('route_to_tech')
          ? { tool_calls: [{ name: 'route_to_tech', arguments: {} }] }
          : { content: `${systemOf(body)} here` },
      agents: [
        { name: 'billing', instructions: 'BILLING' },
        { name: 'tech', instructions: 'TECH' },
      ],
    });
    const { run } = await h.app.runtime.submit({
      strategy: 'router',
      agents: ['billing', 'tech'],
      input: 'wifi down',
    });
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 5_000 });
    expect(done.result).toMatchObject({ output: 'TECH here', agent: 'tech', routed_by: 'agent' });
  });

  it('handoff transfers control with transfer_to tools and keeps the conversation', async () => {
    const script: Script = ({ body }) => {
      if (offered(body).includes('transfer_to_expert') && toolResultCount(body) === 0) {
        return { tool_calls: [{ name: 'transfer_to_expert', arguments: {} }] };
      }
      return { content: `${systemOf(body)} saw: ${userText(body)}` };
    };
    h = await startHarness({
      script,
      agents: [
        { name: 'desk', instructions: 'DESK', handoffs: ['expert'] },
        { name: 'expert', instructions: 'EXPERT' },
      ],
    });
    const { run } = await h.app.runtime.submit({
      strategy: 'handoff',
      agent: 'desk',
      input: 'deep question',
    });
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 5_000 });
    expect(done.status).toBe('completed');
    expect(done.result).toMatchObject({
      output: 'EXPERT saw: deep question',
      agent: 'expert',
      handoffs: ['desk', 'expert'],
    });
    expect((await h.app.runtime.getSteps(run.id)).map((s) => s.kind)).toEqual(['model', 'handoff', 'model']);
  });

  it('handoff stops at max_handoff_depth', async () => {
    h = await startHarness({
      script: ({ body }) => {
        const t = offered(body).find((n) => n.startsWith('transfer_to_'));
        return t === undefined ? { content: 'x' } : { tool_calls: [{ name: t, arguments: {} }] };
      },
      agents: [
        { name: 'ping', handoffs: ['pong'] },
        { name: 'pong', handoffs: ['ping'] },
      ],
    });
    const { run } = await h.app.runtime.submit({
      strategy: 'handoff',
      agent: 'ping',
      input: 'go',
      limits: { max_handoff_depth: 3 },
    });
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 5_000 });
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'budget_exhausted', data: { limit: 'max_handoff_depth' } });
    expect(h.server.requests).toHaveLength(4);
  });

  it('parallel_map fans out items and reduces with an agent', async () => {
    h = await startHarness({
      script: ({ body }) => ({
        content:
          systemOf(body) === 'REDUCE'
            ? `merged ${userText(body).length}`
            : `did ${userText(body).split('Item:\n')[1]}`,
      }),
      agents: [
        { name: 'worker', instructions: 'WORK' },
        { name: 'reducer', instructions: 'REDUCE' },
      ],
    });
    const { run } = await h.app.runtime.submit({
      strategy: 'parallel_map',
      agent: 'worker',
      items: ['a', 'b', 'c', 'd', 'e'],
      input: 'process',
      options: { reducer: 'reducer', max_parallelism: 2 },
    });
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 10_000 });
    expect(done.status).toBe('completed');
    const result = done.result as { output: string; outputs: Record<string, string> };
    expect(result.outputs).toEqual({
      'item.0': 'did a',
      'item.1': 'did b',
      'item.2': 'did c',
      'item.3': 'did d',
      'item.4': 'did e',
    });
    expect(result.output).toMatch(/^merged \d+$/);
    const branches = new Set((await h.app.runtime.getSteps(run.id)).map((s) => s.branch));
    expect(branches).toEqual(new Set(['map.0', 'map.1', 'map.2', 'map.3', 'map.4', 'reduce']));
  });

  it('parallel_map without fail_fast collects a failed branch beside the others', async () => {
    h = await startHarness({
      script: ({ body }) =>
        userText(body).endsWith('bad') ? { status: 400, error: 'nope' } : { content: 'fine' },
      agents: [{ name: 'worker' }],
    });
    const { run } = await h.app.runtime.submit({
      strategy: 'parallel_map',
      agent: 'worker',
      items: ['ok1', 'bad', 'ok2'],
      input: 'go',
      options: { fail_fast: false },
    });
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 10_000 });
    expect(done.status).toBe('completed');
    const result = done.result as { branches: { ok: boolean; error?: { code: string } }[] };
    expect(result.branches.map((b) => b.ok)).toEqual([true, false, true]);
    expect(result.branches[1]!.error?.code).toBe('model_error');
  });

  it('parallel_map with fail_fast cancels the siblings and their skill processes', async () => {
    const script: Script = ({ body }) => {
      const text = userText(body);
      if (text.endsWith('bad')) return { status: 400, error: 'broken branch', delay_ms: 400 };
      if (toolResultCount(body) === 0)
        return { tool_calls: [{ name: 'test__slow', arguments: { ms: 30_000 } }] };
      return { content: 'never' };
    };
    h = await startHarness({ script, agents: [{ name: 'worker', skills: ['test/slow'] }] });
    const { run } = await h.app.runtime.submit({
      strategy: 'parallel_map',
      agent: 'worker',
      items: ['s1', 's2', 'bad'],
      input: 'go',
      options: { fail_fast: true },
    });
    const t0 = performance.now();
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 10_000 });
    expect(performance.now() - t0).toBeLessThan(5_000);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'model_error' });
    const skills = (await h.app.runtime.getSteps(run.id)).filter((s) => s.kind === 'skill');
    expect(skills).toHaveLength(2);
    expect(skills.every((s) => s.status === 'cancelled')).toBe(true);
  });
});
