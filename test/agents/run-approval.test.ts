/**
 * Run-level approvals: a run whose request asks for one is stored waiting with its approval, in
 * the store — so it survives a restart on SQLite and PostgreSQL — and expires like a skill call's.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { openRunStore, type RunStore } from '../../src/store/index.js';
import { FakeClock, echoScript } from '../../src/testing/index.js';
import { startHarness, userText } from './harness.js';

const pgUrl = process.env.SKILLPLANE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const pgSchema = `sp_run_approval_${randomBytes(5).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'sp-run-approval-'));

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  const c = new pg.Client({ connectionString: pgUrl });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS "${pgSchema}" CASCADE`);
  await c.end();
});

const agents = [{ name: 'assistant' }];

const drivers: Record<string, () => Promise<RunStore>> = {
  sqlite: () => openRunStore({ driver: 'sqlite', path: join(dir, 'runs.db') }),
  postgres: () => openRunStore({ driver: 'postgres', url: pgUrl, schema: pgSchema }),
};

describe.each(Object.keys(drivers))('a run waiting for its approval on %s', (driver) => {
  it('keeps waiting across a restart, and the next process runs it once approved', async () => {
    const open = drivers[driver]!;
    const storeA = await open();
    const a = await startHarness({ script: echoScript, agents, store: storeA });
    let runId: string;
    let approvalId: string;
    try {
      const { run } = await a.app.runtime.submit({
        agent: 'assistant',
        input: 'after the restart',
        approval: { required: true },
      });
      runId = run.id;
      expect(run.status).toBe('waiting_approval');
      const [approval] = await a.app.runtime.listApprovals({ run_id: run.id, status: 'pending' });
      approvalId = approval!.id;
    } finally {
      await a.close();
      await storeA.close();
    }
    expect(a.server.requests).toHaveLength(0);

    const storeB = await open();
    const b = await startHarness({ script: echoScript, agents, store: storeB });
    try {
      // Nothing was resumed: the run still waits for the same approval, owned by nobody.
      expect(b.app.runtime.activeRuns).toBe(0);
      const stored = await b.app.runtime.getRun(runId);
      expect(stored).toMatchObject({ status: 'waiting_approval', owner: null, started_at: null });
      const pending = await b.app.runtime.listApprovals({ run_id: runId, status: 'pending' });
      expect(pending.map((p) => [p.id, p.step_key])).toEqual([[approvalId, 'run']]);

      await b.app.runtime.decide(approvalId, { approve: true, principal: 'ops-lead' });
      const done = await b.app.runtime.wait(runId, { timeoutMs: 10_000 });
      expect(done.status).toBe('completed');
      expect(done.result).toMatchObject({ output: 'echo: after the restart' });
      expect(b.server.requests.map((r) => userText(r.body))).toEqual(['after the restart']);
    } finally {
      await b.close();
      await storeB.close();
    }
  });
});

describe('a run-level approval nobody decides', () => {
  it('expires like a skill call approval and fails the run with approval_denied', async () => {
    const clock = new FakeClock();
    const h = await startHarness({
      script: echoScript,
      agents,
      clock,
      config: { agents: { approval_timeout_sec: 60 } },
    });
    try {
      const { run } = await h.app.runtime.submit({
        agent: 'assistant',
        input: 'x',
        approval: { required: true },
      });
      clock.advance(59_000);
      expect(await h.app.runtime.expireApprovals()).toBe(0);
      clock.advance(2_000);
      expect(await h.app.runtime.expireApprovals()).toBe(1);
      const failed = await h.app.runtime.getRun(run.id);
      expect(failed.status).toBe('failed');
      expect(failed.error).toMatchObject({
        code: 'approval_denied',
        data: { kind: 'run', status: 'expired' },
      });
      expect(failed.error?.message).toContain('expired before anyone decided it; no agent ran');
      expect(h.server.requests).toHaveLength(0);
    } finally {
      await h.close();
    }
  });

  it('does not count the wait against the run time limit', async () => {
    const clock = new FakeClock();
    const h = await startHarness({ script: echoScript, agents, clock });
    try {
      const { run } = await h.app.runtime.submit({
        agent: 'assistant',
        input: 'late approval',
        limits: { timeout_sec: 5 },
        approval: { required: true },
      });
      // Approved long after its time limit would have passed, had it been counting.
      clock.advance(60_000);
      const [approval] = await h.app.runtime.listApprovals({ run_id: run.id });
      await h.app.runtime.decide(approval!.id, { approve: true, principal: null });
      const done = await h.app.runtime.wait(run.id, { timeoutMs: 10_000 });
      expect(done.status).toBe('completed');
      expect(done.started_at).toBe(clock.iso());
    } finally {
      await h.close();
    }
  });
});
