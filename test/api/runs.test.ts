import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, startApi, type ApiHarness } from './helpers.js';

let h: ApiHarness;
beforeAll(async () => {
  h = await startApi({ config: { agents: { max_parallel_agents: 2, max_queued_runs: 3 } } });
});
afterAll(async () => {
  await h.close();
});

interface RunBody {
  id: string;
  status: string;
  agent: string;
  priority: string;
  principal: string | null;
  result: { output?: unknown; roles?: Record<string, string> } | null;
  links: { self: string; events: string; cancel: string };
  steps?: { seq: number; order: number; role: string; kind: string }[];
  usage: { input_tokens: number; output_tokens: number; cost_usd: number; steps: number };
  tokens_used: number;
  estimated_cost_usd: number;
  checkpoint: number;
  checkpoint_pointer: number;
  metadata: Record<string, unknown>;
  traceparent: string;
  trace_id: string;
}

const create = (payload: unknown, opts: { query?: string; headers?: Record<string, string> } = {}) =>
  h.api.inject({
    method: 'POST',
    url: `/v1/agents/runs${opts.query ?? ''}`,
    payload: payload as Record<string, unknown>,
    ...(opts.headers === undefined ? {} : { headers: opts.headers }),
  });

describe('POST /v1/agents/runs', () => {
  it('answers 202 with the run, its status and links', async () => {
    const res = await create({ agent: 'assistant', input: 'hello' });
    expect(res.statusCode).toBe(202);
    const run = json<RunBody>(res);
    expect(run.id).toMatch(/^run_/);
    expect(['queued', 'running', 'completed']).toContain(run.status);
    expect(run.links.self).toBe(`/v1/agents/runs/${run.id}`);
    expect(run.links.events).toBe(`/v1/agents/runs/${run.id}/events`);
    expect(res.headers.location).toBe(run.links.self);
    await h.app.runtime.wait(run.id, { timeoutMs: 5_000 });
  });

  it('answers 200 with the finished run, steps and usage under ?wait', async () => {
    const res = await create({ agent: 'assistant', input: 'hi there' }, { query: '?wait=10' });
    expect(res.statusCode).toBe(200);
    const run = json<RunBody>(res);
    expect(run.status).toBe('completed');
    expect(run.result?.output).toBe('echo: hi there');
    expect(run.usage.input_tokens).toBeGreaterThan(0);
    expect(run.tokens_used).toBe(run.usage.input_tokens + run.usage.output_tokens);
    expect(run.estimated_cost_usd).toBe(run.usage.cost_usd);
    expect(run.checkpoint_pointer).toBe(run.checkpoint);
    expect(run.steps?.length).toBeGreaterThan(0);
  });

  it('answers 202 under ?wait when the run has not settled in time', async () => {
    const res = await create({ agent: 'assistant', input: 'sleep 600' }, { query: '?wait=0.1' });
    expect(res.statusCode).toBe(202);
    const run = json<RunBody>(res);
    expect(['queued', 'running']).toContain(run.status);
    await h.app.runtime.wait(run.id, { timeoutMs: 5_000 });
  });

  it('returns the same run for the same Idempotency-Key and body, 409 for another body', async () => {
    const headers = { 'idempotency-key': 'key-123' };
    const a = await create({ agent: 'assistant', input: 'once' }, { headers });
    const b = await create({ agent: 'assistant', input: 'once' }, { headers });
    expect(a.statusCode).toBe(202);
    expect(b.statusCode).toBe(202);
    expect(json<RunBody>(b).id).toBe(json<RunBody>(a).id);
    expect(b.headers['idempotent-replayed']).toBe('true');
    const c = await create({ agent: 'assistant', input: 'another body' }, { headers });
    expect(c.statusCode).toBe(409);
    expect(json(c)).toMatchObject({ code: 'idempotency_conflict', status: 409 });
    // The body field works as well.
    const d = await create({ agent: 'assistant', input: 'via body', idempotency_key: 'key-456' });
    const e = await create({ agent: 'assistant', input: 'via body', idempotency_key: 'key-456' });
    expect(json<RunBody>(e).id).toBe(json<RunBody>(d).id);
    await h.app.runtime.wait(json<RunBody>(a).id, { timeoutMs: 5_000 });
    await h.app.runtime.wait(json<RunBody>(d).id, { timeoutMs: 5_000 });
  });

  it('rejects an unknown field with its path (400 invalid_request, problem+json)', async () => {
    const res = await create({ agent: 'assistant', input: 'x', options: { fail_fast: true, bogus: 1 } });
    expect(res.statusCode).toBe(400);
    expect(res.headers['content-type']).toContain('application/problem+json');
    const p = json<{ code: string; issues: { path: string }[] }>(res);
    expect(p.code).toBe('invalid_request');
    expect(p.issues.map((i) => i.path)).toContain('options.bogus');
    const top = await create({ agent: 'assistant', input: 'x', colour: 'red' });
    expect(json<{ issues: { path: string }[] }>(top).issues[0]!.path).toBe('colour');
  });

  it('answers 400 unknown_agent for an agent that does not exist', async () => {
    const res = await create({ agent: 'nobody', input: 'x' });
    expect(res.statusCode).toBe(400);
    expect(json(res)).toMatchObject({ code: 'unknown_agent' });
  });

  it('answers 429 with Retry-After, size and capacity when the queue is full', async () => {
    const ids: string[] = [];
    let full: Awaited<ReturnType<typeof create>> | undefined;
    for (let i = 0; i < 10 && full === undefined; i++) {
      const res = await create({ agent: 'assistant', input: 'sleep 400', priority: 'batch' });
      if (res.statusCode === 429) full = res;
      else ids.push(json<RunBody>(res).id);
    }
    expect(full).toBeDefined();
    expect(Number(full!.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    expect(json(full!)).toMatchObject({ code: 'queue_full', status: 429, capacity: 3 });
    expect(typeof json(full!).size).toBe('number');
    for (const id of ids) await h.app.runtime.cancel(id);
  });

  it('takes the principal from x-user-id and the priority from x-priority when auth is open', async () => {
    const res = await create(
      { agent: 'assistant', input: 'who' },
      { headers: { 'x-user-id': 'carol', 'x-priority': 'interactive' } },
    );
    const run = json<RunBody>(res);
    expect(run.principal).toBe('carol');
    expect(run.priority).toBe('interactive');
    await h.app.runtime.wait(run.id, { timeoutMs: 5_000 });
  });

  it('honours an inbound traceparent', async () => {
    const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
    const res = await create(
      { agent: 'assistant', input: 'traced' },
      { headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01` } },
    );
    const run = json<RunBody>(res);
    expect(run.trace_id).toBe(traceId);
    await h.app.runtime.wait(run.id, { timeoutMs: 5_000 });
  });
});

describe('Opta-LMX bodies', () => {
  it('runs {request: {strategy: parallel_map, prompt, roles}} and returns {role: output}', async () => {
    const res = await create(
      {
        request: {
          strategy: 'parallel_map',
          prompt: 'review this',
          roles: ['writer', 'critic'],
          role_system_prompts: { writer: 'ROLE writer', critic: 'ROLE critic' },
          priority: 'high',
          timeout_sec: 60,
          token_budget: 100_000,
          approval_required: false,
          metadata: { ticket: 7 },
        },
      },
      { query: '?wait=10' },
    );
    expect(res.statusCode).toBe(200);
    const run = json<RunBody>(res);
    expect(run.status).toBe('completed');
    expect(run.priority).toBe('interactive');
    expect(run.metadata).toMatchObject({ ticket: 7 });
    // Every role ran on the prompt, with its own system prompt, and the result maps role → output.
    // Opta's shape: the result is the role map itself (ours in result_detail).
    expect(run.result as unknown).toEqual({
      writer: expect.stringContaining('review this'),
      critic: expect.stringContaining('review this'),
    });
    const systems = h.server.requests.map((r) => r.body.messages[0]?.content);
    expect(systems).toEqual(expect.arrayContaining(['ROLE writer', 'ROLE critic']));
    expect(run.steps!.every((s) => s.order === s.seq)).toBe(true);
    expect(run.steps!.map((s) => s.role)).toEqual(expect.arrayContaining(['writer', 'critic']));
  });

  it('runs the legacy {agent, input: {strategy, message, roles}} shape as a role chain', async () => {
    const res = await create(
      {
        agent: 'assistant',
        input: { strategy: 'handoff', message: 'draft it', roles: ['writer', 'critic'] },
      },
      { query: '?wait=10' },
    );
    expect(res.statusCode).toBe(200);
    const run = json<RunBody>(res);
    expect(run.status).toBe('completed');
    // The critic received the writer's output.
    expect(JSON.stringify(run.result)).toContain('echo: echo: draft it');
  });

  it('runs a legacy single-agent body', async () => {
    const res = await create({ agent: 'assistant', input: { prompt: 'solo' } }, { query: '?wait=10' });
    // Opta's shape: a single role's result is its final text (ours in result_detail).
    expect(json<RunBody>(res).result as unknown).toBe('echo: solo');
  });

  it('names the field of the Opta shape in validation errors', async () => {
    const res = await create({ request: { prompt: 'x', roles: ['writer'], colour: 1 } });
    expect(res.statusCode).toBe(400);
    expect(json<{ issues: { path: string }[] }>(res).issues[0]!.path).toBe('request.colour');
    const missing = await create({ request: { roles: ['writer'] } });
    expect(json<{ issues: { path: string }[] }>(missing).issues[0]!.path).toBe('request.prompt');
  });
});

describe('GET /v1/agents/runs', () => {
  it('filters by status, agent and priority, newest first, with cursor pagination', async () => {
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      const res = await create(
        { agent: 'writer', input: `page ${i}`, priority: 'batch' },
        { query: '?wait=10' },
      );
      made.push(json<RunBody>(res).id);
    }
    const first = await h.api.inject({
      url: '/v1/agents/runs?agent=writer&priority=batch&status=completed&limit=2',
    });
    expect(first.statusCode).toBe(200);
    const p1 = json<{ runs: RunBody[]; next_cursor: string | null }>(first);
    expect(p1.runs.map((r) => r.id)).toEqual([made[2], made[1]]);
    expect(p1.next_cursor).not.toBeNull();
    const second = await h.api.inject({
      url: `/v1/agents/runs?agent=writer&priority=batch&status=completed&limit=2&cursor=${encodeURIComponent(p1.next_cursor!)}`,
    });
    const p2 = json<{ runs: RunBody[]; next_cursor: string | null }>(second);
    expect(p2.runs.map((r) => r.id)).toEqual([made[0]]);
    expect(p2.next_cursor).toBeNull();
  });

  it('accepts several statuses and created_after, and refuses an unknown status', async () => {
    const res = await h.api.inject({ url: '/v1/agents/runs?status=completed,failed&limit=500' });
    expect(res.statusCode, res.body).toBe(200);
    const runs = json<{ runs: RunBody[] }>(res).runs;
    expect(runs.every((r) => ['completed', 'failed'].includes(r.status))).toBe(true);
    const future = await h.api.inject({
      url: `/v1/agents/runs?created_after=${new Date(Date.now() + 60_000).toISOString()}`,
    });
    expect(json<{ runs: RunBody[] }>(future).runs).toEqual([]);
    const bad = await h.api.inject({ url: '/v1/agents/runs?status=sleeping' });
    expect(bad.statusCode).toBe(400);
    expect(json(bad)).toMatchObject({ code: 'invalid_request' });
  });
});

describe('GET /v1/agents/runs/{id} and cancel', () => {
  it('returns one run with steps (role, order) and usage; 404 for an unknown id', async () => {
    const created = json<RunBody>(
      await create({ agent: 'assistant', input: 'detail' }, { query: '?wait=10' }),
    );
    const res = await h.api.inject({ url: `/v1/agents/runs/${created.id}` });
    expect(res.statusCode).toBe(200);
    const run = json<RunBody>(res);
    expect(run.steps![0]).toMatchObject({ order: run.steps![0]!.seq, role: 'assistant' });
    expect(run.usage.steps).toBeGreaterThan(0);
    const missing = await h.api.inject({ url: '/v1/agents/runs/run_nope' });
    expect(missing.statusCode).toBe(404);
    expect(json(missing)).toMatchObject({ code: 'not_found', status: 404 });
  });

  it('cancels a running run (200), again (200), and refuses a completed one (409 already_terminal)', async () => {
    const run = json<RunBody>(await create({ agent: 'assistant', input: 'sleep 5000' }));
    const first = await h.api.inject({ method: 'POST', url: `/v1/agents/runs/${run.id}/cancel` });
    expect(first.statusCode).toBe(200);
    expect(json<RunBody>(first).status).toBe('cancelled');
    const again = await h.api.inject({ method: 'POST', url: `/v1/agents/runs/${run.id}/cancel` });
    expect(again.statusCode).toBe(200);
    const done = json<RunBody>(await create({ agent: 'assistant', input: 'finish' }, { query: '?wait=10' }));
    const late = await h.api.inject({ method: 'POST', url: `/v1/agents/runs/${done.id}/cancel` });
    expect(late.statusCode).toBe(409);
    expect(json(late)).toMatchObject({ code: 'already_terminal' });
  });
});
