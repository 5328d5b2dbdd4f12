import { afterEach, describe, expect, it } from 'vitest';
import { RunQueueFullError, ConflictError } from '../../src/errors/index.js';
import { MemoryRunStore } from '../../src/store/index.js';
import { until, type Script } from '../../src/testing/index.js';
import { isAlive } from '../skills/helpers.js';
import {
  deferred,
  offered,
  processEvent,
  startHarness,
  toolResultCount,
  userText,
  waitForStatus,
  withDeadline,
  type Harness,
  executions,
} from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

/** Calls `tool` once with `args`, then answers with the tool result. */
function callOnce(tool: string, args: (text: string) => object): Script {
  return ({ body }) => {
    if (toolResultCount(body) === 0 && offered(body).includes(tool)) {
      return { tool_calls: [{ name: tool, arguments: args(userText(body)) }] };
    }
    const last = body.messages[body.messages.length - 1]!;
    return { content: `done: ${typeof last.content === 'string' ? last.content : ''}` };
  };
}

describe('runtime', () => {
  it('runs a single agent that calls a skill and answers, recording every step', async () => {
    h = await startHarness({
      script: callOnce('test__record', (t) => ({ label: t })),
      agents: [{ name: 'solo', skills: ['test/record'] }],
    });
    const { run } = await h.app.runtime.submit({ agent: 'solo', input: 'alpha' });
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 10_000 });
    expect(done.status).toBe('completed');
    expect((done.result as { output: string }).output).toContain('recorded');
    const steps = await h.app.runtime.getSteps(run.id);
    expect(steps.map((s) => [s.kind, s.status])).toEqual([
      ['model', 'completed'],
      ['skill', 'completed'],
      ['model', 'completed'],
    ]);
    expect(done.usage.steps).toBe(3);
    expect(done.usage.input_tokens).toBeGreaterThan(0);
    expect(done.usage.cost_usd).toBeGreaterThan(0);
    expect(executions(h.sideFile)).toEqual([{ skill: 'x', label: 'alpha', run: run.id }]);
    const types = (await h.app.runtime.listEvents(run.id)).map((e) => e.type);
    expect(types[0]).toBe('run.created');
    expect(types).toContain('run.started');
    expect(types[types.length - 1]).toBe('run.completed');
    // The model request carried the run's trace id.
    expect(h.server.requests[0]!.headers.traceparent).toMatch(
      new RegExp(`^00-${done.trace_id}-[0-9a-f]{16}-01$`),
    );
  });

  it('finishes 8 concurrent runs with 3 slots and no deadlock', async () => {
    h = await startHarness({
      script: callOnce('test__echo', () => ({ n: 1 })),
      agents: [{ name: 'solo', skills: ['test/echo'] }],
      config: { agents: { max_parallel_agents: 3 } },
    });
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => h!.app.runtime.submit({ agent: 'solo', input: `job ${i}` })),
    );
    const done = await Promise.all(runs.map(({ run }) => h!.app.runtime.wait(run.id, { timeoutMs: 15_000 })));
    expect(done.map((r) => r.status)).toEqual(Array(8).fill('completed'));
  });

  it('refuses a run when the queue is full, with size and capacity, storing nothing', async () => {
    const firstCall = deferred();
    h = await startHarness({
      script: () => {
        firstCall.resolve();
        return { content: 'slow', delay_ms: 2_000 };
      },
      agents: [{ name: 'solo' }],
      config: { agents: { max_parallel_agents: 1, max_queued_runs: 2 } },
    });
    await h.app.runtime.submit({ agent: 'solo', input: 'a' });
    await withDeadline(firstCall.promise, 5_000, "run a's model call");
    // 'a' holds the only slot; 'b' and 'c' fill the queue of 2.
    await h.app.runtime.submit({ agent: 'solo', input: 'b' });
    await h.app.runtime.submit({ agent: 'solo', input: 'c' });
    const before = (await h.store.listRuns({})).runs.length;
    let error: unknown;
    try {
      await h.app.runtime.submit({ agent: 'solo', input: 'd' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(RunQueueFullError);
    expect(error).toMatchObject({ code: 'queue_full', size: 2, capacity: 2 });
    expect((error as RunQueueFullError).retryAfterMs).toBeGreaterThan(0);
    expect((await h.store.listRuns({})).runs.length).toBe(before);
  });

  it('returns the same run for a repeated idempotency key and refuses a different request', async () => {
    h = await startHarness({ script: () => ({ content: 'ok' }), agents: [{ name: 'solo' }] });
    const first = await h.app.runtime.submit({ agent: 'solo', input: 'same' }, { idempotencyKey: 'k-1' });
    const again = await h.app.runtime.submit({ agent: 'solo', input: 'same' }, { idempotencyKey: 'k-1' });
    expect(first.created).toBe(true);
    expect(again.created).toBe(false);
    expect(again.run.id).toBe(first.run.id);
    await expect(
      h.app.runtime.submit({ agent: 'solo', input: 'other' }, { idempotencyKey: 'k-1' }),
    ).rejects.toMatchObject({
      code: 'idempotency_conflict',
    });
    await expect(
      h.app.runtime.submit({ agent: 'solo', input: 'other' }, { idempotencyKey: 'k-1' }),
    ).rejects.toBeInstanceOf(ConflictError);
    expect((await h.store.listRuns({})).runs).toHaveLength(1);
  });

  it('cancels a run that is being read as it starts: it never starts, no model call', async () => {
    // The store's read of the run as its slot comes up is held until the cancel has read the run
    // too and gone on (its abort runs in the microtasks after that read; the release waits for
    // the next macrotask).
    const reading = deferred();
    const release = deferred();
    let models = 0;
    const store = new MemoryRunStore();
    const getRun = store.getRun.bind(store);
    let reads = 0;
    store.getRun = async (id: string) => {
      const run = await getRun(id);
      reads++;
      if (reads === 1) {
        reading.resolve();
        await release.promise;
      } else if (reads === 2) setImmediate(() => release.resolve());
      return run;
    };
    h = await startHarness({
      script: () => {
        models++;
        return { content: 'ran' };
      },
      agents: [{ name: 'solo' }],
      store,
    });
    const { run } = await h.app.runtime.submit({ agent: 'solo', input: 'x' });
    await withDeadline(reading.promise, 5_000, 'the run read at its start');
    const cancelling = h.app.runtime.cancel(run.id, 'tester');
    await expect(cancelling).resolves.toMatchObject({ status: 'cancelled' });
    const types = (await h.app.runtime.listEvents(run.id, 0)).map((e) => e.type);
    expect(types).toContain('run.cancelled');
    expect(types).not.toContain('run.started');
    expect(models).toBe(0);
  });

  it('cancels a run mid-model-call within 100 ms and aborts the HTTP request', async () => {
    const modelCalled = deferred();
    h = await startHarness({
      script: () => {
        modelCalled.resolve();
        return { content: 'late', delay_ms: 10_000 };
      },
      agents: [{ name: 'solo' }],
    });
    const { run } = await h.app.runtime.submit({ agent: 'solo', input: 'wait' });
    await withDeadline(modelCalled.promise, 5_000, 'the model call');
    expect(h.server.requests[0]!.aborted).toBe(false);
    const t0 = performance.now();
    const cancelled = await h.app.runtime.cancel(run.id, 'tester');
    const elapsed = performance.now() - t0;
    expect(cancelled.status).toBe('cancelled');
    expect(elapsed).toBeLessThan(100);
    // The server notices the closed connection on its own socket's close event.
    await until(() => h!.server.requests[0]!.aborted, 2_000, 'the model server to see its request aborted');
    await expect(h.app.runtime.cancel(run.id)).resolves.toMatchObject({ status: 'cancelled' });
  });

  it('cancels a run mid-skill and kills the skill process', async () => {
    h = await startHarness({
      script: callOnce('test__slow', () => ({ ms: 30_000 })),
      agents: [{ name: 'solo', skills: ['test/slow'] }],
    });
    const { run } = await h.app.runtime.submit({ agent: 'solo', input: 'slow' });
    const spawned = await processEvent(
      h,
      (e) => e.type === 'spawn' && e.skill === 'test/slow@1.0.0',
      10_000,
      'the test/slow skill process to start',
    );
    const running = await h.app.runtime.getSteps(run.id);
    expect(running.find((s) => s.kind === 'skill')?.status).toBe('running');
    const t0 = performance.now();
    const cancelled = await h.app.runtime.cancel(run.id);
    expect(performance.now() - t0).toBeLessThan(100);
    expect(cancelled.status).toBe('cancelled');
    const skill = (await h.app.runtime.getSteps(run.id)).find((s) => s.kind === 'skill')!;
    expect(skill.status).toBe('cancelled');
    await processEvent(
      h,
      (e) => e.type === 'exit' && e.pid === spawned.pid,
      5_000,
      'the cancelled skill process to exit',
    );
    expect(isAlive(spawned.pid)).toBe(false);
  });

  it('wait() does not miss a completion that lands while its first read is in flight', async () => {
    h = await startHarness({ script: () => ({ content: 'ok', delay_ms: 50 }), agents: [{ name: 'solo' }] });
    const { run } = await h.app.runtime.submit({ agent: 'solo', input: 'x' });
    const store = h.store;
    const original = store.getRun.bind(store);
    let first = true;
    // The first read sees the run still running, but only returns after the run completed.
    store.getRun = async (id: string) => {
      if (!first) return original(id);
      first = false;
      const stale = await original(id);
      await new Promise<void>((resolve) => {
        const off = h!.app.runtime.subscribe(id, (n) => {
          if (n.status === 'completed') {
            off();
            resolve();
          }
        });
      });
      return stale;
    };
    const t0 = performance.now();
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 5_000 });
    expect(done.status).toBe('completed');
    expect(performance.now() - t0).toBeLessThan(2_000);
  });

  it('refuses to cancel a finished run with already_terminal', async () => {
    h = await startHarness({ script: () => ({ content: 'ok' }), agents: [{ name: 'solo' }] });
    const { run } = await h.app.runtime.submit({ agent: 'solo', input: 'x' });
    await h.app.runtime.wait(run.id, { timeoutMs: 5_000 });
    await expect(h.app.runtime.cancel(run.id)).rejects.toMatchObject({ code: 'already_terminal' });
  });

  it('fails a run that would pass its token budget before the model call is sent', async () => {
    h = await startHarness({
      script: callOnce('test__echo', () => ({})),
      agents: [{ name: 'solo', skills: ['test/echo'] }],
    });
    const { run } = await h.app.runtime.submit({
      agent: 'solo',
      input: 'x'.repeat(4000),
      limits: { token_budget: 500 },
    });
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 5_000 });
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'budget_exhausted' });
    expect(h.server.requests).toHaveLength(0);
    expect(done.usage.input_tokens).toBe(0);
  });

  it('stops at the cost budget before a call that could pass it', async () => {
    h = await startHarness({
      script: () => ({
        tool_calls: [{ name: 'test__echo', arguments: {} }],
        usage: { prompt_tokens: 400, completion_tokens: 100 },
      }),
      agents: [{ name: 'loop', skills: ['test/echo'] }],
      config: { models: { default: { price_per_1k_input: 1, price_per_1k_output: 1 } } },
    });
    // Each call really costs $0.50; the budget allows a few, never one too many.
    const { run } = await h.app.runtime.submit({
      agent: 'loop',
      input: 'hello',
      limits: { cost_budget_usd: 2.2 },
    });
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 10_000 });
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'budget_exhausted', data: { limit: 'cost_budget_usd' } });
    expect(done.usage.cost_usd).toBeLessThanOrEqual(2.2);
    expect(done.usage.cost_usd).toBeCloseTo(h.server.requests.length * 0.5, 6);
    expect(h.server.requests.length).toBeGreaterThanOrEqual(2);
  });

  it('stops at max_steps', async () => {
    h = await startHarness({
      script: () => ({ tool_calls: [{ name: 'test__echo', arguments: {} }] }),
      agents: [{ name: 'loop', skills: ['test/echo'] }],
    });
    const { run } = await h.app.runtime.submit({ agent: 'loop', input: 'forever', limits: { max_steps: 5 } });
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 10_000 });
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'budget_exhausted' });
    expect(done.usage.steps).toBe(5);
  });

  it('refuses at submission a plan that needs more steps than max_steps, storing and running nothing', async () => {
    h = await startHarness({
      script: () => ({ content: 'ok' }),
      agents: [{ name: 'a' }, { name: 'b' }, { name: 'c' }],
      config: { agents: { max_steps_per_run: 2 } },
    });
    const refusal = (input: object) =>
      h!.app.runtime.submit(input as Parameters<Harness['app']['runtime']['submit']>[0]).then(
        () => null,
        (e: unknown) => e as { code: string; message: string },
      );
    // A sequence of three agents, over the server's max_steps_per_run of 2.
    const seq = await refusal({ strategy: 'sequence', agents: ['a', 'b', 'c'], input: 'x' });
    expect(seq).toMatchObject({ code: 'plan_exceeds_max_steps' });
    expect(seq!.message).toContain('3');
    expect(seq!.message).toContain('max_steps_per_run is 2');
    // Two branches and a reducer, over the request's own limit of 2.
    const fan = await refusal({
      strategy: 'parallel_map',
      agent: 'a',
      items: ['p', 'q'],
      options: { reducer: 'b' },
      limits: { max_steps: 2 },
      input: 'x',
    });
    expect(fan).toMatchObject({ code: 'plan_exceeds_max_steps' });
    expect(fan!.message).toBe('run has 3 steps but limits.max_steps is 2');
    expect(await h.app.store.listRuns({})).toMatchObject({ runs: [] });
    expect(h.server.requests).toHaveLength(0);
    // A plan that fits is taken (the request's own limit may raise the server's).
    const { run } = await h.app.runtime.submit({
      strategy: 'sequence',
      agents: ['a', 'b', 'c'],
      input: 'x',
      limits: { max_steps: 3 },
    });
    expect((await h.app.runtime.wait(run.id, { timeoutMs: 10_000 })).status).toBe('completed');
  });

  it('times a run out with code timeout', async () => {
    h = await startHarness({
      script: () => ({ content: 'late', delay_ms: 5_000 }),
      agents: [{ name: 'solo' }],
    });
    const { run } = await h.app.runtime.submit({ agent: 'solo', input: 'x', limits: { timeout_sec: 0.3 } });
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 5_000 });
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'timeout' });
  });

  it('retries a failed model step with backoff, then succeeds', async () => {
    let calls = 0;
    h = await startHarness({
      script: () => (++calls <= 2 ? { status: 503, error: 'overloaded' } : { content: 'finally' }),
      agents: [{ name: 'solo' }],
    });
    const { run } = await h.app.runtime.submit({ agent: 'solo', input: 'x' });
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 5_000 });
    expect(done.status).toBe('completed');
    const steps = await h.app.runtime.getSteps(run.id);
    expect(steps).toHaveLength(1);
    expect(steps[0]!.attempt).toBe(3);
    const failures = (await h.app.runtime.listEvents(run.id)).filter((e) => e.type === 'step.failed');
    expect(failures).toHaveLength(2);
  });

  it('retries a crashed skill but never blindly retries a risk-tagged one', async () => {
    const script: Script = ({ body }) => {
      const tool = offered(body).find((t) => t.startsWith('test__flaky'));
      if (tool !== undefined && toolResultCount(body) === 0) {
        return { tool_calls: [{ name: tool, arguments: { marker: `${tool}.marker` } }] };
      }
      const last = body.messages[body.messages.length - 1]!;
      return { content: `result: ${typeof last.content === 'string' ? last.content : ''}` };
    };
    h = await startHarness({
      script,
      agents: [
        { name: 'safe', skills: ['test/flaky'] },
        { name: 'risky', skills: ['test/flaky-risky'] },
      ],
    });
    const safe = await h.app.runtime.submit({ agent: 'safe', input: 'go' });
    const safeDone = await h.app.runtime.wait(safe.run.id, { timeoutMs: 10_000 });
    expect(safeDone.status).toBe('completed');
    const safeSkill = (await h.app.runtime.getSteps(safe.run.id)).find((s) => s.kind === 'skill')!;
    expect(safeSkill).toMatchObject({ status: 'completed', attempt: 2, output: { ok: true } });

    const risky = await h.app.runtime.submit({ agent: 'risky', input: 'go' });
    await waitForStatus(h.app.runtime, risky.run.id, 'waiting_approval');
    const [approval] = await h.app.runtime.listApprovals({ run_id: risky.run.id, status: 'pending' });
    await h.app.runtime.decide(approval!.id, { approve: true, principal: 'alice' });
    const riskyDone = await h.app.runtime.wait(risky.run.id, { timeoutMs: 10_000 });
    // The crash reaches the model as a tool error; the skill ran exactly once.
    expect(riskyDone.status).toBe('completed');
    expect((riskyDone.result as { output: string }).output).toContain('skill_crashed');
    const riskyRuns = executions(h.sideFile).filter((e) => e.run === risky.run.id);
    expect(riskyRuns).toHaveLength(1);
  });

  it('does not retry a non-retryable model error', async () => {
    h = await startHarness({
      script: () => ({ status: 400, error: 'bad request' }),
      agents: [{ name: 'solo' }],
    });
    const { run } = await h.app.runtime.submit({ agent: 'solo', input: 'x' });
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 5_000 });
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'model_error' });
    expect(h.server.requests).toHaveLength(1);
  });
});
