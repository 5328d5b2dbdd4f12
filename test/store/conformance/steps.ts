/** Conformance: steps (durability, replay, retries, the agent field) and events. */
import { expect, it } from 'vitest';
import { create, ev, expectCode, newStep, type Suite } from './helpers.js';

export function stepTests(t: Suite): void {
  it('steps: begin/finish durability, replay by key, retry attempts', async () => {
    const { run } = await create(t.s, { status: 'running' });
    const s1 = await t.s.beginStep(
      newStep(run.id, 'model:0', { name: 'gpt', input: { m: 1 }, agent: 'writer' }),
      ev.stepStarted('model:0'),
    );
    expect(s1).toMatchObject({
      seq: 1,
      status: 'running',
      attempt: 1,
      branch: 'main',
      parent_seq: null,
      agent: 'writer',
      started_at: t.clock.iso(),
    });
    const s2 = await t.s.beginStep(
      newStep(run.id, 'skill:0', { kind: 'skill', name: 'x/y', parent_seq: 1, branch: 'b1' }),
      ev.stepStarted('skill:0', 'skill'),
    );
    expect(s2).toMatchObject({ seq: 2, agent: null, parent_seq: 1, branch: 'b1' });
    t.clock.advance(500);
    const f1 = await t.s.finishStep(
      run.id,
      1,
      { status: 'completed', output: { text: 'hi' } },
      { usage: { steps: 1, input_tokens: 5, output_tokens: 7, cost_usd: 0.01 }, checkpoint: 1 },
      ev.stepCompleted('model:0', 1),
    );
    expect(f1).toMatchObject({
      status: 'completed',
      output: { text: 'hi' },
      agent: 'writer',
      finished_at: t.clock.iso(),
    });
    const r1 = await t.s.getRun(run.id);
    expect(r1?.usage).toEqual({ steps: 1, input_tokens: 5, output_tokens: 7, cost_usd: 0.01 });
    expect(r1).toMatchObject({ checkpoint: 1, updated_at: t.clock.iso() });
    // replay: same key returns the completed step unchanged, no event, no new seq
    const eventsBefore = (await t.s.listEvents(run.id)).length;
    const replay = await t.s.beginStep(
      newStep(run.id, 'model:0', { input: { m: 2 } }),
      ev.stepStarted('model:0'),
    );
    expect(replay).toEqual(f1);
    expect((await t.s.listEvents(run.id)).length).toBe(eventsBefore);
    expect(await t.s.getStepByKey(run.id, 'model:0')).toEqual(f1);
    expect(await t.s.getStepByKey(run.id, 'nope')).toBeUndefined();
    await expectCode(
      t.s.finishStep(run.id, 1, { status: 'failed' }, undefined, ev.stepFailed('x', 1)),
      'step_not_running',
    );
    await expectCode(
      t.s.finishStep(run.id, 99, { status: 'failed' }, undefined, ev.stepFailed('x', 99)),
      'not_found',
    );
    // failed step is retried under the same seq with attempt + 1
    await t.s.finishStep(
      run.id,
      2,
      { status: 'failed', error: { code: 'boom', message: 'x' } },
      undefined,
      ev.stepFailed('skill:0', 2),
    );
    const retry = await t.s.beginStep(
      newStep(run.id, 'skill:0', { kind: 'skill', name: 'x/y', input: { again: true }, agent: 'fixer' }),
      ev.stepStarted('skill:0', 'skill'),
    );
    expect(retry).toMatchObject({
      seq: 2,
      attempt: 2,
      status: 'running',
      error: null,
      input: { again: true },
      agent: 'fixer',
    });
    expect(await t.s.getStepByKey(run.id, 'skill:0')).toEqual(retry);
    const s3 = await t.s.beginStep(
      newStep(run.id, 'route:0', { kind: 'route' }),
      ev.stepStarted('route:0', 'route'),
    );
    expect(s3.seq).toBe(3);
    expect((await t.s.getSteps(run.id)).map((x) => [x.seq, x.key, x.status])).toEqual([
      [1, 'model:0', 'completed'],
      [2, 'skill:0', 'running'],
      [3, 'route:0', 'running'],
    ]);
    // a failed finish changes nothing (same transaction)
    await expectCode(
      t.s.finishStep(run.id, 1, { status: 'completed' }, { checkpoint: 9 }, ev.stepCompleted('model:0', 1)),
      'step_not_running',
    );
    expect((await t.s.getRun(run.id))?.checkpoint).toBe(1);
    // terminal run: no new steps, but completed ones still replay and running ones may finish
    await t.s.transitionRun(run.id, { status: 'cancelled' }, ev.cancelled());
    await expectCode(t.s.beginStep(newStep(run.id, 'new'), ev.stepStarted('new')), 'already_terminal');
    expect((await t.s.beginStep(newStep(run.id, 'model:0'), ev.stepStarted('model:0'))).status).toBe(
      'completed',
    );
    const late = await t.s.finishStep(
      run.id,
      3,
      { status: 'cancelled' },
      { checkpoint: 3 },
      ev.stepFailed('route:0', 3),
    );
    expect(late.status).toBe('cancelled');
    expect((await t.s.getRun(run.id))?.checkpoint).toBe(1);
    await expectCode(t.s.beginStep(newStep('run_missing', 'k'), ev.stepStarted('k')), 'not_found');
    const types = (await t.s.listEvents(run.id)).map((e) => e.type);
    expect(types).toEqual([
      'run.created',
      'step.started',
      'step.started',
      'step.completed',
      'step.failed',
      'step.started',
      'step.started',
      'run.cancelled',
      'step.failed',
    ]);
  });

  it('usage_delta and checkpoint are exact under concurrent step finishes', async () => {
    const { run } = await create(t.s, { status: 'running' });
    const steps = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        t.s.beginStep(
          newStep(run.id, `map:${i}`, { kind: 'map', input: i, branch: `b${i}` }),
          ev.stepStarted(`map:${i}`),
        ),
      ),
    );
    expect(new Set(steps.map((x) => x.seq)).size).toBe(20);
    await Promise.all(
      steps.map((st) =>
        t.s.finishStep(
          run.id,
          st.seq,
          { status: 'completed', output: st.seq },
          { usage_delta: { steps: 1, input_tokens: 10, cost_usd: 0.5 }, checkpoint: st.seq },
          ev.stepCompleted(st.key, st.seq),
        ),
      ),
    );
    const r = await t.s.getRun(run.id);
    expect(r?.usage).toEqual({ steps: 20, input_tokens: 200, output_tokens: 0, cost_usd: 10 });
    expect(r?.checkpoint).toBe(20);
    expect((await t.s.listEvents(run.id)).map((e) => e.seq)).toEqual(
      Array.from({ length: 41 }, (_, i) => i + 1),
    );
  });

  it('event seq is monotonic and gap-free under 50 concurrent appends', async () => {
    const { run } = await create(t.s);
    t.clock.advance(10);
    const got = await Promise.all(
      Array.from({ length: 50 }, (_, i) => t.s.appendEvent(run.id, ev.started(`n${i}`))),
    );
    expect(got.map((e) => e.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i + 2));
    expect(got[0]).toMatchObject({ run_id: run.id, type: 'run.started', at: t.clock.iso() });
    const all = await t.s.listEvents(run.id);
    expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
    expect(all.slice(1).every((e) => e.at === t.clock.iso())).toBe(true);
    expect((await t.s.listEvents(run.id, { afterSeq: 48, limit: 2 })).map((e) => e.seq)).toEqual([49, 50]);
    expect(await t.s.listEvents(run.id, { afterSeq: 51 })).toEqual([]);
    await expectCode(t.s.appendEvent('run_missing', ev.started()), 'not_found');
  });
}
