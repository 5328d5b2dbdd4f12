import { request as httpRequest, type ClientRequest, type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/index.js';
import { until, type Script } from '../../src/testing/index.js';
import { offered, startHarness, toolResultCount, userText, type Harness } from '../agents/harness.js';

/** One sample of the Prometheus text format. */
interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses the Prometheus text exposition format: `# TYPE` lines and samples. */
function parseMetrics(text: string): { types: Map<string, string>; samples: Sample[] } {
  const types = new Map<string, string>();
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type !== null) {
      types.set(type[1]!, type[2]!);
      continue;
    }
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (m === null) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!.replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\');
    const raw = m[3]!;
    const value = raw === '+Inf' ? Infinity : raw === '-Inf' ? -Infinity : Number(raw);
    if (Number.isNaN(value) && raw !== 'NaN') throw new Error(`bad value: ${line}`);
    samples.push({ name: m[1]!, labels, value });
  }
  return { types, samples };
}

/** A scrape, with lookups of one sample by name and labels (a subset match). */
interface Scrape {
  types: Map<string, string>;
  samples: Sample[];
  value(name: string, labels?: Record<string, string>): number | undefined;
}

const USAGE_FIRST = { prompt_tokens: 100, completion_tokens: 10 };
const USAGE_SECOND = { prompt_tokens: 200, completion_tokens: 20 };

/** `tool` calls test/echo once, then answers; `danger` asks for the risk-tagged skill. */
const script: Script = ({ body }) => {
  const text = userText(body);
  if (text === 'tool' && toolResultCount(body) === 0 && offered(body).includes('test__echo'))
    return { tool_calls: [{ name: 'test__echo', arguments: { n: 1 } }], usage: USAGE_FIRST };
  if (text === 'tool') return { content: 'done', usage: USAGE_SECOND };
  if (text === 'danger' && toolResultCount(body) === 0 && offered(body).includes('test__danger'))
    return { tool_calls: [{ name: 'test__danger', arguments: { label: 'x' } }], usage: USAGE_FIRST };
  return { content: `echo: ${text}`, usage: USAGE_FIRST };
};

let h: Harness;
let api: FastifyInstance;

async function scrape(): Promise<Scrape> {
  const res = await api.inject({ url: '/metrics' });
  expect(res.statusCode).toBe(200);
  expect(res.headers['content-type']).toContain('text/plain');
  const parsed = parseMetrics(res.body);
  return {
    ...parsed,
    value(name, labels = {}) {
      const found = parsed.samples.filter(
        (s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v),
      );
      if (found.length > 1) throw new Error(`${name} ${JSON.stringify(labels)} matches ${found.length}`);
      return found[0]?.value;
    },
  };
}

beforeAll(async () => {
  h = await startHarness({
    script,
    agents: [
      { name: 'tooler', skills: ['test/echo'] },
      { name: 'ops', skills: ['test/danger'] },
    ],
  });
  api = await buildServer(h.app.ports, { logger: false, heartbeatMs: 50, defaultMetrics: false });
  await api.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await api?.close();
  await h?.close();
});

describe('/metrics after a scripted scenario', () => {
  it('counts runs, steps, skill and model calls, tokens, cost and limiter waits from the owners', async () => {
    const { run } = await h.app.runtime.submit({ agent: 'tooler', input: 'tool' });
    const done = await h.app.runtime.wait(run.id, { timeoutMs: 15_000 });
    expect(done.status).toBe('completed');
    expect(done.usage).toMatchObject({ input_tokens: 300, output_tokens: 30 });

    const m = await scrape();
    expect(m.types.get('skillplane_runs_total')).toBe('counter');
    expect(m.value('skillplane_runs_total', { status: 'completed' })).toBe(1);
    expect(m.types.get('skillplane_run_duration_seconds')).toBe('histogram');
    expect(m.value('skillplane_run_duration_seconds_count', { status: 'completed' })).toBe(1);
    const duration = m.value('skillplane_run_duration_seconds_sum', { status: 'completed' })!;
    expect(duration).toBeGreaterThanOrEqual(0);
    expect(duration).toBeLessThan(15);
    expect(m.value('skillplane_run_queue_wait_seconds_count')).toBe(1);
    expect(m.value('skillplane_run_time_to_first_step_seconds_count')).toBe(1);
    expect(m.value('skillplane_run_time_to_first_step_seconds_sum')!).toBeLessThanOrEqual(duration);
    // Two model turns and one tool call, each a completed step.
    expect(m.value('skillplane_step_duration_seconds_count', { kind: 'model', status: 'completed' })).toBe(2);
    expect(m.value('skillplane_step_duration_seconds_count', { kind: 'skill', status: 'completed' })).toBe(1);
    expect(m.value('skillplane_skill_calls_total', { skill: 'test/echo', door: 'run' })).toBe(1);
    expect(m.value('skillplane_skill_call_duration_seconds_count', { skill: 'test/echo' })).toBe(1);
    // Tokens and cost are the scripted usage at the harness prices ($0.001 / $0.002 per 1k).
    expect(m.value('skillplane_model_requests_total', { backend: 'default' })).toBe(2);
    expect(m.value('skillplane_model_request_duration_seconds_count', { backend: 'default' })).toBe(2);
    expect(m.value('skillplane_model_tokens_total', { backend: 'default', type: 'input' })).toBe(300);
    expect(m.value('skillplane_model_tokens_total', { backend: 'default', type: 'output' })).toBe(30);
    expect(m.value('skillplane_model_cost_usd_total', { backend: 'default' })).toBeCloseTo(0.00036, 10);
    expect(m.value('skillplane_model_limiter_wait_seconds_count', { backend: 'default' })).toBe(2);
    expect(m.value('skillplane_model_request_failures_total', { backend: 'default' })).toBeUndefined();
    // The worker plane is off; the scheduler's queue depth is reported per priority.
    for (const p of ['interactive', 'normal', 'batch'])
      expect(m.value('skillplane_scheduler_queue_depth', { priority: p })).toBe(0);
    expect(m.value('skillplane_sse_connections')).toBe(0);
    // Run ids never become labels.
    expect(m.samples.some((s) => Object.values(s.labels).includes(run.id))).toBe(false);
  });

  it('counts failed skill calls by skill, door and code, never by an unknown name', async () => {
    const bad = await api.inject({
      method: 'POST',
      url: `/v1/skills/${encodeURIComponent('test/record')}/execute`,
      payload: { input: { nope: 1 } },
    });
    expect(bad.statusCode).toBe(400);
    const missing = await api.inject({
      method: 'POST',
      url: `/v1/skills/${encodeURIComponent('test/no-such-skill')}/execute`,
      payload: { input: {} },
    });
    expect(missing.statusCode).toBe(404);
    const m = await scrape();
    const failures = { skill: 'test/record', door: 'http', code: 'input_invalid' };
    expect(m.value('skillplane_skill_call_failures_total', failures)).toBe(1);
    expect(m.value('skillplane_skill_calls_total', { skill: 'test/record', door: 'http' })).toBe(1);
    // A name no skill has never becomes a label (the route refuses it before any call).
    expect(m.samples.some((s) => s.labels.skill === 'test/no-such-skill')).toBe(false);
  });

  it('reports open SSE connections while a stream is open, and none after it closes', async () => {
    const { run } = await h.app.runtime.submit({ agent: 'ops', input: 'danger' });
    await until(
      async () => (await h.app.runtime.getRun(run.id)).status === 'waiting_approval',
      15_000,
      'run waiting for approval',
    );
    const port = (api.server.address() as AddressInfo).port;
    let req: ClientRequest | undefined;
    const res = await new Promise<IncomingMessage>((resolve, reject) => {
      req = httpRequest({ host: '127.0.0.1', port, path: `/v1/agents/runs/${run.id}/events` }, resolve);
      req.on('error', reject);
      req.end();
    });
    expect(res.statusCode).toBe(200);
    const first = await new Promise<string>((resolve) => res.once('data', (c: Buffer) => resolve(String(c))));
    expect(first).toContain('retry:');
    expect((await scrape()).value('skillplane_sse_connections')).toBe(1);
    res.resume();
    req!.destroy();
    await until(
      async () => (await scrape()).value('skillplane_sse_connections') === 0,
      10_000,
      'sse gauge back to 0',
    );
    await h.app.runtime.cancel(run.id, null);
    await until(
      async () => (await scrape()).value('skillplane_runs_total', { status: 'cancelled' }) === 1,
      10_000,
      'cancelled run counted',
    );
    const m = await scrape();
    expect(m.value('skillplane_run_duration_seconds_count', { status: 'cancelled' })).toBe(1);
    expect(m.value('skillplane_runs_total', { status: 'completed' })).toBe(1);
  });
});
