/**
 * Opta-LMX's clients against the real, listening server: the request bodies, headers and query
 * strings of Opta's own API tests (tests/test_agents_api.py, test_skills_api.py,
 * test_agents_fault_injection.py), of its CLI (1D-Opta-CLI-TS/src/lmx/client.ts) and of its
 * dashboard (1L-Opta-LMX-Dashboard/hooks/use-agents.ts), each answer read the way that client reads
 * it. Beside each case, the Opta test or client function it mirrors.
 *
 * The model mirrors Opta's test engine (tests/test_agents_api.py::FakeEngine): an agent whose
 * instructions are "You are acting as the <role> agent." answers `<role>:<input>`; `sleep:N`
 * answers after N ms; `fail` answers HTTP 500.
 */
import { Writable } from 'node:stream';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SkillplaneClient } from '../../src/client/index.js';
import type { AgentDefinition } from '../../src/config/index.js';
import { until, type Script } from '../../src/testing/index.js';
import type { ApiHarness } from '../api/helpers.js';
import { startOptaApi } from './opta-fixtures.js';

const ROLES = ['demo', 'slow', 'planner', 'coder', 'researcher', 'reviewer'];
const optaAgents: Partial<AgentDefinition>[] = ROLES.map((name) => ({
  name,
  instructions: `You are acting as the ${name} agent.`,
}));

/** Opta's FakeEngine: `<role>:<input>` from the system prompt and the last user message. */
const fakeEngine: Script = ({ body }) => {
  let role = 'assistant';
  let input = '';
  for (const m of body.messages) {
    const text = typeof m.content === 'string' ? m.content : '';
    const found = /^You are acting as the (.+) agent\.$/.exec(text);
    if (m.role === 'system' && found !== null) role = found[1]!;
    if (m.role === 'user') input = text;
  }
  if (input === 'fail') return { status: 500, error: 'engine exploded' };
  const sleep = /^sleep:(\d+)$/.exec(input);
  return { content: `${role}:${input}`, ...(sleep === null ? {} : { delay_ms: Number(sleep[1]) }) };
};

/** What Opta's CLI types say a run is (types.ts `LmxAgentRunResult`). */
interface OptaRun {
  object?: string;
  id: string;
  status: string;
  request?: Record<string, unknown> & { metadata?: Record<string, unknown> };
  steps?: { id?: string; role?: string; status?: string; error?: string | null }[];
  result?: unknown;
  output?: unknown;
  error?: string | null;
}
interface OptaList<T> {
  object?: string;
  data: T[];
  total: number;
}
/** Opta's error body (`_agent_error`): `{error: {message, type, code}}`; FastAPI's 400 is `{detail}`. */
interface OptaError {
  error: { message: string; type: string; code: string };
  detail: string;
}

interface Server {
  h: ApiHarness;
  base: string;
}

async function listen(opts: Parameters<typeof startOptaApi>[0]): Promise<Server> {
  const h = await startOptaApi({ agents: optaAgents, script: fakeEngine, ...opts });
  await h.api.listen({ host: '127.0.0.1', port: 0 });
  const { port } = h.api.server.address() as AddressInfo;
  return { h, base: `http://127.0.0.1:${port}` };
}

/** A JSON request as Opta's clients send it; the answer's status, headers and parsed body. */
async function send<T>(
  s: Server,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Headers; body: T }> {
  const res = await fetch(`${s.base}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const text = await res.text();
  return {
    status: res.status,
    headers: res.headers,
    body: (text === '' ? undefined : JSON.parse(text)) as T,
  };
}

/** Polls the run as Opta's test does (`for _ in range(50): GET …`) until `done` holds. */
async function pollRun(s: Server, id: string, done: (r: OptaRun) => boolean): Promise<OptaRun> {
  let last: OptaRun | undefined;
  await until(async () => {
    const res = await send<OptaRun>(s, 'GET', `/v1/agents/runs/${id}`);
    expect(res.status).toBe(200);
    last = res.body;
    return done(last);
  }, 10_000);
  return last!;
}
const settled = (r: OptaRun) => ['completed', 'failed', 'cancelled'].includes(r.status);

/** The `event:` names of a stream up to `data: [DONE]`, read line by line like Opta's test. */
async function eventNames(url: string, headers: Record<string, string> = {}): Promise<string[]> {
  const res = await fetch(url, { headers: { accept: 'text/event-stream', ...headers } });
  expect(res.status).toBe(200);
  const names: string[] = [];
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.startsWith('event: ')) names.push(line.slice('event: '.length).trim());
      if (line.trim() === 'data: [DONE]') {
        await reader.cancel();
        return names;
      }
    }
  }
  throw new Error(`stream ended without data: [DONE] after ${names.join(', ')}`);
}

const handoff = (prompt: string, roles = ['planner'], extra: Record<string, unknown> = {}) => ({
  request: { strategy: 'handoff', prompt, roles, ...extra },
});

describe('Opta-LMX clients on a server with api.compat: opta-lmx', () => {
  let s: Server;
  beforeAll(async () => {
    s = await listen({
      config: {
        api: { compat: 'opta-lmx' },
        agents: { max_steps_per_run: 5 },
        models: { default: { aliases: ['qwen2.5-coder', 'llama3.1:8b'] } },
      },
    });
  }, 60_000);
  afterAll(async () => {
    await s?.h.close();
  });

  // tests/test_agents_api.py::test_create_get_and_list_agent_runs
  it('creates a run (201), reads its result as text and finds it in the list’s data', async () => {
    const created = await send<OptaRun>(s, 'POST', '/v1/agents/runs', handoff('hello', ['demo']));
    expect(created.status).toBe(201);
    const run = await pollRun(s, created.body.id, (r) => r.status === 'completed');
    expect(run.result).toBe('demo:hello');
    expect(run.output).toBe('demo:hello');
    const list = await send<OptaList<OptaRun>>(s, 'GET', '/v1/agents/runs');
    expect(list.status).toBe(200);
    expect(list.body.data.map((r) => r.id)).toContain(created.body.id);
  });

  // tests/test_agents_api.py::test_cancel_agent_run (a POST without a body)
  it('cancels a running run: 200 with status cancelled, and it stays cancelled', async () => {
    const created = await send<OptaRun>(s, 'POST', '/v1/agents/runs', handoff('sleep:30000', ['slow']));
    await until(() => s.h.server.requests.some((r) => JSON.stringify(r.body).includes('sleep:30000')), 5_000);
    const cancel = await send<OptaRun>(s, 'POST', `/v1/agents/runs/${created.body.id}/cancel`);
    expect(cancel.status).toBe(200);
    expect(cancel.body.status).toBe('cancelled');
    const got = await send<OptaRun>(s, 'GET', `/v1/agents/runs/${created.body.id}`);
    expect(got.body.status).toBe('cancelled');
  });

  // 1D-Opta-CLI-TS/src/lmx/client.ts::cancelAgentRun (`{method: 'POST'}` with the client's
  // `Content-Type: application/json` on every request and no body)
  it('cancels a run for the CLI, whose POST carries Content-Type: application/json and no body', async () => {
    const created = await send<OptaRun>(s, 'POST', '/v1/agents/runs', handoff('sleep:30000', ['slow']));
    const res = await fetch(`${s.base}/v1/agents/runs/${created.body.id}/cancel`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as OptaRun).status).toBe('cancelled');
  });

  // tests/test_agents_api.py::test_get_unknown_agent_run_returns_404
  it('answers 404 for an unknown run id', async () => {
    expect((await send(s, 'GET', '/v1/agents/runs/run_missing')).status).toBe(404);
  });

  // tests/test_agents_api.py::test_create_agent_run_accepts_trace_and_audit_headers
  it('echoes traceparent, tracestate, x-priority and x-user-id in the run’s request', async () => {
    const res = await send<OptaRun>(s, 'POST', '/v1/agents/runs', handoff('trace test'), {
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
      'x-priority': 'interactive',
      'x-user-id': 'qa-user',
    });
    expect(res.status).toBe(201);
    expect(res.body.request).toMatchObject({
      traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01',
      tracestate: 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
      priority: 'interactive',
      submitted_by: 'qa-user',
    });
  });

  // tests/test_agents_api.py::test_create_agent_run_rejects_invalid_traceparent — different on
  // purpose: W3C Trace Context says an invalid traceparent is ignored (a new trace starts).
  it('ignores an invalid traceparent (Opta answers 400) and runs in a new trace', async () => {
    const res = await send<OptaRun & { trace_id: string }>(
      s,
      'POST',
      '/v1/agents/runs',
      handoff('bad trace'),
      { traceparent: 'invalid' },
    );
    expect(res.status).toBe(201);
    expect(res.body.trace_id).toMatch(/^[0-9a-f]{32}$/);
    expect(res.body.request?.traceparent).toBeNull();
  });

  // tests/test_agents_api.py::test_create_agent_run_supports_idempotency_key
  it('answers the same run for the same Idempotency-Key and body', async () => {
    const body = handoff('idempotent');
    const first = await send<OptaRun>(s, 'POST', '/v1/agents/runs', body, { 'Idempotency-Key': 'same-key' });
    const second = await send<OptaRun>(s, 'POST', '/v1/agents/runs', body, { 'Idempotency-Key': 'same-key' });
    expect([first.status, second.status]).toEqual([201, 201]);
    expect(second.body.id).toBe(first.body.id);
  });

  // tests/test_agents_api.py::test_create_agent_run_rejects_idempotency_reuse_with_different_payload
  it('refuses the key reused with another body: 409, error.code idempotency_conflict', async () => {
    const headers = { 'Idempotency-Key': 'conflict-key' };
    expect((await send(s, 'POST', '/v1/agents/runs', handoff('first'), headers)).status).toBe(201);
    const second = await send<OptaError>(s, 'POST', '/v1/agents/runs', handoff('second'), headers);
    expect(second.status).toBe(409);
    expect(second.body.error.code).toBe('idempotency_conflict');
  });

  // tests/test_agents_api.py::test_stream_agent_run_events_endpoint
  it('streams run.update and run.completed, then data: [DONE]', async () => {
    const created = await send<OptaRun>(s, 'POST', '/v1/agents/runs', handoff('events'));
    expect(created.status).toBe(201);
    const names = await eventNames(`${s.base}/v1/agents/runs/${created.body.id}/events`);
    expect(names).toContain('run.update');
    expect(names).toContain('run.completed');
  });

  // tests/test_agents_fault_injection.py::test_max_steps_per_run_enforced (10 roles over 5)
  it('refuses at submission a run with more roles than max_steps_per_run, naming both numbers', async () => {
    const before = s.h.server.requests.length;
    const res = await send<OptaError>(
      s,
      'POST',
      '/v1/agents/runs',
      handoff(
        'too many roles',
        Array.from({ length: 10 }, (_, i) => `role-${i}`),
      ),
    );
    expect(res.status).toBe(400);
    expect(res.body.detail).toContain('10');
    expect(res.body.detail).toContain('5');
    expect(res.body.error.code).toBe('plan_exceeds_max_steps');
    const listed = await send<OptaList<OptaRun>>(s, 'GET', '/v1/agents/runs?limit=100');
    expect(listed.body.data.some((r) => r.request?.prompt === 'too many roles')).toBe(false);
    expect(s.h.server.requests.length).toBe(before);
  });

  // Opta's graph (src/opta_lmx/agents/graph.py): handoff chains each role's output into the next
  it('chains a handoff’s roles and answers the last role’s text', async () => {
    const created = await send<OptaRun>(s, 'POST', '/v1/agents/runs', handoff('hello', ['planner', 'coder']));
    const run = await pollRun(s, created.body.id, settled);
    expect(run.status).toBe('completed');
    expect(run.result).toBe('coder:planner:hello');
    expect(run.steps?.map((st) => [st.role, st.status])).toEqual([
      ['planner', 'completed'],
      ['coder', 'completed'],
    ]);
  });

  // 1L-Opta-LMX-Dashboard and the CLI read a parallel_map result keyed by role
  it('answers a parallel_map result as an object keyed exactly by role', async () => {
    const created = await send<OptaRun>(s, 'POST', '/v1/agents/runs', {
      request: { strategy: 'parallel_map', prompt: 'p', roles: ['researcher', 'reviewer'] },
    });
    const run = await pollRun(s, created.body.id, settled);
    expect(run.result).toEqual({ researcher: 'researcher:p', reviewer: 'reviewer:p' });
  });

  // 1D-Opta-CLI-TS/src/lmx/client.ts::createAgentRun (its legacy `{agent, input, metadata}` body)
  it('takes the CLI’s legacy body and merges its top-level metadata over the input’s', async () => {
    const created = await send<OptaRun>(s, 'POST', '/v1/agents/runs', {
      agent: 'planner',
      input: { prompt: 'legacy', metadata: { source: 'input', ticket: 7 } },
      metadata: { source: 'cli' },
    });
    expect(created.status).toBe(201);
    expect(created.body.request?.metadata).toEqual({ source: 'cli', ticket: 7 });
    const run = await pollRun(s, created.body.id, settled);
    expect(run.result).toBe('planner:legacy');
  });

  // src/opta_lmx/api/agents.py::_build_request (top-level metadata beside `request` wins)
  it('accepts a top-level metadata beside request; its keys win', async () => {
    const created = await send<OptaRun>(s, 'POST', '/v1/agents/runs', {
      ...handoff('meta', ['demo'], { metadata: { a: 1, b: 1 } }),
      metadata: { b: 2 },
    });
    expect(created.status).toBe(201);
    expect(created.body.request?.metadata).toEqual({ a: 1, b: 2 });
  });

  // 1D-Opta-CLI-TS/src/lmx/client.ts::agentRuns ({limit, offset, status})
  it('pages the list with limit, offset and status, with the total of the filter', async () => {
    // Runs of earlier cases may still be settling; the totals compared below must hold still.
    await until(async () => {
      const active = await send<OptaList<OptaRun>>(s, 'GET', '/v1/agents/runs?status=queued,running&limit=1');
      return active.body.total === 0;
    }, 10_000);
    const all = await send<OptaList<OptaRun>>(s, 'GET', '/v1/agents/runs?status=completed&limit=100');
    expect(all.body.total).toBeGreaterThanOrEqual(2);
    expect(all.body.data.every((r) => r.status === 'completed')).toBe(true);
    const page = await send<OptaList<OptaRun>>(s, 'GET', '/v1/agents/runs?limit=1&offset=1&status=completed');
    expect(page.status).toBe(200);
    expect(page.body.object).toBe('list');
    expect(page.body.total).toBe(all.body.total);
    expect(page.body.data.map((r) => r.id)).toEqual([all.body.data[1]!.id]);
  });

  // 1D-Opta-CLI-TS/src/lmx/types.ts::LmxAgentRunResult (`error?: string | null`, steps alike)
  it('answers a failed run’s error, and its step’s, as text', async () => {
    const created = await send<OptaRun>(s, 'POST', '/v1/agents/runs', handoff('fail', ['demo']));
    const run = await pollRun(s, created.body.id, settled);
    expect(run.status).toBe('failed');
    expect(typeof run.error).toBe('string');
    expect(run.error).toMatch(/500|engine exploded/);
    expect(run.steps?.some((st) => typeof st.error === 'string')).toBe(true);
  });

  // LmxAgentRunRequest.model and role_models: Opta model ids, mapped by models.<backend>.aliases
  it('serves Opta model ids in model and role_models through the backend’s aliases', async () => {
    const from = s.h.server.requests.length;
    const created = await send<OptaRun>(s, 'POST', '/v1/agents/runs', {
      request: {
        strategy: 'handoff',
        prompt: 'aliased',
        roles: ['planner', 'coder'],
        model: 'qwen2.5-coder',
        role_models: { coder: 'llama3.1:8b' },
      },
    });
    expect(created.status).toBe(201);
    const run = await pollRun(s, created.body.id, settled);
    expect(run.status).toBe('completed');
    const sent = s.h.server.requests.slice(from).map((r) => r.body.model);
    expect(sent).toEqual(['test-model', 'test-model']);
    const unknown = await send<OptaError>(
      s,
      'POST',
      '/v1/agents/runs',
      handoff('x', ['demo'], { model: 'gpt-9' }),
    );
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('unknown_model');
  });

  // tests/test_skills_api.py::test_list_and_get_skills (bare names, `data`)
  it('lists skills under data with name, namespace and reference; gets one by bare name', async () => {
    const list = await send<OptaList<{ name: string; namespace: string; reference: string }>>(
      s,
      'GET',
      '/v1/skills',
    );
    expect(list.status).toBe(200);
    const names = new Set(list.body.data.map((sk) => sk.name));
    for (const n of ['echo', 'add', 'planner']) expect(names).toContain(n);
    const echo = await send<{ name: string }>(s, 'GET', '/v1/skills/echo');
    expect(echo.status).toBe(200);
    expect(echo.body.name).toBe('echo');
  });

  // 1D-Opta-CLI-TS/src/lmx/client.ts::skillsList({latestOnly: true})
  it('takes latest_only on the skill list', async () => {
    const list = await send<OptaList<{ reference: string }>>(s, 'GET', '/v1/skills?latest_only=true');
    expect(list.status).toBe(200);
    expect(list.body.data.map((sk) => sk.reference)).toContain('openclaw/planner@2.0.0');
  });

  // tests/test_skills_api.py::test_get_namespaced_skill_reference
  it('gets a namespaced skill by its reference', async () => {
    const res = await send<{ namespace: string; reference: string }>(
      s,
      'GET',
      '/v1/skills/openclaw/planner@2.0.0',
    );
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ namespace: 'openclaw', reference: 'openclaw/planner@2.0.0' });
  });

  // tests/test_skills_api.py::test_execute_skill
  it('executes a skill by bare name', async () => {
    const res = await send<{ ok: boolean; output: { sum: number } }>(s, 'POST', '/v1/skills/add/execute', {
      arguments: { left: 2, right: 5 },
    });
    expect(res.status).toBe(200);
    expect(res.body.ok).toBe(true);
    expect(res.body.output.sum).toBe(7);
  });

  // tests/test_skills_api.py::test_execute_skill_rejects_invalid_arguments
  it('refuses arguments that break the schema: 400, error.code invalid_arguments', async () => {
    const res = await send<OptaError>(s, 'POST', '/v1/skills/echo/execute', { arguments: { topic: 42 } });
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('invalid_arguments');
  });

  // tests/test_skills_api.py::test_openclaw_invoke_shim
  it('invokes a skill by bare name on the OpenClaw shim, arguments as a JSON string', async () => {
    const res = await send<{ ok: boolean; result: { sum: number } }>(
      s,
      'POST',
      '/v1/skills/openclaw/invoke',
      {
        tool: 'add',
        arguments: '{"left":3,"right":4}',
      },
    );
    expect(res.status).toBe(200);
    expect(res.body.ok).toBe(true);
    expect(res.body.result.sum).toBe(7);
  });

  // tests/test_skills_api.py::test_missing_skill_returns_404
  it('answers 404 for an unknown skill on detail and execute', async () => {
    expect((await send(s, 'GET', '/v1/skills/missing')).status).toBe(404);
    expect((await send(s, 'POST', '/v1/skills/missing/execute', { arguments: {} })).status).toBe(404);
  });

  // Our own typed client against the same server keeps our shapes.
  it('keeps our shapes for our own client: error and result as objects, events without Opta’s frames', async () => {
    const client = new SkillplaneClient({ baseUrl: s.base });
    const failed = await client.createRun({ agent: 'demo', input: 'fail' });
    const run = await client.waitForRun(failed.id, { timeoutMs: 10_000 });
    expect(run.status).toBe('failed');
    expect(run.error).toMatchObject({ code: expect.any(String), message: expect.any(String) });
    const ok = await client.createRun({ agent: 'demo', input: 'ours' });
    const types: string[] = [];
    for await (const e of client.events(ok.id)) types.push(e.type);
    expect(types[0]).toBe('run.created');
    expect(types[types.length - 1]).toBe('run.completed');
    expect(types.filter((t) => t === 'run.completed')).toHaveLength(1);
    const done = await client.getRun(ok.id);
    expect(done.result).toMatchObject({ output: 'demo:ours' });
  });
});

describe('Opta-LMX clients on a server with keys (api.compat: opta-lmx)', () => {
  const KEY = 'opta-admin-key-0123456789abcdef';
  const lines: string[] = [];
  let s: Server;
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        lines.push(chunk.toString());
        done();
      },
    });
    s = await listen({
      config: {
        api: { compat: 'opta-lmx' },
        auth: { keys: [{ principal: 'opta-admin', key: KEY, scopes: ['admin'] }] },
      },
      server: { logger: pino({ level: 'info' }, sink) },
    });
  }, 60_000);
  afterAll(async () => {
    await s?.h.close();
  });

  // 1D-Opta-CLI-TS/src/lmx/client.ts (constructor: Authorization and X-Api-Key; fetch: X-Admin-Key)
  it('takes the CLI’s keys: Bearer with X-Api-Key, or X-Admin-Key alone; refuses none', async () => {
    const json = { 'Content-Type': 'application/json' };
    expect(
      (
        await send(s, 'GET', '/v1/agents/runs', undefined, {
          ...json,
          Authorization: `Bearer ${KEY}`,
          'X-Api-Key': KEY,
        })
      ).status,
    ).toBe(200);
    expect((await send(s, 'GET', '/v1/agents/runs', undefined, { ...json, 'X-Admin-Key': KEY })).status).toBe(
      200,
    );
    expect((await send(s, 'GET', '/v1/agents/runs', undefined, json)).status).toBe(401);
  });

  // 1L-Opta-LMX-Dashboard/hooks/use-agents.ts::useAgentRunEvents (EventSource with ?admin_key=;
  // named run.update / run.completed events; a `[DONE]` message ends it)
  it('streams to the dashboard’s EventSource URL with ?admin_key=, and keeps the key out of the logs', async () => {
    const created = await send<OptaRun>(s, 'POST', '/v1/agents/runs', handoff('dash', ['demo']), {
      'X-Admin-Key': KEY,
    });
    expect(created.status).toBe(201);
    const url = `${s.base}/v1/agents/runs/${encodeURIComponent(created.body.id)}/events?admin_key=${encodeURIComponent(KEY)}`;
    const names = await eventNames(url);
    expect(names).toEqual(expect.arrayContaining(['run.update', 'run.completed']));
    // 1L-Opta-LMX-Dashboard/hooks/use-agents.ts::useAgentRuns (`?status=` and `data`)
    const list = await send<OptaList<OptaRun>>(s, 'GET', '/v1/agents/runs?status=completed', undefined, {
      'X-Admin-Key': KEY,
    });
    expect(list.body.data.map((r) => r.id)).toContain(created.body.id);
    // The query parser decodes names, so an encoded one signs in too; it is redacted all the same.
    const encoded = await fetch(url.replace('?admin_key=', '?admin%5Fkey='), {
      headers: { accept: 'text/event-stream' },
    });
    expect(encoded.status).toBe(200);
    await encoded.body?.cancel();
    await until(() => lines.some((l) => l.includes('/events?admin_key=')), 5_000);
    await until(() => lines.some((l) => l.includes('/events?admin%5Fkey=')), 5_000);
    expect(lines.join('')).not.toContain(KEY);
    expect(lines.join('')).toContain('admin_key=[redacted]');
  });
});

describe('Opta-LMX bodies on a server with the default api.compat: none', () => {
  let s: Server;
  beforeAll(async () => {
    s = await listen({
      config: { agents: { max_parallel_agents: 1, max_queued_runs: 1 } },
    });
  }, 60_000);
  afterAll(async () => {
    await s?.h.close();
  });

  // tests/test_agents_api.py::test_agent_queue_saturation_returns_429 (one worker, a queue of one)
  it('refuses past a full queue: 429, error.code queue_saturated, with Retry-After', async () => {
    const body = handoff('sleep:30000');
    const first = await send<OptaRun>(s, 'POST', '/v1/agents/runs', body);
    const second = await send<OptaRun>(s, 'POST', '/v1/agents/runs', body);
    const third = await send<OptaError>(s, 'POST', '/v1/agents/runs', body);
    expect(first.status).toBe(201);
    expect([201, 429]).toContain(second.status);
    expect(third.status).toBe(429);
    expect(third.body.error.code).toBe('queue_saturated');
    expect(Number(third.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    for (const r of [first, second])
      if (r.status === 201) await send(s, 'POST', `/v1/agents/runs/${r.body.id}/cancel`);
  });

  // An Opta body is its own cue: 201 and Opta's result shape without the server setting
  it('answers an Opta body in Opta’s shapes, and offset asks for Opta’s list envelope', async () => {
    const created = await send<OptaRun>(s, 'POST', '/v1/agents/runs', handoff('cue', ['demo']));
    expect(created.status).toBe(201);
    const run = await pollRun(s, created.body.id, settled);
    expect(run.result).toBe('demo:cue');
    const ours = await send<{ runs: OptaRun[]; data?: unknown }>(s, 'GET', '/v1/agents/runs');
    expect(ours.body.runs.map((r) => r.id)).toContain(created.body.id);
    expect(ours.body.data).toBeUndefined();
    const optas = await send<OptaList<OptaRun>>(s, 'GET', '/v1/agents/runs?limit=10&offset=0');
    expect(optas.body.data.map((r) => r.id)).toContain(created.body.id);
    expect(optas.body.total).toBeGreaterThanOrEqual(1);
  });
});
