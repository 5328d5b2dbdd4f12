/** Conformance: approvals leave their run alone; decisions write their event with them. */
import { expect, it } from 'vitest';
import { newRunId } from '../../../src/store/index.js';
import { ask, create, ev, expectCode, newApproval, newRun, type Suite } from './helpers.js';

export function approvalTests(t: Suite): void {
  it('createApproval stores a pending approval and its event, leaving the run untouched', async () => {
    const { run } = await create(t.s, { status: 'running', owner: 'n1' });
    t.clock.advance(1000);
    const input = newApproval(run.id, {
      step_seq: 1,
      args: { path: '/x' },
      risk_tags: ['destructive'],
      expires_at: '2026-01-02T00:00:00.000Z',
    });
    const approval = await t.s.createApproval(input, ev.requested(input.id));
    expect(approval).toEqual({
      id: input.id,
      run_id: run.id,
      step_seq: 1,
      step_key: 'skill:1',
      skill_id: 'acme/rm',
      args: { path: '/x' },
      risk_tags: ['destructive'],
      status: 'pending',
      decided_by: null,
      reason: null,
      created_at: t.clock.iso(),
      decided_at: null,
      expires_at: '2026-01-02T00:00:00.000Z',
    });
    // No status change, no updated_at, no owner change: the lifecycle suspends the run itself.
    expect(await t.s.getRun(run.id)).toEqual(run);
    const evs = await t.s.listEvents(run.id);
    expect(evs[evs.length - 1]).toMatchObject({
      seq: 2,
      type: 'approval.requested',
      data: { approval_id: approval.id },
      at: t.clock.iso(),
    });
    expect(await t.s.getApproval(approval.id)).toEqual(approval);
    expect(await t.s.getApproval('apr_missing')).toBeUndefined();
    expect((await t.s.listApprovals({ status: 'pending' })).map((a) => a.id)).toEqual([approval.id]);
    expect(await t.s.listApprovals({ run_id: 'run_other' })).toEqual([]);
    expect(await t.s.getApprovalForStep(run.id, 'skill:1')).toEqual(approval);
    expect(await t.s.getApprovalForStep(run.id, 'skill:2')).toBeUndefined();
    await expectCode(t.s.createApproval(input, ev.requested(input.id)), 'conflict');
    await expectCode(t.s.createApproval(newApproval('run_missing'), ev.requested('x')), 'not_found');
    await t.s.transitionRun(run.id, { status: 'failed' }, ev.failed());
    await expectCode(t.s.createApproval(newApproval(run.id), ev.requested('y')), 'already_terminal');
  });

  it('decideApproval decides once and appends its event in the same write', async () => {
    const { run } = await create(t.s, { status: 'waiting_approval' });
    const approval = await ask(t.s, run.id);
    const later = await ask(t.s, run.id);
    expect((await t.s.getApprovalForStep(run.id, 'skill:1'))?.id).toBe(later.id);
    t.clock.advance(2000);
    const decided = await t.s.decideApproval(
      approval.id,
      { status: 'approved', decided_by: 'alice', reason: 'ok' },
      ev.decided(approval.id),
    );
    expect(decided).toEqual({
      ...approval,
      status: 'approved',
      decided_by: 'alice',
      reason: 'ok',
      decided_at: t.clock.iso(),
    });
    expect(await t.s.getApproval(approval.id)).toEqual(decided);
    const evs = await t.s.listEvents(run.id);
    expect(evs.map((e) => [e.seq, e.type])).toEqual([
      [1, 'run.created'],
      [2, 'approval.requested'],
      [3, 'approval.requested'],
      [4, 'approval.decided'],
    ]);
    expect(evs[3]?.at).toBe(t.clock.iso());
    expect((await t.s.getRun(run.id))?.status).toBe('waiting_approval');
    await expectCode(
      t.s.decideApproval(
        approval.id,
        { status: 'denied', decided_by: 'bob' },
        ev.decided(approval.id, 'denied'),
      ),
      'already_decided',
    );
    expect(await t.s.listEvents(run.id)).toHaveLength(4);
    await expectCode(
      t.s.decideApproval('apr_missing', { status: 'denied', decided_by: 'bob' }, ev.decided('apr_missing')),
      'not_found',
    );
    expect((await t.s.listApprovals({ status: 'pending' })).map((a) => a.id)).toEqual([later.id]);
    // A terminal run's pending approval can still be settled (e.g. expired on cancel).
    await t.s.transitionRun(run.id, { status: 'cancelled' }, ev.cancelled());
    const expired = await t.s.decideApproval(
      later.id,
      { status: 'expired', decided_by: null },
      ev.decided(later.id, 'denied'),
    );
    expect(expired).toMatchObject({ status: 'expired', decided_by: null, reason: null });
    const concurrent = await create(t.s, { status: 'running' });
    const a = await ask(t.s, concurrent.run.id);
    const outcomes = await Promise.allSettled([
      t.s.decideApproval(a.id, { status: 'approved', decided_by: 'x' }, ev.decided(a.id)),
      t.s.decideApproval(a.id, { status: 'denied', decided_by: 'y' }, ev.decided(a.id, 'denied')),
      t.s.appendEvent(concurrent.run.id, ev.started()),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((await t.s.listEvents(concurrent.run.id)).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
  });

  it('createRun with an approval stores the waiting run, its approval and their events in one write', async () => {
    const id = newRunId(t.clock.now());
    const approval = newApproval(id, { step_key: 'run', skill_id: '', args: { agent: 'a1', input: 'hi' } });
    const key = { key: 'gate-1', fingerprint: 'f1', ttlSec: 60 };
    const { run, created } = await t.s.createRun(
      newRun({ id, status: 'waiting_approval', owner: null, lease_expires_at: null }),
      {
        event: ev.created(),
        idempotency: key,
        approval: {
          approval,
          events: [
            ev.requested(approval.id, 'run'),
            { type: 'run.waiting_approval', data: { approval_id: approval.id } },
          ],
        },
      },
    );
    expect(created).toBe(true);
    // Waiting for its approval, it has not started: its time limit counts from its first start.
    expect(run).toMatchObject({
      status: 'waiting_approval',
      started_at: null,
      finished_at: null,
      owner: null,
    });
    expect(await t.s.getRun(id)).toEqual(run);
    expect(await t.s.getApprovalForStep(id, 'run')).toMatchObject({
      id: approval.id,
      run_id: id,
      step_key: 'run',
      skill_id: '',
      args: { agent: 'a1', input: 'hi' },
      status: 'pending',
      created_at: t.clock.iso(),
    });
    const evs = await t.s.listEvents(id);
    expect(evs.map((e) => [e.seq, e.type])).toEqual([
      [1, 'run.created'],
      [2, 'approval.requested'],
      [3, 'run.waiting_approval'],
    ]);
    // The run's event counter continues after them.
    await t.s.appendEvent(id, ev.started());
    expect((await t.s.listEvents(id)).map((e) => e.seq)).toEqual([1, 2, 3, 4]);
    // An idempotent replay writes nothing: no second approval.
    const again = await t.s.createRun(newRun({ id: newRunId(t.clock.now()), status: 'waiting_approval' }), {
      event: ev.created(),
      idempotency: key,
      approval: { approval: newApproval('run_other'), events: [] },
    });
    expect(again).toMatchObject({ created: false, run: { id } });
    expect((await t.s.listApprovals({})).map((a) => a.id)).toEqual([approval.id]);
    // An approval naming another run is refused, and nothing is written.
    const other = newRunId(t.clock.now());
    await expectCode(
      t.s.createRun(newRun({ id: other }), {
        event: ev.created(),
        approval: { approval: newApproval('run_elsewhere'), events: [] },
      }),
      'input_invalid',
    );
    expect(await t.s.getRun(other)).toBeUndefined();
  });
}
