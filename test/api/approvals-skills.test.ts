import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startApi, type ApiHarness } from './helpers.js';

let h: ApiHarness;
beforeAll(async () => {
  h = await startApi();
});
afterAll(async () => {
  await h.close();
});

interface ApprovalBody {
  id: string;
  run_id: string;
  status: string;
  decided_by: string | null;
  skill_id: string;
}

async function runWaitingForApproval(): Promise<{ runId: string; approval: ApprovalBody }> {
  const res = await h.api.inject({
    method: 'POST',
    url: '/v1/agents/runs?wait=10',
    payload: { agent: 'ops', input: 'danger zone' },
  });
  expect(res.statusCode).toBe(200);
  const run = json<{ id: string; status: string }>(res);
  expect(run.status).toBe('waiting_approval');
  const list = await h.api.inject({ url: `/v1/approvals?status=pending&run_id=${run.id}` });
  expect(list.statusCode).toBe(200);
  const [approval] = json<{ approvals: ApprovalBody[] }>(list).approvals;
  expect(approval).toMatchObject({ run_id: run.id, skill_id: 'test/danger', status: 'pending' });
  return { runId: run.id, approval: approval! };
}

describe('approvals', () => {
  it('approves a pending approval, the run completes, and a second decision is 409 already_decided', async () => {
    const { runId, approval } = await runWaitingForApproval();
    const res = await h.api.inject({
      method: 'POST',
      url: `/v1/approvals/${approval.id}`,
      headers: { 'x-user-id': 'dora' },
      payload: { decision: 'approve', reason: 'looks fine' },
    });
    expect(res.statusCode).toBe(200);
    expect(json<ApprovalBody>(res)).toMatchObject({ status: 'approved', decided_by: 'dora' });
    expect((await h.app.runtime.wait(runId, { timeoutMs: 10_000 })).status).toBe('completed');
    const again = await h.api.inject({
      method: 'POST',
      url: `/v1/approvals/${approval.id}`,
      payload: { decision: 'deny' },
    });
    expect(again.statusCode).toBe(409);
    expect(json(again)).toMatchObject({ code: 'already_decided' });
  });

  it('denies an approval and the run fails', async () => {
    const { runId, approval } = await runWaitingForApproval();
    const res = await h.api.inject({
      method: 'POST',
      url: `/v1/approvals/${approval.id}`,
      payload: { decision: 'deny', reason: 'no' },
    });
    expect(json<ApprovalBody>(res).status).toBe('denied');
    const run = await h.app.runtime.wait(runId, { timeoutMs: 10_000 });
    expect(run.status).toBe('failed');
  });

  it('answers 404 for an unknown approval and 400 for a bad decision', async () => {
    const missing = await h.api.inject({
      method: 'POST',
      url: '/v1/approvals/apr_missing',
      payload: { decision: 'approve' },
    });
    expect(missing.statusCode).toBe(404);
    const bad = await h.api.inject({
      method: 'POST',
      url: '/v1/approvals/x',
      payload: { decision: 'maybe' },
    });
    expect(bad.statusCode).toBe(400);
    expect(json<{ issues: { path: string }[] }>(bad).issues[0]!.path).toBe('decision');
  });
});

describe('GET /v1/agents', () => {
  it('lists the agent definitions', async () => {
    const res = await h.api.inject({ url: '/v1/agents' });
    const names = json<{ agents: { name: string }[] }>(res).agents.map((a) => a.name);
    expect(names).toEqual(['assistant', 'critic', 'ops', 'writer']);
  });
});

describe('skills catalogue', () => {
  it('lists skills with namespace, kind and tag filters', async () => {
    const all = json<{ skills: { id: string; requires_approval: boolean }[] }>(
      await h.api.inject({ url: '/v1/skills?namespace=test&kind=tool' }),
    ).skills;
    expect(all.map((s) => s.id)).toContain('test/echo');
    const tagged = json<{ skills: { id: string; requires_approval: boolean }[] }>(
      await h.api.inject({ url: '/v1/skills?tag=destructive' }),
    ).skills;
    expect(tagged.map((s) => s.id)).toEqual(['test/danger']);
    expect(tagged[0]!.requires_approval).toBe(true);
    const none = await h.api.inject({ url: '/v1/skills?namespace=nothing' });
    expect(json<{ skills: unknown[] }>(none).skills).toEqual([]);
  });

  it('gets one skill by percent-encoded id, with @version or a range; 404 when unknown', async () => {
    for (const ref of ['test/echo', 'test/echo@1.0.0', 'test/echo@^1', 'test__echo']) {
      const res = await h.api.inject({ url: `/v1/skills/${encodeURIComponent(ref)}` });
      expect(res.statusCode, ref).toBe(200);
      expect(json(res)).toMatchObject({ id: 'test/echo', version: '1.0.0', versions: ['1.0.0'] });
    }
    const missing = await h.api.inject({ url: `/v1/skills/${encodeURIComponent('test/echo@2.0.0')}` });
    expect(missing.statusCode).toBe(404);
    expect(json(missing)).toMatchObject({ code: 'not_found' });
  });
});

describe('POST /v1/skills/{id}/execute', () => {
  const exec = (id: string, payload: Record<string, unknown>, headers: Record<string, string> = {}) =>
    h.api.inject({ method: 'POST', url: `/v1/skills/${encodeURIComponent(id)}/execute`, payload, headers });

  it('runs a skill and answers with its output and Opta fields', async () => {
    const res = await exec('test/echo', { input: { hello: 'world' } });
    expect(res.statusCode).toBe(200);
    expect(json(res)).toMatchObject({
      skill: 'test/echo@1.0.0',
      ok: true,
      error: null,
      timed_out: false,
      denied: false,
      requires_approval: false,
      output: { echo: { hello: 'world' } },
    });
    expect(typeof json(res).duration_ms).toBe('number');
  });

  it('answers 400 input_invalid with the issues for input that breaks the schema', async () => {
    const res = await exec('test/record', { input: { nope: 1 } });
    expect(res.statusCode).toBe(400);
    expect(json(res)).toMatchObject({ code: 'input_invalid', ok: false });
  });

  it('answers 403 approval_required for a risk-tagged skill without approval', async () => {
    const res = await exec('test/danger', { input: { label: 'x' } });
    expect(res.statusCode).toBe(403);
    expect(json(res)).toMatchObject({
      code: 'approval_required',
      ok: false,
      denied: true,
      requires_approval: true,
      risk_tags: ['destructive'],
    });
  });

  it('runs a risk-tagged skill with an approval and the audit trail records who approved', async () => {
    const res = await exec(
      'test/danger',
      { input: { label: 'approved-run' }, approval: { approved: true, reason: 'ticket 42' } },
      { 'x-user-id': 'erin' },
    );
    expect(res.statusCode).toBe(200);
    expect(json(res)).toMatchObject({ ok: true, approved_by: 'erin', requires_approval: true });
    const audit = (await h.store.listAudit({ action: 'skill.execute', target: 'test/danger@1.0.0' })).entries;
    expect(audit[0]).toMatchObject({
      principal: 'erin',
      data: expect.objectContaining({
        ok: true,
        approved_by: 'erin',
        approval_reason: 'ticket 42',
      }) as unknown,
    });
  });

  it("accepts Opta's body: arguments as a JSON string, approved, timeout_sec", async () => {
    const res = await exec('test/danger', { arguments: '{"label":"opta"}', approved: true, timeout_sec: 30 });
    expect(res.statusCode).toBe(200);
    expect(json(res)).toMatchObject({ ok: true, output: { recorded: 'opta' } });
    const obj = await exec('test/echo', { arguments: { a: 1 } });
    expect(json(obj)).toMatchObject({ ok: true, output: { echo: { a: 1 } } });
    const broken = await exec('test/echo', { arguments: '{not json' });
    expect(broken.statusCode).toBe(400);
  });

  it('answers 504 timeout with timed_out when timeout_sec passes', async () => {
    const res = await exec('test/slow', { arguments: { ms: 5000 }, timeout_sec: 0.2 });
    expect(res.statusCode).toBe(504);
    expect(json(res)).toMatchObject({ code: 'timeout', ok: false, timed_out: true });
  });

  it('answers 404 for an unknown skill and 400 for an unknown body field', async () => {
    expect((await exec('test/nothing', { input: {} })).statusCode).toBe(404);
    const bad = await exec('test/echo', { input: {}, extra: true });
    expect(bad.statusCode).toBe(400);
    expect(json<{ issues: { path: string }[] }>(bad).issues[0]!.path).toBe('extra');
  });

  it('reloads the skill folders', async () => {
    const res = await h.api.inject({ method: 'POST', url: '/v1/skills/reload' });
    expect(res.statusCode).toBe(200);
    expect(json<{ skills: number }>(res).skills).toBeGreaterThan(3);
  });
});
