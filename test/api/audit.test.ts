import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type StartedServer } from '../../src/api/index.js';
import { SkillplaneApiError, SkillplaneClient, type AuditEntry } from '../../src/client/index.js';
import { until } from '../../src/testing/index.js';
import { startHarness, type Harness } from '../agents/harness.js';
import { apiAgents, apiScript } from './helpers.js';

/*
 * The audit trail answers "who did what" for a scripted scenario through the HTTP API with API
 * keys: alice creates a run that needs an approval and bob approves it; alice starts another run
 * and root cancels it; alice calls a skill with secrets through REST, OpenClaw and MCP; root
 * reloads the skills; strangers are refused. Carol, the auditor, reads it all back.
 */

const KEYS = {
  alice: 'audit-alice-key-0123456789',
  bob: 'audit-bob-key-0123456789',
  carol: 'audit-carol-key-0123456789',
  root: 'audit-root-key-0123456789',
  mallory: 'audit-mallory-key-0123456789',
  dan: 'audit-dan-key-0123456789',
};

/** A skill whose `password` and `auth.token` inputs are sensitive. */
export function writeSecretSkill(dir: string): void {
  const d = join(dir, 'skills', 'secret');
  mkdirSync(d, { recursive: true });
  writeFileSync(
    join(d, 'skill.yaml'),
    [
      'skill_id: test/secret',
      'version: 1.0.0',
      'kind: tool',
      'description: takes a password',
      'entry: ./index.mjs',
      'sensitive: [password, auth.token, accounts.pin]',
      'input_schema: {type: object, properties: {user: {type: string}}}',
      '',
    ].join('\n'),
  );
  writeFileSync(join(d, 'index.mjs'), 'export default async (input) => ({ user: input.user ?? null });\n');
}

let dir: string;
let h: Harness;
let server: StartedServer;
const client = (who: keyof typeof KEYS) => new SkillplaneClient({ baseUrl: server.url, apiKey: KEYS[who] });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'sp-audit-'));
  writeSecretSkill(dir);
  h = await startHarness({
    dir,
    script: apiScript,
    agents: apiAgents,
    config: {
      auth: {
        visibility: 'all',
        keys: [
          {
            principal: 'alice',
            key: KEYS.alice,
            scopes: ['runs:read', 'runs:write', 'skills:read', 'skills:execute'],
          },
          { principal: 'bob', key: KEYS.bob, scopes: ['runs:read', 'approvals:write'] },
          { principal: 'carol', key: KEYS.carol, scopes: ['runs:read', 'audit:read'] },
          { principal: 'root', key: KEYS.root, scopes: ['admin'] },
          { principal: 'mallory', key: KEYS.mallory, scopes: ['runs:read'] },
          { principal: 'dan', key: KEYS.dan, scopes: ['skills:execute'] },
        ],
      },
    },
  });
  server = await startServer(h.app.ports, { host: '127.0.0.1', port: 0, logger: false });
}, 60_000);

afterAll(async () => {
  await server?.close();
  await h?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

const SECRET_INPUT = {
  user: 'ann',
  password: 'hunter2',
  auth: { token: 't0k3n', scheme: 'basic' },
  accounts: [{ pin: '1234', bank: 'x' }, { bank: 'y' }],
};
const REDACTED_INPUT = {
  user: 'ann',
  password: '[redacted]',
  auth: { token: '[redacted]', scheme: 'basic' },
  accounts: [{ pin: '[redacted]', bank: 'x' }, { bank: 'y' }],
};

async function all(query: Parameters<SkillplaneClient['audit']>[0] = {}): Promise<AuditEntry[]> {
  const out: AuditEntry[] = [];
  for await (const e of client('carol').iterateAudit({ limit: 1000, ...query })) out.push(e);
  return out;
}

function post(path: string, body: unknown, key?: string): Promise<Response> {
  return fetch(`${server.url}${path}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(key === undefined ? {} : { authorization: `Bearer ${key}` }),
    },
    body: JSON.stringify(body),
  });
}

describe('the audit trail of a scripted scenario', { timeout: 60_000 }, () => {
  let approvedRun: string;
  let cancelledRun: string;
  let approvalId: string;

  beforeAll(async () => {
    // alice: a run whose risk-tagged skill call waits for an approval; bob approves it.
    const waiting = await client('alice').createRun({ agent: 'ops', input: 'danger now' }, { wait: 20 });
    expect(waiting.status).toBe('waiting_approval');
    approvedRun = waiting.id;
    const [pending] = await client('bob').listApprovals({ run_id: approvedRun, status: 'pending' });
    approvalId = pending!.id;
    await client('bob').decideApproval(approvalId, { decision: 'approve', reason: 'looks fine' });
    expect((await client('alice').waitForRun(approvedRun, { timeoutMs: 20_000 })).status).toBe('completed');

    // alice: a slow run; root cancels it.
    const slow = await client('alice').createRun({ agent: 'assistant', input: 'sleep 30000' });
    cancelledRun = slow.id;
    expect((await client('root').cancelRun(cancelledRun)).status).toBe('cancelled');

    // alice: the secret skill through REST, OpenClaw and MCP.
    expect((await client('alice').executeSkill('test/secret', SECRET_INPUT)).output).toEqual({ user: 'ann' });
    const claw = await post('/tools/invoke', { tool: 'test/secret', args: SECRET_INPUT }, KEYS.alice);
    expect(claw.status).toBe(200);
    const mcp = new Client({ name: 'audit-test', version: '1.0.0' });
    await mcp.connect(
      new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${KEYS.alice}` } },
      }),
    );
    try {
      const r = (await mcp.callTool({ name: 'test__secret', arguments: SECRET_INPUT })) as CallToolResult;
      expect(r.isError ?? false).toBe(false);
    } finally {
      await mcp.close();
    }

    // root reloads the skills.
    await client('root').reloadSkills();

    // Refusals: no key, a wrong key, a key without the scope.
    expect((await fetch(`${server.url}/v1/agents/runs`)).status).toBe(401);
    const wrong = new SkillplaneClient({ baseUrl: server.url, apiKey: 'not-a-key-0123456789' });
    await expect(wrong.listRuns()).rejects.toMatchObject({ status: 401 });
    await expect(client('mallory').audit()).rejects.toMatchObject({ status: 403, code: 'forbidden' });
    await expect(client('alice').reloadSkills()).rejects.toMatchObject({ status: 403 });

    // The trail is written beside the answers; wait until the last writes landed.
    await until(async () => (await all({ action: 'auth.failure' })).length === 4, 10_000, 'auth failures');
    await until(
      async () => (await all({ action: 'skill.execute', target: 'test/secret@1.0.0' })).length === 3,
      10_000,
      'skill calls',
    );
  }, 60_000);

  it('answers who created, approved and cancelled', async () => {
    const created = await all({ action: 'run.create' });
    expect(created.map((e) => [e.principal, e.target]).sort()).toEqual(
      [
        ['alice', approvedRun],
        ['alice', cancelledRun],
      ].sort(),
    );
    const decided = await all({ action: 'approval.decide' });
    expect(decided).toHaveLength(1);
    expect(decided[0]).toMatchObject({
      principal: 'bob',
      target: approvalId,
      run_id: approvedRun,
      data: { decision: 'approved', reason: 'looks fine' },
    });
    const cancelled = await all({ action: 'run.cancel' });
    expect(cancelled.map((e) => [e.principal, e.target, e.run_id])).toEqual([
      ['root', cancelledRun, cancelledRun],
    ]);
    expect((await all({ action: 'skills.reload' })).map((e) => e.principal)).toEqual(['root']);
    // Trace ids tie run entries to the run's trace.
    const run = await client('carol').getRun(approvedRun);
    expect(created.find((e) => e.target === approvedRun)!.trace_id).toBe(run.trace_id);
  });

  it('answers which skills ran through each door, by whom, with sensitive inputs redacted', async () => {
    const calls = await all({ action: 'skill.execute' });
    const byDoor = (door: string) =>
      calls
        .filter((e) => e.data?.door === door)
        .map((e) => ({ principal: e.principal, skill: e.target, ok: e.data?.ok, input: e.data?.input }));
    for (const door of ['http', 'openclaw', 'mcp'])
      expect(byDoor(door), door).toEqual([
        { principal: 'alice', skill: 'test/secret@1.0.0', ok: true, input: REDACTED_INPUT },
      ]);
    const inRun = calls.filter((e) => e.data?.door === 'run');
    expect(inRun).toHaveLength(1);
    expect(inRun[0]).toMatchObject({
      principal: 'alice',
      target: 'test/danger@1.0.0',
      run_id: approvedRun,
      data: { ok: true, approved_by: 'bob', input: { label: 'wipe' } },
    });
    // No secret reached the trail, whatever the door.
    expect(JSON.stringify(calls)).not.toMatch(/hunter2|t0k3n|1234/);
  });

  it('records refused requests with the principal, route and reason', async () => {
    const failures = (await all({ action: 'auth.failure' })).map((e) => ({
      principal: e.principal,
      route: e.target,
      status: e.data?.status,
      code: e.data?.code,
      scope: e.data?.scope,
      source: e.data?.source,
    }));
    expect(failures).toEqual(
      expect.arrayContaining([
        {
          principal: null,
          route: '/v1/agents/runs',
          status: 401,
          code: 'unauthorized',
          scope: undefined,
          source: '127.0.0.1',
        },
        {
          principal: 'mallory',
          route: '/v1/audit',
          status: 403,
          code: 'forbidden',
          scope: 'audit:read',
          source: '127.0.0.1',
        },
        {
          principal: 'alice',
          route: '/v1/skills/reload',
          status: 403,
          code: 'forbidden',
          scope: 'admin',
          source: '127.0.0.1',
        },
      ]),
    );
    const invalid = await all({ action: 'auth.failure', principal: 'nobody' });
    expect(invalid).toEqual([]);
    const reasons = (await all({ action: 'auth.failure' })).map((e) => e.data?.reason);
    expect(reasons).toContain('the API key is not valid');
  });

  it("shows a run's entries in its detail, only to callers with audit:read", async () => {
    const detail = await client('carol').getRun(approvedRun);
    expect(detail.audit?.map((e) => e.action).reverse()).toEqual([
      'run.create',
      'approval.decide',
      'skill.execute',
    ]);
    expect(detail.audit?.every((e) => e.run_id === approvedRun)).toBe(true);
    expect((await client('alice').getRun(approvedRun)).audit).toBeUndefined();
    expect((await client('root').getRun(cancelledRun)).audit?.map((e) => e.action).sort()).toEqual([
      'run.cancel',
      'run.create',
    ]);
  });

  it('filters by principal, run and time, and pages with a stable cursor', async () => {
    const everything = await all();
    expect(everything.length).toBeGreaterThanOrEqual(12);
    for (let i = 1; i < everything.length; i++)
      expect(everything[i - 1]!.at >= everything[i]!.at, 'newest first').toBe(true);
    const paged: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const page = await client('carol').audit({ limit: 3, ...(cursor === undefined ? {} : { cursor }) });
      expect(page.entries.length).toBeLessThanOrEqual(3);
      paged.push(...page.entries.map((e) => e.id));
      cursor = page.next_cursor ?? undefined;
      pages++;
    } while (cursor !== undefined);
    expect(paged).toEqual(everything.map((e) => e.id));
    expect(pages).toBeGreaterThanOrEqual(4);

    expect((await all({ principal: 'bob' })).map((e) => e.action)).toEqual(['approval.decide']);
    const ofRun = await all({ run_id: approvedRun });
    expect(new Set(ofRun.map((e) => e.run_id))).toEqual(new Set([approvedRun]));
    const mid = everything[Math.floor(everything.length / 2)]!;
    const since = await all({ since: mid.at });
    const until_ = await all({ until: mid.at });
    expect(since.length + until_.length).toBe(everything.length);
    expect(since.every((e) => e.at >= mid.at) && until_.every((e) => e.at < mid.at)).toBe(true);
    // Offsets are accepted and normalised to UTC.
    const plus2 = new Date(Date.parse(mid.at)).toISOString().replace('Z', '+00:00');
    expect((await all({ since: plus2 })).length).toBe(since.length);
  });

  it('refuses a bad cursor, bad times and unknown parameters with problem documents', async () => {
    const carol = client('carol');
    await expect(carol.audit({ cursor: 'garbage!' })).rejects.toMatchObject({
      status: 400,
      code: 'invalid_cursor',
    });
    const badSince = await carol.audit({ since: 'yesterday' }).catch((e: unknown) => e);
    expect(badSince).toBeInstanceOf(SkillplaneApiError);
    expect(badSince).toMatchObject({ status: 400, code: 'invalid_request' });
    const res = await fetch(`${server.url}/v1/audit?nope=1&limit=5000`, {
      headers: { authorization: `Bearer ${KEYS.carol}` },
    });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toContain('application/problem+json');
  });

  it('records an MCP key probing for its scopes only when a request ends refused', async () => {
    const mcp = new Client({ name: 'audit-probe', version: '1.0.0' });
    await mcp.connect(
      new StreamableHTTPClientTransport(new URL(`${server.url}/mcp`), {
        requestInit: { headers: { authorization: `Bearer ${KEYS.dan}` } },
      }),
    );
    try {
      // dan holds skills:execute only: the door tries skills:read first, then lets him in.
      const r = (await mcp.callTool({ name: 'test__echo', arguments: { x: 1 } })) as CallToolResult;
      expect(r.isError ?? false).toBe(false);
      await expect(mcp.listTools()).rejects.toThrow(/skills:read/);
    } finally {
      await mcp.close();
    }
    await until(
      async () => (await all({ principal: 'dan', action: 'auth.failure' })).length > 0,
      10_000,
      'dan',
    );
    const failures = await all({ principal: 'dan', action: 'auth.failure' });
    expect(failures.map((e) => [e.target, e.data?.scope])).toEqual([['/mcp', 'skills:read']]);
    const calls = await all({ principal: 'dan', action: 'skill.execute' });
    expect(calls.map((e) => [e.target, e.data?.door, e.data?.input])).toEqual([
      ['test/echo@1.0.0', 'mcp', { x: 1 }],
    ]);
  });
});
