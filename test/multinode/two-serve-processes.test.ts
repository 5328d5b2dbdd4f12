/**
 * Two real `skillplane serve` processes on one PostgreSQL store: a run executing in one is
 * streamed and cancelled through the other (over the run bus, LISTEN/NOTIFY).
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { until } from '../../src/testing/index.js';
import { multinodeEnv, pgUrl, post, readStream, types } from './helpers.js';

const env = multinodeEnv('sp_twoserve');
const { cleanups } = env;

/** A `skillplane serve` process on the shared schema, as node `id`. */
function serve(id: string): {
  url: Promise<string>;
  exited: Promise<number | null>;
  stop(): Promise<void>;
  output(): string;
} {
  const file = join(env.dir, `${id}.yaml`);
  writeFileSync(
    file,
    [
      `server: {node_id: ${id}}`,
      `store: {driver: postgres, url: "${pgUrl}", schema: ${env.schema}}`,
      'skills: {directories: [./skills], watch: false}',
      'agents: {directories: [], definitions: [{name: assistant, instructions: test}]}',
      `models: {default: {base_url: "${env.model.url}", model: test-model, max_retries: 0}}`,
    ].join('\n'),
  );
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', 'src/cli/main.ts', '--config', file, 'serve', '--port', '0'],
    {
      cwd: process.cwd(),
      env: { ...process.env, LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const url = new Promise<string>((resolve, reject) => {
    child.stdout.on('data', () => {
      const m = /listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
      if (m !== null) resolve(m[1]!);
    });
    void exited.then(() => reject(new Error(`${id} exited before listening:\n${output}`)));
  });
  url.catch(() => undefined);
  const stop = async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  };
  cleanups.push(stop);
  return { url, exited, stop, output: () => output };
}

describe('two skillplane serve processes on one PostgreSQL store', () => {
  it('stream and cancel a run of one process through the other', async () => {
    const a = serve('proc-a');
    const b = serve('proc-b');
    const [urlA, urlB] = await Promise.all([a.url, b.url]);
    // Streamed on B while A executes it.
    const r1 = await post(`${urlA}/v1/agents/runs`, { agent: 'assistant', input: 'sleep 800' });
    expect(r1.status).toBe(202);
    const { id: streamed } = (await r1.json()) as { id: string };
    const stream = await readStream(`${urlB}/v1/agents/runs/${streamed}/events`, 8_000);
    expect(stream.ended).toBe(true);
    expect(types(stream.events).at(-1)).toBe('run.completed');
    // Cancelled through B while A waits for its model.
    const before = env.model.requests.length;
    const r2 = await post(`${urlA}/v1/agents/runs`, { agent: 'assistant', input: 'sleep 30000' });
    const { id: cancelled } = (await r2.json()) as { id: string };
    await until(() => env.model.requests.length > before, 5_000, "process A's model request");
    const started = Date.now();
    const res = await post(`${urlB}/v1/agents/runs/${cancelled}/cancel`, {});
    expect(await res.json()).toMatchObject({ id: cancelled, status: 'cancelled' });
    expect(Date.now() - started).toBeLessThan(4_000);
    await until(() => env.model.requests[before]?.aborted === true, 3_000, "A's model request to be aborted");
    const events = await env.reader.listEvents(cancelled);
    expect(events.filter((e) => e.type === 'run.cancelled')).toHaveLength(1);
    await Promise.all([a.stop(), b.stop()]);
    expect(await a.exited).toBe(0);
    expect(await b.exited).toBe(0);
  }, 20_000);
});
