import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../../src/app/index.js';
import {
  createTestApp,
  startScriptedModelServer,
  until,
  type ScriptedModelServer,
} from '../../src/testing/index.js';
import { offered, toolResultCount, userText, writeTestSkills } from './harness.js';

interface LogLine {
  level: number;
  msg: string;
  run_id?: string;
  agent?: string;
  status?: string;
  error_code?: string | null;
  approval_id?: string;
}

const lines: LogLine[] = [];
let app: App;
let server: ScriptedModelServer;
let dir: string;

beforeAll(async () => {
  server = await startScriptedModelServer({
    model: 'test-model',
    script: ({ body }) => {
      const text = userText(body);
      if (text === 'break') return { status: 500, error: 'backend exploded' };
      if (text === 'danger' && toolResultCount(body) === 0 && offered(body).includes('test__danger'))
        return { tool_calls: [{ name: 'test__danger', arguments: { label: 'wipe' } }] };
      return { content: `echo: ${text}` };
    },
  });
  dir = mkdtempSync(join(tmpdir(), 'sp-runlog-'));
  const { workspace } = writeTestSkills(dir);
  const logger = pino(
    { level: 'info' },
    { write: (line: string) => lines.push(JSON.parse(line) as LogLine) },
  );
  app = await createTestApp({
    dir,
    modelUrl: server.url,
    agents: [{ name: 'helper' }, { name: 'ops', skills: ['test/danger'] }],
    allowedRoots: [workspace],
    config: { agents: { max_step_retries: 0 } },
    app: { logger },
  });
});
afterAll(async () => {
  await app.close(0);
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const INFO = 30;
const WARN = 40;
const of = (runId: string) => lines.filter((l) => l.run_id === runId);
const settledLine = (runId: string) =>
  until(() => of(runId).find((l) => l.msg === 'run settled'), 10_000, `run settled line of ${runId}`);

describe('run lifecycle logging', () => {
  it('logs created, started and settled at info with run id, agent and status', async () => {
    const { run } = await app.runtime.submit({ agent: 'helper', input: 'hi' });
    const settled = await settledLine(run.id);
    expect(of(run.id).map((l) => [l.msg, l.status, l.level])).toEqual([
      ['run created', 'queued', INFO],
      ['run started', 'running', INFO],
      ['run settled', 'completed', INFO],
    ]);
    expect(settled).toMatchObject({ agent: 'helper', error_code: null });
    expect(of(run.id).every((l) => l.agent === 'helper')).toBe(true);
  });

  it('logs a failed run as settled at warn with its error code', async () => {
    const { run } = await app.runtime.submit({ agent: 'helper', input: 'break' });
    const settled = await settledLine(run.id);
    expect(settled).toMatchObject({
      level: WARN,
      status: 'failed',
      agent: 'helper',
      error_code: 'model_error',
    });
    expect((await app.runtime.getRun(run.id)).error?.code).toBe('model_error');
  });

  it('logs a run waiting for an approval with the approval id, then its settling when denied', async () => {
    const { run } = await app.runtime.submit({ agent: 'ops', input: 'danger' });
    const waiting = await until(
      () => of(run.id).find((l) => l.msg === 'run waiting'),
      10_000,
      'run waiting line',
    );
    const [approval] = await app.runtime.listApprovals({ run_id: run.id, status: 'pending' });
    expect(waiting).toMatchObject({ level: INFO, status: 'waiting_approval', approval_id: approval!.id });
    await app.runtime.decide(approval!.id, { approve: false, principal: 'op' });
    const settled = await settledLine(run.id);
    expect(settled).toMatchObject({
      level: WARN,
      status: 'failed',
      error_code: 'approval_denied',
      agent: 'ops',
    });
  });
});
