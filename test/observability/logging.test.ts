import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { promisify } from 'node:util';
import type { DestinationStream } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/index.js';
import type { App } from '../../src/app/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createLogger, resolveLogLevel } from '../../src/observability/index.js';
import {
  createTestApp,
  startScriptedModelServer,
  until,
  type ScriptedModelServer,
} from '../../src/testing/index.js';
import { offered, toolResultCount, userText, writeTestSkills } from '../agents/harness.js';

interface LogLine {
  level: number;
  msg: string;
  name?: string;
  run_id?: string;
  trace_id?: string;
  span_id?: string;
  step_key?: string;
  error_code?: string;
}

/** A destination keeping each line, parsed (JSON) or raw. */
function capture(): { stream: DestinationStream; raw: string[]; lines: () => LogLine[] } {
  const raw: string[] = [];
  return {
    stream: new Writable({
      write(chunk: Buffer, _encoding, done) {
        raw.push(String(chunk));
        done();
      },
    }),
    raw,
    lines: () => raw.map((l) => JSON.parse(l) as LogLine),
  };
}

describe('createLogger', () => {
  const config = (log_level: string) =>
    loadConfig({ cwd: tmpdir(), env: {}, overrides: { server: { log_level } } }).config;

  it('logs at server.log_level; LOG_LEVEL wins when it names a level', () => {
    const quiet = capture();
    const warnOnly = createLogger(config('warn'), { name: 't', destination: quiet.stream, env: {} });
    warnOnly.info('hidden');
    warnOnly.warn('shown');
    expect(quiet.lines().map((l) => l.msg)).toEqual(['shown']);

    const loud = capture();
    const debug = createLogger(config('warn'), {
      name: 't',
      destination: loud.stream,
      env: { LOG_LEVEL: 'debug' },
    });
    debug.debug('detail');
    expect(loud.lines()).toMatchObject([{ msg: 'detail', name: 't' }]);

    expect(resolveLogLevel(config('error'), { LOG_LEVEL: 'loud' })).toBe('error');
    expect(resolveLogLevel(undefined, {})).toBe('info');
    expect(resolveLogLevel(config('silent'), {})).toBe('silent');
  });

  it('rejects an unknown server.log_level', () => {
    let err: unknown;
    try {
      config('loud');
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'config_invalid' });
    expect(JSON.stringify(err)).toContain('log_level');
  });

  it('pretty-prints only when asked (a terminal), JSON otherwise', () => {
    const pretty = capture();
    createLogger(undefined, { name: 't', destination: pretty.stream, pretty: true, env: {} }).info(
      { run_id: 'run_1' },
      'hello',
    );
    expect(pretty.raw.join('')).toContain('hello');
    expect(() => JSON.parse(pretty.raw[0]!) as unknown).toThrow();
    const plain = capture();
    createLogger(undefined, { name: 't', destination: plain.stream, env: {} }).info('hello');
    expect(plain.lines()).toMatchObject([{ msg: 'hello' }]);
  });

  it('writes JSON lines when stdout is not a terminal (a pipe)', async () => {
    const code =
      "import { createLogger } from './src/observability/index.ts';" +
      "createLogger(undefined, { name: 'piped' }).info({ run_id: 'run_x' }, 'to a pipe');";
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', code],
      { cwd: join(import.meta.dirname, '..', '..'), env: { ...process.env, LOG_LEVEL: '' } },
    );
    const lines = stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toMatchObject({ name: 'piped', msg: 'to a pipe', run_id: 'run_x' });
  }, 30_000);
});

describe('run log lines', () => {
  const out = capture();
  let app: App;
  let server: ScriptedModelServer;
  let dir: string;

  beforeAll(async () => {
    server = await startScriptedModelServer({
      model: 'test-model',
      script: ({ body }) => {
        const text = userText(body);
        if (text === 'break') return { status: 400, error: 'bad request' };
        if (text === 'tool' && toolResultCount(body) === 0 && offered(body).includes('test__echo'))
          return { tool_calls: [{ name: 'test__echo', arguments: { n: 1 } }] };
        return { content: `echo: ${text}` };
      },
    });
    dir = mkdtempSync(join(tmpdir(), 'sp-logs-'));
    const { workspace } = writeTestSkills(dir);
    app = await createTestApp({
      dir,
      modelUrl: server.url,
      agents: [{ name: 'helper', skills: ['test/echo'] }],
      allowedRoots: [workspace],
      config: { agents: { max_step_retries: 0 } },
      app: { logger: createLogger(undefined, { name: 'skillplane', destination: out.stream, env: {} }) },
    });
  });
  afterAll(async () => {
    await app?.close(0);
    await server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const of = (runId: string) => out.lines().filter((l) => l.run_id === runId);

  it('carry run_id and trace_id on every line of a run', async () => {
    const { run } = await app.runtime.submit({ agent: 'helper', input: 'tool' });
    await until(() => of(run.id).find((l) => l.msg === 'run settled'), 10_000, 'run settled line');
    const lines = of(run.id);
    expect(lines.map((l) => l.msg)).toEqual(['run created', 'run started', 'run settled']);
    expect(lines.every((l) => l.trace_id === run.trace_id)).toBe(true);
    expect(run.trace_id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('name the failed step and its span', async () => {
    const { run } = await app.runtime.submit({ agent: 'helper', input: 'break' });
    await until(() => of(run.id).find((l) => l.msg === 'run settled'), 10_000, 'run settled line');
    const failed = of(run.id).find((l) => l.msg === 'step failed');
    const [step] = await app.runtime.getSteps(run.id);
    expect(failed).toMatchObject({
      level: 40,
      trace_id: run.trace_id,
      span_id: step!.span_id,
      step_key: step!.key,
      error_code: 'model_error',
    });
    expect(of(run.id).every((l) => l.trace_id === run.trace_id)).toBe(true);
  });

  it('carry the inbound trace id on the API request lines', async () => {
    const api = await buildServer(app.ports, {
      logger: createLogger(undefined, { name: 'skillplane', destination: out.stream, env: {} }),
      defaultMetrics: false,
    });
    try {
      const traceId = '4bf92f3577b34da6a3ce929d0e0e4736';
      const traced = await api.inject({
        url: '/healthz',
        headers: { traceparent: `00-${traceId}-00f067aa0ba902b7-01`, 'x-request-id': 'req-traced' },
      });
      expect(traced.statusCode).toBe(200);
      await api.inject({ url: '/healthz', headers: { traceparent: 'garbage', 'x-request-id': 'req-plain' } });
      const byReq = (id: string) => out.lines().filter((l) => (l as { reqId?: string }).reqId === id);
      expect(byReq('req-traced').length).toBeGreaterThan(0);
      expect(byReq('req-traced').every((l) => l.trace_id === traceId)).toBe(true);
      expect(byReq('req-plain').length).toBeGreaterThan(0);
      expect(byReq('req-plain').some((l) => l.trace_id !== undefined)).toBe(false);
    } finally {
      await api.close();
    }
  });
});
