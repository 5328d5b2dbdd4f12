/**
 * The worker plane in one process (fast): an API-side skill service with the queued dispatcher and
 * a SkillWorker on the real Redis, each test on its own key prefix.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Redis } from 'ioredis';
import { loadConfig, type LoadedConfig } from '../../src/config/index.js';
import { createSkillService, type SkillService } from '../../src/skills/index.js';
import {
  QueuedDispatcher,
  SkillWorker,
  WorkerPlane,
  jobIdFor,
  workerQueueFor,
} from '../../src/workers/index.js';
import { until } from '../../src/testing/index.js';
import { cleanup, makeTempDir, writeFiles } from '../skills/helpers.js';

const REDIS = process.env.SKILLPLANE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
let dir: string;
let workspace: string;
const head = (id: string) => `skill_id: ${id}\nversion: 1.0.0\ndescription: ${id}\n`;

beforeAll(async () => {
  dir = await makeTempDir('sp-plane-');
  workspace = await makeTempDir('sp-plane-ws-');
  const fsGrant = `roots: [${workspace}]\npermissions: {fs: {read: [${workspace}], write: [${workspace}]}}\n`;
  await writeFiles(dir, {
    'flaky/skill.yaml': `${head('w/flaky')}kind: tool\nentry: ./index.mjs\nexecution: worker\n${fsGrant}`,
    'flaky/index.mjs': `import { appendFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
export default async (input, ctx) => {
  appendFileSync(join(ctx.roots[0], 'flaky.log'), ctx.attempt + '\\n');
  if (!existsSync(join(ctx.roots[0], 'fixed'))) process.exit(7);
  return { fixed: true, attempt: ctx.attempt };
};`,
    'echo/skill.yaml': `${head('w/echo')}kind: tool\nentry: ./index.mjs\nexecution: worker\n`,
    'echo/index.mjs':
      'export default async (input, ctx) => ({ echo: input, key: ctx.idempotencyKey, attempt: ctx.attempt, pid: process.pid });',
    'once/skill.yaml': `${head('w/once')}kind: tool\nentry: ./index.mjs\nexecution: worker\nidempotent: false\n${fsGrant}`,
    'once/index.mjs': `import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
export default async (input, ctx) => {
  appendFileSync(join(ctx.roots[0], 'once.log'), ctx.attempt + '\\n');
  process.exit(7);
};`,
    'local/skill.yaml': `${head('w/local')}kind: tool\nentry: ./index.mjs\n`,
    'local/index.mjs': 'export default async () => ({ local: true });',
    'fail/skill.yaml': `${head('w/fail')}kind: tool\nentry: ./index.mjs\nexecution: worker\n`,
    'fail/index.mjs': 'export default async () => { throw new Error("nope"); };',
    'slow/skill.yaml': `${head('w/slow')}kind: tool\nentry: ./index.mjs\nexecution: worker\ntimeouts: {execute_sec: 20}\n`,
    'slow/index.mjs':
      'export default async () => { await new Promise((r) => setTimeout(r, 15000)); return {}; };',
  });
});

afterAll(async () => {
  await cleanup([dir, workspace]);
});

interface Rig {
  loaded: LoadedConfig;
  api: SkillService;
  plane: WorkerPlane;
  worker?: SkillWorker;
  prefix: string;
}
const rigs: Rig[] = [];

afterEach(async () => {
  for (const r of rigs.splice(0)) {
    await r.worker?.close(0);
    await r.api.close();
    await r.plane.close();
    const redis = new Redis(REDIS);
    const keys = await redis.keys(`${r.prefix}:*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  }
});

async function rig(opts: { worker?: boolean; workers?: Record<string, unknown> } = {}): Promise<Rig> {
  const prefix = `sptest-${randomBytes(4).toString('hex')}`;
  const loaded = loadConfig({
    cwd: dir,
    env: {},
    overrides: {
      skills: { directories: [dir], watch: false, allowed_roots: [workspace] },
      workers: {
        enabled: true,
        broker_url: REDIS,
        prefix,
        retry_base_ms: 50,
        heartbeat_sec: 0.5,
        ...opts.workers,
      },
    },
  });
  const plane = new WorkerPlane({ config: loaded.config.workers, pollMs: 200, reapIntervalMs: 0 });
  const api = await createSkillService(loaded, {
    watch: false,
    wrapDispatcher: (local) =>
      new QueuedDispatcher({
        local,
        plane,
        routing: loaded.config.workers,
        repeatable: (s) => s.manifest.idempotent,
      }),
  });
  const r: Rig = { loaded, api, plane, prefix };
  rigs.push(r);
  if (opts.worker !== false) r.worker = await SkillWorker.start({ loaded, watch: false, concurrency: 2 });
  return r;
}

describe('the queued dispatcher and a worker', () => {
  it('runs an execution: worker skill on the worker, a local one here, with the call identity', async () => {
    const r = await rig();
    const out = await r.api.invoker.invoke({
      skill: 'w/echo',
      input: { a: 1 },
      door: 'run',
      runId: 'run_x',
      idempotencyKey: 'run_x:3',
      attempt: 2,
    });
    expect(out.output).toMatchObject({ echo: { a: 1 }, key: 'run_x:3', attempt: 2 });
    const local = await r.api.invoker.invoke({ skill: 'w/local', input: {}, door: 'http' });
    expect(local.output).toEqual({ local: true });
    const status = await r.plane.status();
    expect(status.health.ok).toBe(true);
    expect(status.workers).toEqual([
      expect.objectContaining({ id: r.worker!.id, alive: true, concurrency: 2 }),
    ]);
    expect(status.queues).toEqual([expect.objectContaining({ name: 'skills', completed: 1, dead: 0 })]);
  });

  it('retries a failing job, then dead-letters it, and re-drives it', async () => {
    const r = await rig({ workers: { job_retries: 2 } });
    const err = await r.api.invoker
      .invoke({ skill: 'w/flaky', input: {}, door: 'http', idempotencyKey: 'order-1' })
      .then(
        () => undefined,
        (e: unknown) => e as { code: string; data: Record<string, unknown> },
      );
    expect(err).toMatchObject({ code: 'skill_crashed', data: { attempts: 3, retryable: false } });
    // Three deliveries, each a further attempt for the skill.
    expect(readFileSync(join(workspace, 'flaky.log'), 'utf8').trim().split('\n')).toEqual(['1', '2', '3']);
    const dead = await until(
      async () => {
        const d = await r.plane.listDeadLetters({ limit: 10 });
        return d.length === 1 ? d : undefined;
      },
      10_000,
      'the dead letter',
    );
    expect(dead![0]).toMatchObject({
      skill: 'w/flaky@1.0.0',
      attempts: 3,
      error: { code: 'skill_crashed' },
      worker: r.worker!.id,
      redrives: [],
    });
    expect((await r.plane.status()).queues[0]).toMatchObject({ failed: 1, dead: 1 });
    writeFileSync(join(workspace, 'fixed'), '');
    const { job_id } = await r.plane.redrive(dead![0]!.id, 'operator');
    const after = await until(
      async () => {
        const d = (await r.plane.listDeadLetters({ limit: 10 }))[0];
        return d?.redrives[0]?.state === 'completed' ? d : undefined;
      },
      10_000,
      'the re-driven job to complete',
    );
    expect(after!.redrives).toEqual([
      expect.objectContaining({ job_id, by: 'operator', state: 'completed' }),
    ]);
    await expect(r.plane.redrive('dead-nope', null)).rejects.toMatchObject({ code: 'not_found' });
  });

  it('cancels a running job on the worker when the caller aborts', async () => {
    const r = await rig();
    const ac = new AbortController();
    const call = r.api.invoker.invoke({ skill: 'w/slow', input: {}, door: 'http', signal: ac.signal });
    // Wait until the worker holds it.
    await until(async () => (await r.plane.status()).queues[0]?.active === 1, 10_000, 'the job to be active');
    ac.abort();
    await expect(call).rejects.toMatchObject({ code: 'cancelled' });
  });
});

describe('calls that may not run twice, and job identity', () => {
  it('gives an idempotent: false skill one attempt, also when its dead letter is re-driven', async () => {
    const r = await rig({ workers: { job_retries: 3 } });
    await expect(r.api.invoker.invoke({ skill: 'w/once', input: {}, door: 'http' })).rejects.toMatchObject({
      code: 'skill_crashed',
      data: { attempts: 1 },
    });
    const dead = await until(
      async () => (await r.plane.listDeadLetters({ limit: 10 }))[0],
      10_000,
      'the dead letter',
    );
    const { job_id } = await r.plane.redrive(dead!.id, 'operator');
    await until(
      async () => (await r.plane.queue('skills').getJobState(job_id)) === 'failed',
      10_000,
      'the re-driven job to fail',
    );
    // One execution each time: never retried by the worker plane.
    expect(readFileSync(join(workspace, 'once.log'), 'utf8').trim().split('\n')).toEqual(['1', '1']);
  });

  it('scopes a direct call’s key to its principal and input; a run’s step has its own namespace', () => {
    const base = {
      idempotency_key: 'k-1',
      skill: 'w/echo@1.0.0',
      run_id: null,
      principal: 'alice',
      input: { a: 1 },
    };
    const id = jobIdFor(base);
    expect(jobIdFor({ ...base })).toBe(id);
    expect(jobIdFor({ ...base, principal: 'mallory' })).not.toBe(id);
    expect(jobIdFor({ ...base, input: { a: 2 } })).not.toBe(id);
    // A caller cannot plant a run step's result by sending its key as an Idempotency-Key.
    const step = { ...base, run_id: 'run_1', idempotency_key: 'run_1:3' };
    expect(jobIdFor({ ...base, idempotency_key: 'run_1:3' })).not.toBe(jobIdFor(step));
    expect(jobIdFor({ ...step, principal: 'other', input: {} })).toBe(jobIdFor(step));
    expect(id).toMatch(/^j[0-9a-f]{40}$/);
  });
});

describe('routing and the reaper', () => {
  it('routes by manifest, then by the first matching rule (skill pattern, tag, kind), never a prompt skill', async () => {
    const r = await rig({ worker: false });
    const skill = (id: string) => r.api.registry.get(id)!;
    const base = { enabled: true, queue: 'skills', routes: [] };
    expect(workerQueueFor(skill('w/echo'), base)).toBe('skills');
    expect(workerQueueFor(skill('w/local'), base)).toBeUndefined();
    expect(workerQueueFor(skill('w/echo'), { ...base, enabled: false })).toBeUndefined();
    const routes = [
      { skill: 'w/loc*', queue: 'never' },
      { skill: 'w/*', kind: 'workflow' as const, queue: 'flows' },
      { skill: 'w/local', queue: 'heavy' },
    ];
    expect(workerQueueFor(skill('w/local'), { ...base, routes })).toBe('heavy');
    expect(workerQueueFor(skill('w/echo'), { ...base, routes })).toBe('skills');
  });

  it('drops a queued job whose deadline passed, and a worker refuses one it finds late', async () => {
    const r = await rig({ worker: false });
    const payload = {
      v: 1 as const,
      run_id: null,
      step_seq: null,
      attempt: 1,
      skill: 'w/echo@1.0.0',
      input: {},
      deadline: Date.now() - 10_000,
      idempotency_key: 'late-1',
      principal: null,
      door: 'http' as const,
    };
    await r.plane.queue('skills').add(payload.skill, payload, { jobId: 'late-1' });
    await r.plane
      .queue('skills')
      .add(payload.skill, { ...payload, deadline: Date.now() + 60_000 }, { jobId: 'fresh-1' });
    expect(await r.plane.reap()).toBe(1);
    expect(await r.plane.queue('skills').getJob('late-1')).toBeUndefined();
    expect(await r.plane.queue('skills').getJobState('fresh-1')).toBe('waiting');
    // Past its deadline by the time a worker takes it: refused (timeout), not run, dead-lettered.
    await r.plane.queue('skills').add(payload.skill, payload, { jobId: 'late-2' });
    r.worker = await SkillWorker.start({ loaded: r.loaded, watch: false });
    const dead = await until(
      async () => (await r.plane.listDeadLetters({ limit: 10 })).find((d) => d.source_job_id === 'late-2'),
      10_000,
      'the late job to be dead-lettered',
    );
    expect(dead!.error.code).toBe('timeout');
  });
});
