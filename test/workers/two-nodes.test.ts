/**
 * Two `skillplane serve` processes on one PostgreSQL and one Redis, with a `skillplane worker`:
 * a run created on A is streamed and cancelled through B, and the cancel stops the job on the
 * worker that runs it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { startScriptedModelServer, type Script } from '../../src/testing/index.js';
import { parseSse } from '../api/helpers.js';
import { toolResultCount, userText } from '../agents/harness.js';
import { PG_URL, killAll, startServe, startWorker, testPrefix, until, writeWorkerRig } from './processes.js';

const schema = `sp_workers2n_${randomBytes(5).toString('hex')}`;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  await killAll();
  for (const c of cleanups.splice(0).reverse()) await c();
}, 60_000);
afterAll(async () => {
  const c = new pg.Client({ connectionString: PG_URL });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  await c.end();
});

const toolScript: Script = ({ body }) => {
  const [name, args] = userText(body).split(/ (.*)/s) as [string, string];
  if (toolResultCount(body) === 0) return { tool_calls: [{ name, arguments: JSON.parse(args) as object }] };
  return { content: 'done' };
};

describe('two API nodes and a worker', { timeout: 90_000 }, () => {
  it('a run created on A is streamed and cancelled on B; the job stops on the worker', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sp-workers-2n-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const p = testPrefix();
    cleanups.push(() => p.drop());
    const model = await startScriptedModelServer({ script: toolScript, model: 'test-model' });
    cleanups.push(() => model.close());
    const { configFile, workspace } = writeWorkerRig(dir, {
      prefix: p.prefix,
      modelUrl: model.url,
      store: { driver: 'postgres', url: PG_URL, schema },
    });
    const worker = await startWorker(configFile, ['--concurrency', '2']);
    const [a, b] = await Promise.all([startServe(configFile), startServe(configFile)]);
    expect(a.node).not.toBe(b.node);
    // Both are ready and listen to each other (Redis pub/sub, as the worker plane is enabled).
    for (const node of [a, b])
      expect(await (await fetch(`${node.url}/readyz`)).json()).toMatchObject({
        status: 'ready',
        workers: { ok: true },
        bus: { driver: 'redis', listening: true },
      });

    const created = await fetch(`${a.url}/v1/agents/runs`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ agent: 'worker-agent', input: 'w__hold {"ms":60000,"label":"long"}' }),
    });
    expect(created.status).toBe(202);
    const { id } = (await created.json()) as { id: string };

    // B streams the run A executes: the worker's progress reaches it.
    const stream = new AbortController();
    cleanups.push(() => stream.abort());
    let text = '';
    const res = await fetch(`${b.url}/v1/agents/runs/${id}/events`, { signal: stream.signal });
    expect(res.status).toBe(200);
    const reading = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>)
        text += decoder.decode(chunk, { stream: true });
    })();
    reading.catch(() => undefined); // aborted at teardown if the test fails first
    await until(
      () => parseSse(text).some((e) => e.event === 'step.progress'),
      'B to stream the step starting on the worker',
    );
    const progress = parseSse(text).find((e) => e.event === 'step.progress')!;
    expect(JSON.parse(progress.data!)).toMatchObject({ data: { stage: 'started', worker: worker.id } });
    await until(() => existsSync(join(workspace, 'starts.log')), 'the skill to start');

    const cancelled = await fetch(`${b.url}/v1/agents/runs/${id}/cancel`, { method: 'POST' });
    expect(cancelled.status).toBe(200);
    expect(await cancelled.json()).toMatchObject({ status: 'cancelled' });
    // B's stream ends with the run.
    await reading;
    const types = parseSse(text).map((e) => e.event);
    expect(types.at(-1)).toBe('run.cancelled');
    // The cancel reached the job on the worker: it stopped (never finished) and says why.
    const stopped = await until(
      () => worker.logs().find((l) => l.msg === 'worker job failed' && l.code === 'cancelled'),
      'the worker to stop the job',
    );
    expect(stopped.skill).toBe('w/hold@1.0.0');
    expect(existsSync(join(workspace, 'finishes.log'))).toBe(false);
    expect(readFileSync(join(workspace, 'starts.log'), 'utf8').trim().split('\n')).toHaveLength(1);
    // A let go of it: the run stays cancelled, read through either node.
    for (const node of [a, b]) {
      const r = (await (await fetch(`${node.url}/v1/agents/runs/${id}`)).json()) as { status: string };
      expect(r.status).toBe('cancelled');
    }
  });
});
