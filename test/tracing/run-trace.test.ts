import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { InMemorySpanExporter, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/index.js';
import type { App } from '../../src/app/index.js';
import {
  createTestApp,
  startScriptedModelServer,
  until,
  type ScriptedModelServer,
  type Script,
} from '../../src/testing/index.js';
import { createTracing, type Tracing } from '../../src/tracing/index.js';
import { offered, toolResultCount, userText, writeTestSkills } from '../agents/harness.js';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const INBOUND_SPAN = '00f067aa0ba902b7';

/** Token counts each kind of reply reports, so the chat spans' usage can be checked exactly. */
const USAGE = {
  record: { prompt_tokens: 101, completion_tokens: 11 },
  danger: { prompt_tokens: 202, completion_tokens: 22 },
  answer: { prompt_tokens: 303, completion_tokens: 33 },
  writer: { prompt_tokens: 404, completion_tokens: 44 },
};

/** ops: record, then danger (needs an approval), then answers; writer answers at once. */
const script: Script = ({ body }) => {
  const system = body.messages.find((m) => m.role === 'system');
  if (system?.content === 'writer') return { content: 'written', usage: USAGE.writer };
  const done = toolResultCount(body);
  if (done === 0 && offered(body).includes('test__record'))
    return {
      tool_calls: [{ id: 'call_rec', name: 'test__record', arguments: { label: 'note' } }],
      usage: USAGE.record,
    };
  if (done === 1)
    return {
      tool_calls: [{ id: 'call_dng', name: 'test__danger', arguments: { label: 'wipe' } }],
      usage: USAGE.danger,
    };
  return { content: `done: ${userText(body)}`, usage: USAGE.answer };
};

let dir: string;
let server: ScriptedModelServer;
let app: App;
let api: FastifyInstance;
let tracing: Tracing;
const exporter = new InMemorySpanExporter();

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sp-trace-'));
  const { workspace } = writeTestSkills(dir);
  server = await startScriptedModelServer({ script, model: 'test-model' });
  tracing = createTracing({ otlp_endpoint: null }, { spanProcessors: [new SimpleSpanProcessor(exporter)] });
  app = await createTestApp({
    dir,
    modelUrl: server.url,
    agents: [
      { name: 'ops', instructions: 'ops', skills: ['test/record', 'test/danger'] },
      { name: 'writer', instructions: 'writer' },
    ],
    allowedRoots: [workspace],
    app: { tracing },
  });
  api = await buildServer(app.ports, { logger: false, defaultMetrics: false });
  await api.ready();
});

afterAll(async () => {
  await api?.close();
  await app?.close(200);
  await tracing?.shutdown();
  await server?.close();
  rmSync(dir, { recursive: true, force: true });
});

const parentOf = (s: ReadableSpan) => s.parentSpanContext?.spanId;
const idOf = (s: ReadableSpan) => s.spanContext().spanId;

describe('a traced run', () => {
  it('exports one trace: run → agents → chat and tool spans (with the sandbox child), under the inbound traceparent', async () => {
    const res = await api.inject({
      method: 'POST',
      url: '/v1/agents/runs',
      headers: {
        traceparent: `00-${TRACE_ID}-${INBOUND_SPAN}-01`,
        tracestate: 'congo=t61rcWkgMzE',
        'x-user-id': 'erin',
      },
      payload: { strategy: 'parallel_map', agents: ['ops', 'writer'], input: 'clean up' },
    });
    expect(res.statusCode).toBe(202);
    const created = res.json<{ id: string; trace_id: string }>();
    expect(created.trace_id).toBe(TRACE_ID);
    const waiting = await app.runtime.wait(created.id, { timeoutMs: 15_000 });
    expect(waiting.status).toBe('waiting_approval');
    const [approval] = await app.runtime.listApprovals({ run_id: created.id, status: 'pending' });
    const decided = await api.inject({
      method: 'POST',
      url: `/v1/approvals/${approval!.id}`,
      headers: { 'x-user-id': 'dora' },
      payload: { decision: 'approve' },
    });
    expect(decided.statusCode).toBe(200);
    const done = await app.runtime.wait(created.id, { timeoutMs: 15_000 });
    expect(done.status).toBe('completed');

    await until(
      () => exporter.getFinishedSpans().some((s) => s.name === 'run ops,writer'),
      5_000,
      'the run span',
    );
    const spans = exporter.getFinishedSpans();
    // One trace, continuing the caller's.
    expect(new Set(spans.map((s) => s.spanContext().traceId))).toEqual(new Set([TRACE_ID]));

    const run = spans.filter((s) => s.name === 'run ops,writer');
    expect(run).toHaveLength(1);
    expect(parentOf(run[0]!)).toBe(INBOUND_SPAN);
    expect(`00-${TRACE_ID}-${idOf(run[0]!)}-01`).toBe(done.traceparent);
    expect(run[0]!.attributes['skillplane.run.id']).toBe(created.id);

    // Agent loops: ops twice (suspended for the approval, then resumed), writer once (its
    // resumed loop only replayed its journal: no span).
    const agents = spans.filter((s) => s.name.startsWith('invoke_agent '));
    expect(agents.map((s) => s.name).sort()).toEqual([
      'invoke_agent ops',
      'invoke_agent ops',
      'invoke_agent writer',
    ]);
    for (const a of agents) {
      expect(parentOf(a)).toBe(idOf(run[0]!));
      expect(a.attributes['gen_ai.operation.name']).toBe('invoke_agent');
    }
    const agentIds = new Set(agents.map(idOf));
    const suspended = agents.find((a) => a.attributes['skillplane.suspended'] === true);
    expect(suspended?.name).toBe('invoke_agent ops');

    // Model requests: each chat span is an agent's child, with the usage of its reply.
    const chats = spans.filter((s) => s.name === 'chat test-model');
    expect(chats).toHaveLength(4);
    const tokens = chats.map((c) => [
      c.attributes['gen_ai.usage.input_tokens'],
      c.attributes['gen_ai.usage.output_tokens'],
    ]);
    expect(tokens.sort()).toEqual(
      Object.values(USAGE)
        .map((u) => [u.prompt_tokens, u.completion_tokens])
        .sort(),
    );
    for (const c of chats) {
      expect(agentIds.has(parentOf(c)!)).toBe(true);
      expect(c.attributes).toMatchObject({
        'gen_ai.operation.name': 'chat',
        'gen_ai.provider.name': 'openai',
        'gen_ai.request.model': 'test-model',
      });
      expect(c.attributes['gen_ai.response.finish_reasons']).toEqual([
        c.attributes['gen_ai.usage.input_tokens'] === 101 || c.attributes['gen_ai.usage.input_tokens'] === 202
          ? 'tool_calls'
          : 'stop',
      ]);
    }
    // The model server saw each chat span as its parent, in the same trace.
    const seen = server.requests.map((r) => String(r.headers.traceparent));
    expect(seen).toHaveLength(4);
    for (const tp of seen) expect(tp.startsWith(`00-${TRACE_ID}-`)).toBe(true);
    expect(new Set(seen.map((tp) => tp.split('-')[2]))).toEqual(new Set(chats.map(idOf)));
    for (const r of server.requests) expect(r.headers.tracestate).toBe('congo=t61rcWkgMzE');

    // Skill calls: execute_tool spans under the ops agent, each with the sandbox child's span.
    const tools = spans.filter((s) => s.name.startsWith('execute_tool '));
    expect(tools.map((t) => t.name).sort()).toEqual(['execute_tool test/danger', 'execute_tool test/record']);
    for (const t of tools) {
      expect(agentIds.has(parentOf(t)!)).toBe(true);
      expect(t.attributes['gen_ai.operation.name']).toBe('execute_tool');
    }
    const byName = Object.fromEntries(tools.map((t) => [t.name, t]));
    expect(byName['execute_tool test/record']!.attributes).toMatchObject({
      'gen_ai.tool.name': 'test/record',
      'gen_ai.tool.call.id': 'call_rec',
    });
    expect(byName['execute_tool test/danger']!.attributes['gen_ai.tool.call.id']).toBe('call_dng');
    const children = spans.filter((s) => s.name.startsWith('sandbox '));
    expect(children).toHaveLength(2);
    for (const child of children) {
      const tool = tools.find((t) => idOf(t) === parentOf(child));
      expect(tool).toBeDefined();
      expect(child.attributes['skillplane.span.reported_by']).toBe('sandbox');
      // The child's timing lies within its parent tool span.
      const start = (t: ReadableSpan) => t.startTime[0] * 1e9 + t.startTime[1];
      const end = (t: ReadableSpan) => t.endTime[0] * 1e9 + t.endTime[1];
      expect(start(child)).toBeGreaterThanOrEqual(start(tool!) - 1e6);
      expect(end(child)).toBeLessThanOrEqual(end(tool!) + 1e6);
    }

    // The journal's span ids are the spans' ids.
    const steps = await app.runtime.getSteps(created.id);
    const stepSpanIds = steps.filter((s) => s.kind === 'model' || s.kind === 'skill').map((s) => s.span_id);
    expect(new Set(stepSpanIds)).toEqual(new Set([...chats, ...tools].map(idOf)));
  });
});
