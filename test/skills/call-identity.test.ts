/**
 * `ctx.idempotencyKey` and `ctx.attempt` on calls that do not belong to a run (REST execute, MCP,
 * the CLI): the caller's key or a fresh one, attempt 1; each workflow step under its own key; and
 * the same values as environment variables of command skills, never through a shell.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/api/index.js';
import { loadConfig } from '../../src/config/index.js';
import { createSkillService, type SkillService } from '../../src/skills/index.js';
import { startHarness } from '../agents/harness.js';
import { cleanup, makeTempDir, writeFiles } from './helpers.js';

let dir: string;
let service: SkillService;

const head = (id: string) => `skill_id: ${id}\nversion: 1.0.0\ndescription: ${id}\n`;

beforeAll(async () => {
  dir = await makeTempDir('sp-call-identity-');
  await writeFiles(dir, {
    'ctx/skill.yaml': `${head('t/ctx')}kind: tool\nentry: ./index.mjs\n`,
    'ctx/index.mjs':
      'export default async (input, ctx) => ({ key: ctx.idempotencyKey, attempt: ctx.attempt, run: ctx.runId ?? null });',
    'flow/skill.yaml': `${head('t/flow')}kind: workflow\nsteps:\n  - {id: first, skill: t/ctx}\n  - {id: second, skill: t/ctx, needs: [first]}\n`,
    'env/skill.yaml':
      `${head('t/env')}kind: tool\npermissions: {shell: true}\n` +
      `command: [${JSON.stringify(process.execPath)}, -e, "console.log(JSON.stringify({key: process.env.SKILLPLANE_IDEMPOTENCY_KEY, attempt: process.env.SKILLPLANE_ATTEMPT}))"]\n`,
  });
  const loaded = loadConfig({
    cwd: dir,
    env: {},
    overrides: { skills: { directories: [dir], watch: false, allow_shell: true } },
  });
  service = await createSkillService(loaded, { watch: false });
  expect(service.loadErrors).toEqual([]);
});

afterAll(async () => {
  await service?.close();
  await cleanup([dir]);
});

const call = (skill: string, extra: { idempotencyKey?: string; attempt?: number } = {}) =>
  service.invoker.invoke({ skill, input: {}, door: 'http', principal: 'tester', ...extra });

describe('the idempotency key and attempt of a direct call', () => {
  it('is a fresh key per call and attempt 1 when the caller names none', async () => {
    const [a, b] = await Promise.all([call('t/ctx'), call('t/ctx')]);
    const outA = a.output as { key: string; attempt: number; run: unknown };
    const outB = b.output as { key: string; attempt: number };
    expect(outA).toMatchObject({ attempt: 1, run: null });
    expect(outA.key).toMatch(/^call_[0-9a-f-]{36}$/);
    expect(outB.key).toMatch(/^call_[0-9a-f-]{36}$/);
    expect(outA.key).not.toBe(outB.key);
  });

  it("is the caller's key (an Idempotency-Key header) when it names one", async () => {
    const r = await call('t/ctx', { idempotencyKey: 'order-42 retry' });
    expect(r.output).toEqual({ key: 'order-42 retry', attempt: 1, run: null });
  });

  it('refuses a key that is not 1-512 printable ASCII characters, before running', async () => {
    for (const bad of ['', ' padded', 'line\nbreak', 'nul\0', 'é', 'x'.repeat(513)]) {
      await expect(call('t/ctx', { idempotencyKey: bad }), JSON.stringify(bad)).rejects.toMatchObject({
        code: 'invalid_idempotency_key',
      });
    }
    await expect(call('t/ctx', { attempt: 0 })).rejects.toMatchObject({ code: 'invalid_attempt' });
  });

  it("gives each workflow step its own key under the workflow's", async () => {
    const r = await call('t/flow', { idempotencyKey: 'run_1:7', attempt: 2 });
    expect(r.output).toEqual({
      first: { key: 'run_1:7/first', attempt: 2, run: null },
      second: { key: 'run_1:7/second', attempt: 2, run: null },
    });
  });

  it('passes them to a command skill as SKILLPLANE_IDEMPOTENCY_KEY and SKILLPLANE_ATTEMPT, verbatim', async () => {
    // Shell syntax in a key stays text: the command gets it in its environment, no shell reads it.
    const key = `$(touch ${join(dir, 'pwned')}); "quoted" 'single' \`tick\``;
    const r = await call('t/env', { idempotencyKey: key, attempt: 3 });
    expect(r.output).toEqual({ key, attempt: '3' });
    expect(existsSync(join(dir, 'pwned'))).toBe(false);
    const fresh = (await call('t/env')).output as { key: string; attempt: string };
    expect(fresh.key).toMatch(/^call_/);
    expect(fresh.attempt).toBe('1');
  });
});

describe('POST /v1/skills/{id}/execute', () => {
  it('passes the Idempotency-Key header to the skill, and refuses a malformed one with 400', async () => {
    const root = await makeTempDir('sp-call-identity-http-');
    await writeFiles(root, {
      'skills/ctx/skill.yaml': `${head('t/ctx')}kind: tool\nentry: ./index.mjs\n`,
      'skills/ctx/index.mjs':
        'export default async (input, ctx) => ({ key: ctx.idempotencyKey, attempt: ctx.attempt });',
    });
    const h = await startHarness({ script: () => ({ content: 'unused' }), agents: [], dir: root });
    const api = await buildServer(h.app.ports, {
      logger: false,
      validateResponses: true,
      defaultMetrics: false,
    });
    try {
      const exec = (headers: Record<string, string>) =>
        api.inject({ method: 'POST', url: '/v1/skills/t%2Fctx/execute', payload: { input: {} }, headers });
      const keyed = await exec({ 'idempotency-key': 'order-42' });
      expect(keyed.statusCode).toBe(200);
      expect(keyed.json()).toMatchObject({ output: { key: 'order-42', attempt: 1 } });
      const fresh = await exec({});
      expect((fresh.json() as { output: { key: string } }).output.key).toMatch(/^call_/);
      const bad = await exec({ 'idempotency-key': 'x'.repeat(513) });
      expect(bad.statusCode).toBe(400);
      expect(bad.json()).toMatchObject({ code: 'invalid_idempotency_key' });
    } finally {
      await api.close();
      await h.close();
      await cleanup([root]);
    }
  });
});
