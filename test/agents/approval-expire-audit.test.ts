import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/testing/index.js';
import { apiAgents, apiScript } from '../api/helpers.js';
import { startHarness, type Harness } from './harness.js';

/* An approval nobody decided in time expires; the audit trail says so, as the system, on the run. */

const clock = new FakeClock();
let h: Harness;

beforeAll(async () => {
  h = await startHarness({ script: apiScript, agents: apiAgents, clock });
});
afterAll(async () => h?.close());

describe('approval.expire in the audit trail', () => {
  it('is written by the system for each approval that timed out', async () => {
    const { run } = await h.app.runtime.submit({ agent: 'ops', input: 'danger now' }, { principal: 'ann' });
    const waiting = await h.app.runtime.wait(run.id, { timeoutMs: 20_000 });
    expect(waiting.status).toBe('waiting_approval');
    const [approval] = await h.store.listApprovals({ run_id: run.id });
    expect(await h.app.runtime.expireApprovals()).toBe(0);
    clock.advance(h.app.config.agents.approval_timeout_sec * 1000 + 1);
    expect(await h.app.runtime.expireApprovals()).toBe(1);
    const { entries } = await h.store.listAudit({ action: 'approval.expire' });
    expect(entries).toEqual([
      expect.objectContaining({
        principal: null,
        target: approval!.id,
        run_id: run.id,
        trace_id: run.trace_id,
        data: { kind: 'skill', skill_id: 'test/danger' },
      }),
    ]);
    expect((await h.store.listAudit({ run_id: run.id })).entries.map((e) => e.action)).toEqual([
      'approval.expire',
      'run.create',
    ]);
  });
});
