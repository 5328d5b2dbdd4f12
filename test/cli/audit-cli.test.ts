import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type StartedServer } from '../../src/api/index.js';
import { apiAgents, apiScript } from '../api/helpers.js';
import { startHarness, type Harness } from '../agents/harness.js';
import { FakeClock } from '../../src/testing/index.js';
import { cli as runCli, SOURCE, type CliResult } from './run-cli.js';

/*
 * `skillplane audit` against a real server. It runs from the sources (tsx): test/cli/cli.test.ts
 * owns the built binary's folder, and two files building it at once would race.
 */

const AUDITOR_KEY = 'audit-cli-auditor-0123456789';
const VIEWER_KEY = 'audit-cli-viewer-0123456789';

let h: Harness;
let server: StartedServer;
const clock = new FakeClock('2026-12-01T09:00:00.000Z');

beforeAll(async () => {
  h = await startHarness({
    script: apiScript,
    agents: apiAgents,
    clock,
    config: {
      auth: {
        keys: [
          { principal: 'auditor', key: AUDITOR_KEY, scopes: ['audit:read'] },
          { principal: 'viewer', key: VIEWER_KEY, scopes: ['runs:read'] },
        ],
      },
    },
  });
  server = await startServer(h.app.ports, { host: '127.0.0.1', port: 0, logger: false });
  const add = async (e: Parameters<typeof h.store.appendAudit>[0]) => {
    await h.store.appendAudit(e);
    clock.advance(60_000);
  };
  await add({ principal: 'alice', action: 'run.create', target: 'run_1', run_id: 'run_1' });
  await add({
    principal: 'bob',
    action: 'approval.decide',
    target: 'apr_1',
    run_id: 'run_1',
    data: { decision: 'approved' },
  });
  await add({
    principal: 'alice',
    action: 'skill.execute',
    target: 'acme/login@1.0.0',
    run_id: 'run_1',
    data: { door: 'run', ok: true, code: null, approved_by: 'bob', input: { password: '[redacted]' } },
  });
  await add({ principal: 'root', action: 'run.cancel', target: 'run_2', run_id: 'run_2' });
}, 60_000);

afterAll(async () => {
  await server?.close();
  await h?.close();
});

function cli(args: string[], key = AUDITOR_KEY): Promise<CliResult> {
  return runCli([...args, '--url', server.url, '--key', key], { entry: SOURCE, timeoutMs: 60_000 });
}

describe('skillplane audit', { timeout: 120_000 }, () => {
  it('prints the trail newest first; filters by run, principal, action and time', async () => {
    const table = await cli(['audit']);
    expect(table.stderr).toBe('');
    expect(table.code).toBe(0);
    const lines = table.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^AT\s+PRINCIPAL\s+ACTION\s+TARGET\s+RUN\s+DETAIL$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[2])).toEqual([
      'run.cancel',
      'skill.execute',
      'approval.decide',
      'run.create',
    ]);
    expect(table.stdout).toMatch(
      /^2026-12-01T09:02:00\.000Z\s+alice\s+skill\.execute\s+acme\/login@1\.0\.0\s+run_1\s+door=run ok approved_by=bob input=\{"password":"\[redacted\]"\}$/m,
    );

    const byRun = await cli(['audit', '--run', 'run_1', '--principal', 'bob']);
    expect(byRun.stdout).toMatch(
      /^2026-12-01T09:01:00\.000Z\s+bob\s+approval\.decide\s+apr_1\s+run_1\s+decision=approved$/m,
    );
    expect(byRun.stdout.trim().split('\n')).toHaveLength(2);

    const timed = await cli([
      'audit',
      '--since',
      '2026-12-01T10:01:00+01:00',
      '--until',
      '2026-12-01T09:03:00Z',
      '--json',
    ]);
    expect(timed.code).toBe(0);
    expect(JSON.parse(timed.stdout)).toMatchObject({
      entries: [{ action: 'skill.execute' }, { action: 'approval.decide' }],
      next_cursor: null,
    });

    const none = await cli(['audit', '--action', 'skills.reload']);
    expect(none.stdout).toBe('no audit entries\n');
  });

  it('pages with --limit and --cursor', async () => {
    const first = await cli(['audit', '--limit', '3', '--json']);
    const page = JSON.parse(first.stdout) as { entries: { action: string }[]; next_cursor: string };
    expect(page.entries).toHaveLength(3);
    const shown = await cli(['audit', '--limit', '3']);
    expect(shown.stdout).toContain(`more: skillplane audit … --cursor ${page.next_cursor}`);
    const rest = await cli(['audit', '--limit', '3', '--cursor', page.next_cursor, '--json']);
    expect(JSON.parse(rest.stdout)).toEqual({
      entries: [expect.objectContaining({ action: 'run.create' })],
      next_cursor: null,
    });
  });

  it('exits 1 with forbidden without audit:read, 2 for a bad option value', async () => {
    const forbidden = await cli(['audit'], VIEWER_KEY);
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toContain('error [forbidden]: principal viewer lacks the scope audit:read');
    const badTime = await cli(['audit', '--since', 'yesterday']);
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toContain('expected an ISO-8601 time');
    const badLimit = await cli(['audit', '--limit', '0']);
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toContain('expected an integer from 1 to 1000');
  });
});
