/**
 * Opta-LMX's `approval_required: true` (and our `approval: {required: true}`): the run is created
 * waiting for a run-level approval that the approvals API decides; no agent works before that.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { userText } from '../agents/harness.js';
import { json, startApi, type ApiHarness } from './helpers.js';

let h: ApiHarness;
beforeEach(async () => {
  h = await startApi();
});
afterEach(async () => {
  await h.close();
});

interface RunBody {
  id: string;
  status: string;
  started_at: string | null;
  error: { code: string; message: string; data?: Record<string, unknown> } | string | null;
  error_detail?: { code: string; message: string; data?: Record<string, unknown> } | null;
  result: unknown;
  steps?: unknown[];
}

interface ApprovalBody {
  id: string;
  run_id: string;
  kind: string;
  step_key: string;
  skill_id: string;
  args: Record<string, unknown>;
  status: string;
  decided_by: string | null;
  reason: string | null;
  expires_at: string | null;
}

const create = (payload: unknown, query = '') =>
  h.api.inject({
    method: 'POST',
    url: `/v1/agents/runs${query}`,
    payload: payload as Record<string, unknown>,
  });

const getRun = async (id: string): Promise<RunBody> =>
  json<RunBody>(await h.api.inject({ url: `/v1/agents/runs/${id}?steps=true` }));

const pendingFor = async (runId: string): Promise<ApprovalBody[]> =>
  json<{ approvals: ApprovalBody[] }>(
    await h.api.inject({ url: `/v1/approvals?status=pending&run_id=${runId}` }),
  ).approvals;

const decide = (id: string, decision: 'approve' | 'deny', reason?: string) =>
  h.api.inject({
    method: 'POST',
    url: `/v1/approvals/${id}`,
    headers: { 'x-user-id': 'dora' },
    payload: { decision, ...(reason === undefined ? {} : { reason }) },
  });

const eventTypes = async (runId: string): Promise<string[]> =>
  (await h.app.runtime.listEvents(runId)).map((e) => e.type);

/** Submits an Opta body asking for approval; checks the run waits with one run-level approval. */
async function waitingRun(payload: unknown): Promise<{ run: RunBody; approval: ApprovalBody }> {
  const res = await create(payload);
  // Opta-LMX's clients expect 201 Created for an Opta body; ours is 202 Accepted.
  const body = payload as { request?: unknown; input?: unknown };
  const opta = body.request !== undefined || (typeof body.input === 'object' && body.input !== null);
  expect(res.statusCode).toBe(opta ? 201 : 202);
  const run = json<RunBody>(res);
  expect(run).toMatchObject({ status: 'waiting_approval', started_at: null });
  const approvals = await pendingFor(run.id);
  expect(approvals).toHaveLength(1);
  return { run, approval: approvals[0]! };
}

describe('a run that asks for approval', () => {
  it('waits for a run-level approval with no model call, and completes once approved', async () => {
    const { run, approval } = await waitingRun({
      request: {
        strategy: 'single',
        agent: 'assistant',
        prompt: 'ship the release',
        approval_required: true,
      },
    });
    expect(approval).toMatchObject({
      run_id: run.id,
      kind: 'run',
      step_key: 'run',
      skill_id: '',
      args: { strategy: 'single', agent: 'assistant', input: 'ship the release' },
      status: 'pending',
    });
    expect(approval.expires_at).not.toBeNull();
    // Nothing executes it: no model request, not queued on this node, never started.
    expect(h.server.requests).toHaveLength(0);
    expect(h.app.runtime.activeRuns).toBe(0);
    expect(await eventTypes(run.id)).toEqual(['run.created', 'approval.requested', 'run.waiting_approval']);
    // Waiting is settled for `?wait`, and Opta's status reads the same word.
    expect((await getRun(run.id)).status).toBe('waiting_approval');

    const res = await decide(approval.id, 'approve', 'go ahead');
    expect(res.statusCode).toBe(200);
    expect(json<ApprovalBody>(res)).toMatchObject({ kind: 'run', status: 'approved', decided_by: 'dora' });
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 10_000 });
    expect(done.status).toBe('completed');
    // An Opta body's run answers Opta's shape: a single role's result is its text.
    expect((await getRun(run.id)).result).toBe('echo: ship the release');
    expect(h.server.requests.map((r) => userText(r.body))).toEqual(['ship the release']);
    // It started (not resumed) after the approval: its time limit counts from then.
    expect(await eventTypes(run.id)).toEqual(
      expect.arrayContaining(['approval.decided', 'run.queued', 'run.started', 'run.completed']),
    );
    expect(await eventTypes(run.id)).not.toContain('run.resumed');
  });

  it('fails with approval_denied and runs no agent when the approval is denied', async () => {
    const { run, approval } = await waitingRun({
      request: {
        strategy: 'parallel_map',
        roles: ['writer', 'critic'],
        prompt: 'draft',
        approval_required: true,
      },
    });
    expect(approval.args).toMatchObject({
      strategy: 'parallel_map',
      agents: ['writer', 'critic'],
      input: 'draft',
    });
    const res = await decide(approval.id, 'deny', 'not today');
    expect(res.statusCode).toBe(200);
    expect(json<ApprovalBody>(res)).toMatchObject({ status: 'denied', reason: 'not today' });
    const failed = await h.app.runtime.wait(run.id, { timeoutMs: 10_000 });
    expect(failed.status).toBe('failed');
    const body = await getRun(run.id);
    // Opta's shape: `error` is text, ours is in `error_detail`.
    expect(typeof body.error).toBe('string');
    expect(body.error_detail).toMatchObject({
      code: 'approval_denied',
      data: { approval_id: approval.id, kind: 'run', status: 'denied' },
    });
    expect(body.error).toContain('denied by dora: not today; no agent ran');
    expect(body.steps).toEqual([]);
    expect(h.server.requests).toHaveLength(0);
    // Deciding again is refused.
    const again = await decide(approval.id, 'approve');
    expect(again.statusCode).toBe(409);
    expect(json(again)).toMatchObject({ code: 'already_decided' });
  });

  it('is cancelled while it waits, and its approval is closed', async () => {
    const { run, approval } = await waitingRun({
      agent: 'assistant',
      input: { prompt: 'legacy shape', approval_required: true },
    });
    const res = await h.api.inject({ method: 'POST', url: `/v1/agents/runs/${run.id}/cancel` });
    expect(res.statusCode).toBe(200);
    expect(json<RunBody>(res).status).toBe('cancelled');
    expect(await pendingFor(run.id)).toEqual([]);
    expect(await h.app.runtime.approvals.get(approval.id)).toMatchObject({
      status: 'expired',
      reason: 'run cancelled',
    });
    const late = await decide(approval.id, 'approve');
    expect(late.statusCode).toBe(409);
    expect(h.server.requests).toHaveLength(0);
  });

  it('takes our own request field approval.required too', async () => {
    const { run, approval } = await waitingRun({
      agent: 'assistant',
      input: 'native',
      approval: { required: true },
    });
    expect(approval.kind).toBe('run');
    await decide(approval.id, 'approve');
    expect((await h.app.runtime.wait(run.id, { timeoutMs: 10_000 })).status).toBe('completed');
    const bad = await create({ agent: 'assistant', input: 'x', approval: { required: 'yes' } });
    expect(bad.statusCode).toBe(400);
    expect(json(bad)).toMatchObject({ code: 'invalid_request' });
  });

  it('runs at once, with no approval, when approval_required is false or absent', async () => {
    for (const request of [
      { agent: 'assistant', prompt: 'no gate', approval_required: false },
      { agent: 'assistant', prompt: 'no gate' },
    ]) {
      const res = await create({ request }, '?wait=10');
      expect(res.statusCode).toBe(200);
      const run = json<RunBody>(res);
      expect(run.status).toBe('completed');
      expect(await h.app.runtime.listApprovals({ run_id: run.id })).toEqual([]);
    }
    expect(h.server.requests).toHaveLength(2);
  });
});
