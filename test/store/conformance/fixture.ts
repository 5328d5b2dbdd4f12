/** The checks every driver runs on a store written at schema version 2 (test/store/fixtures). */
import { expect } from 'vitest';
import type { RunStore } from '../../../src/store/index.js';
import type { FakeClock } from '../../../src/testing/index.js';
import { create, ev, expectCode, newStep } from './helpers.js';

/** Asserts that a v2 fixture store reads and keeps working after its migration. */
export async function expectV2FixtureWorks(store: RunStore, clock: FakeClock): Promise<void> {
  const { runs } = await store.listRuns();
  const by = (status: string) => runs.find((r) => r.status === status)!;
  expect(runs.map((r) => r.status).sort()).toEqual(['completed', 'queued', 'running', 'waiting_approval']);
  const queued = by('queued');
  const running = by('running');
  expect(running).toMatchObject({ priority: 'interactive', metadata: { m: 1 }, checkpoint: 1 });
  expect(running.usage).toEqual({ steps: 1, input_tokens: 3, output_tokens: 4, cost_usd: 0.5 });
  expect(by('completed')).toMatchObject({ result: { answer: 42 }, error: null });

  const steps = await store.getSteps(running.id);
  expect(steps.map((s) => [s.seq, s.key, s.status, s.agent])).toEqual([
    [1, 'model:0', 'completed', null],
    [2, 'skill:0', 'running', null],
  ]);
  expect(steps[0]?.output).toEqual({ text: 'hi' });
  const next = await store.beginStep(
    newStep(running.id, 'model:1', { agent: 'a' }),
    ev.stepStarted('model:1'),
  );
  expect(next).toMatchObject({ seq: 3, agent: 'a' });
  await store.finishStep(
    running.id,
    2,
    { status: 'completed', output: 1 },
    { checkpoint: 2 },
    ev.stepCompleted('skill:0', 2),
  );
  expect((await store.listEvents(running.id)).map((e) => e.seq)).toEqual([1, 2, 3, 4, 5, 6]);

  const waiting = by('waiting_approval');
  const [pending] = await store.listApprovals({ status: 'pending' });
  expect(pending).toMatchObject({ run_id: waiting.id, args: { path: '/y' }, risk_tags: ['destructive'] });
  await store.decideApproval(pending!.id, { status: 'approved', decided_by: 'ops' }, ev.decided(pending!.id));
  expect((await store.listEvents(waiting.id)).map((e) => [e.seq, e.type])).toEqual([
    [1, 'run.created'],
    [2, 'approval.requested'],
    [3, 'approval.decided'],
  ]);

  const audit = await store.listAudit();
  expect(audit.entries.map((e) => [e.action, e.run_id])).toEqual([
    ['approval.decide', null],
    ['run.create', null],
  ]);
  expect(audit.entries[1]?.data).toEqual({ via: 'fixture' });
  await store.appendAudit({ principal: 'ops', action: 'approval.decide', run_id: waiting.id });
  expect((await store.listAudit({ run_id: waiting.id })).entries).toHaveLength(1);

  clock.set(Date.parse(queued.created_at) + 60_000);
  const replay = await create(store, {}, { key: 'fixture-key', fingerprint: 'fp', ttlSec: 60 });
  expect(replay).toEqual({ run: queued, created: false });
  await expectCode(
    store.transitionRun(by('completed').id, { status: 'running' }, ev.started()),
    'already_terminal',
  );
}
