import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, type Script } from '../../src/testing/index.js';
import {
  offered,
  startHarness,
  toolResultCount,
  waitForEvents,
  waitForStatus,
  type Harness,
} from './harness.js';

let h: Harness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

const lines = (file: string) =>
  existsSync(file) ? readFileSync(file, 'utf8').trim().split('\n').filter(Boolean) : [];

const dangerous: Script = ({ body }) =>
  toolResultCount(body) === 0 && offered(body).includes('test__danger')
    ? { tool_calls: [{ name: 'test__danger', arguments: { label: 'wipe' } }] }
    : { content: `after: ${String(body.messages[body.messages.length - 1]!.content)}` };

describe('approvals', () => {
  it('stops a run at a risk-tagged skill, holding no slot, and continues from that step once approved', async () => {
    h = await startHarness({
      script: dangerous,
      agents: [{ name: 'ops', skills: ['test/danger'] }, { name: 'solo' }],
      config: { agents: { max_parallel_agents: 1 } },
    });
    const { run } = await h.app.runtime.submit({ agent: 'ops', input: 'clean up' });
    await waitForStatus(h.app.runtime, run.id, 'waiting_approval');
    expect(lines(h.sideFile)).toHaveLength(0);
    const [approval] = await h.app.runtime.listApprovals({ status: 'pending' });
    expect(approval).toMatchObject({
      run_id: run.id,
      skill_id: 'test/danger',
      risk_tags: ['destructive'],
      args: { label: 'wipe' },
    });

    // The only slot is free while the run waits: another run completes meanwhile.
    const other = await h.app.runtime.submit({ agent: 'solo', input: 'meanwhile' });
    expect((await h.app.runtime.wait(other.run.id, { timeoutMs: 5_000 })).status).toBe('completed');

    const modelCallsBefore = h.server.requests.length;
    await h.app.runtime.decide(approval!.id, { approve: true, principal: 'alice', reason: 'ok' });
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 10_000 });
    expect(done.status).toBe('completed');
    expect(lines(h.sideFile)).toHaveLength(1);
    // The first model call was replayed from the journal, not sent again: one more call only.
    expect(h.server.requests.length - modelCallsBefore).toBe(1);
    const audit = (await h.store.listAudit({ action: 'approval.decide' })).entries;
    expect(audit[0]).toMatchObject({ principal: 'alice', target: approval!.id });
    await expect(
      h.app.runtime.decide(approval!.id, { approve: false, principal: 'bob' }),
    ).rejects.toMatchObject({
      code: 'already_decided',
    });
  });

  it('fails the run with approval_denied when denied, never running the skill', async () => {
    h = await startHarness({ script: dangerous, agents: [{ name: 'ops', skills: ['test/danger'] }] });
    const { run } = await h.app.runtime.submit({ agent: 'ops', input: 'clean up' });
    await waitForStatus(h.app.runtime, run.id, 'waiting_approval');
    const [approval] = await h.app.runtime.listApprovals({ run_id: run.id, status: 'pending' });
    await h.app.runtime.decide(approval!.id, { approve: false, principal: 'alice', reason: 'too risky' });
    const done = await h.app.runtime.getRun(run.id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'approval_denied' });
    expect(lines(h.sideFile)).toHaveLength(0);
  });

  it('expires an approval past its deadline and fails the run', async () => {
    const clock = new FakeClock(Date.now());
    h = await startHarness({
      script: dangerous,
      agents: [{ name: 'ops', skills: ['test/danger'] }],
      config: { agents: { approval_timeout_sec: 1 } },
      clock,
    });
    const { run } = await h.app.runtime.submit({ agent: 'ops', input: 'clean up' });
    await waitForStatus(h.app.runtime, run.id, 'waiting_approval');
    clock.advance(2_000);
    expect(await h.app.runtime.expireApprovals()).toBe(1);
    const done = await h.app.runtime.getRun(run.id);
    expect(done.status).toBe('failed');
    expect(done.error).toMatchObject({ code: 'approval_denied' });
    expect(lines(h.sideFile)).toHaveLength(0);
  });

  it('in parallel_map, lets sibling branches finish while one branch waits, then resumes only that branch', async () => {
    const script: Script = ({ body }) => {
      const text = String(body.messages.find((m) => m.role === 'user')?.content ?? '');
      if (text.endsWith('risky') && toolResultCount(body) === 0) {
        return { tool_calls: [{ name: 'test__danger', arguments: { label: 'risky-branch' } }] };
      }
      if (text.endsWith('safe') && toolResultCount(body) === 0) {
        return { tool_calls: [{ name: 'test__record', arguments: { label: 'safe-branch' } }], delay_ms: 100 };
      }
      return { content: `done ${text.slice(-5)}` };
    };
    h = await startHarness({ script, agents: [{ name: 'ops', skills: ['test/danger', 'test/record'] }] });
    const { run } = await h.app.runtime.submit({
      strategy: 'parallel_map',
      agent: 'ops',
      items: ['risky', 'safe'],
      input: 'work',
      options: { fail_fast: true },
    });
    await waitForStatus(h.app.runtime, run.id, 'waiting_approval');
    // The safe sibling was not cancelled by the suspension: it finished its skill call.
    expect(lines(h.sideFile).map((l) => (JSON.parse(l) as { label: string }).label)).toEqual(['safe-branch']);
    const steps = await h.app.runtime.getSteps(run.id);
    expect(steps.filter((s) => s.status === 'cancelled')).toHaveLength(0);
    const [approval] = await h.app.runtime.listApprovals({ run_id: run.id, status: 'pending' });
    const before = h.server.requests.length;
    await h.app.runtime.decide(approval!.id, { approve: true, principal: 'alice' });
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 10_000 });
    expect(done.status).toBe('completed');
    expect(
      lines(h.sideFile)
        .map((l) => (JSON.parse(l) as { label: string }).label)
        .sort(),
    ).toEqual(['risky-branch', 'safe-branch']);
    // Only the risky branch's last model turn is new; everything else replayed from the journal.
    expect(h.server.requests.length - before).toBe(1);
  });

  it('acts on a decision made while the run was still running its other branches', async () => {
    const script: Script = ({ body }) => {
      const text = String(body.messages.find((m) => m.role === 'user')?.content ?? '');
      if (text.endsWith('risky') && toolResultCount(body) === 0) {
        return { tool_calls: [{ name: 'test__danger', arguments: { label: 'early' } }] };
      }
      if (text.endsWith('slow')) return { content: 'slow done', delay_ms: 600 };
      return { content: 'ok' };
    };
    for (const approve of [true, false]) {
      h = await startHarness({ script, agents: [{ name: 'ops', skills: ['test/danger'] }] });
      const { run } = await h.app.runtime.submit({
        strategy: 'parallel_map',
        agent: 'ops',
        items: ['risky', 'slow'],
        input: 'work',
      });
      await waitForEvents(
        h.app.runtime,
        run.id,
        (events) => events.some((e) => e.type === 'approval.requested'),
        10_000,
        'the risky branch to request an approval',
      );
      const pending = await h.app.runtime.listApprovals({ run_id: run.id, status: 'pending' });
      expect(pending).toHaveLength(1);
      expect((await h.app.runtime.getRun(run.id)).status).toBe('running');
      await h.app.runtime.decide(pending[0]!.id, { approve, principal: 'alice' });
      // The decision is already made when the execution suspends: the run goes straight on and
      // never reports waiting for it.
      const done = await h.app.runtime.wait(run.id, { timeoutMs: 10_000 });
      const types = (await h.app.runtime.listEvents(run.id)).map((e) => e.type);
      expect(types).not.toContain('run.waiting_approval');
      if (approve) {
        expect(done.status).toBe('completed');
        expect(lines(h.sideFile)).toHaveLength(1);
      } else {
        expect(done.status).toBe('failed');
        expect(done.error).toMatchObject({ code: 'approval_denied' });
        expect(lines(h.sideFile)).toHaveLength(0);
      }
      await h.close();
      h = undefined;
    }
  });

  it('cancels a run that waits for approval', async () => {
    h = await startHarness({ script: dangerous, agents: [{ name: 'ops', skills: ['test/danger'] }] });
    const { run } = await h.app.runtime.submit({ agent: 'ops', input: 'clean up' });
    await waitForStatus(h.app.runtime, run.id, 'waiting_approval');
    expect((await h.app.runtime.cancel(run.id, 'alice')).status).toBe('cancelled');
    expect(await h.app.runtime.listApprovals({ run_id: run.id, status: 'pending' })).toHaveLength(0);
  });
});
