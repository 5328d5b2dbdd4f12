import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, type StartedServer } from '../../src/api/index.js';
import { FakePlane, deadLetter } from '../api/fake-workers.js';
import { apiAgents, apiScript } from '../api/helpers.js';
import { startHarness, type Harness } from '../agents/harness.js';
import { cli as runCli, SOURCE, type CliResult } from './run-cli.js';

/*
 * `skillplane workers`, `workers dead-letters` and `workers retry` against a real server whose
 * worker plane is a fake port. They run from the sources (tsx): test/cli/cli.test.ts owns the
 * built binary's folder, and two files building it at once would race.
 */

const ADMIN_KEY = 'workers-cli-admin-0123456789';
const READER_KEY = 'workers-cli-reader-0123456789';

let h: Harness;
let enabled: StartedServer;
let disabled: StartedServer;
let disabledHarness: Harness;
const plane = new FakePlane();

beforeAll(async () => {
  [h, disabledHarness] = await Promise.all([
    startHarness({
      script: apiScript,
      agents: apiAgents,
      config: {
        auth: {
          keys: [
            { principal: 'ops', key: ADMIN_KEY, scopes: ['admin'] },
            { principal: 'viewer', key: READER_KEY, scopes: ['runs:read'] },
          ],
        },
      },
    }),
    startHarness({ script: apiScript, agents: apiAgents }),
  ]);
  h.app.ports.workers = plane;
  enabled = await startServer(h.app.ports, { host: '127.0.0.1', port: 0, logger: false });
  disabled = await startServer(disabledHarness.app.ports, { host: '127.0.0.1', port: 0, logger: false });
}, 120_000);

afterAll(async () => {
  await enabled?.close();
  await disabled?.close();
  await h?.close();
  await disabledHarness?.close();
});

function cli(args: string[], key = ADMIN_KEY, server: StartedServer = enabled): Promise<CliResult> {
  return runCli([...args, '--url', server.url, '--key', key], { entry: SOURCE, timeoutMs: 60_000 });
}

// Each case starts the CLI through tsx a few times (seconds each on a loaded machine).
describe('skillplane workers', { timeout: 120_000 }, () => {
  it('prints the broker, workers and queues; --json the status; exit 1 while the broker is down', async () => {
    plane.state = { ok: true, since: '2026-12-01T09:00:00.000Z' };
    const table = await cli(['workers']);
    expect(table.stderr).toBe('');
    expect(table.code).toBe(0);
    expect(table.stdout).toContain('executor  bullmq');
    expect(table.stdout).toContain('broker    redis://:***@127.0.0.1:6379 up since 2026-12-01T09:00:00.000Z');
    expect(table.stdout).toMatch(/^WORKER\s+HOST\s+PID\s+STATE\s+ALIVE/m);
    expect(table.stdout).toMatch(/^w1\s+node-a\s+4242\s+running\s+yes\s+skills\s+2\/4\s+10\s+1\s/m);
    expect(table.stdout).toMatch(/^w2\s.*\sno\s/m);
    expect(table.stdout).toMatch(/^skills\s+3\s+2\s+1\s+4\s+9\s+5$/m);

    const asJson = await cli(['workers', '--json']);
    expect(asJson.code).toBe(0);
    expect(JSON.parse(asJson.stdout)).toMatchObject({
      enabled: true,
      executor: 'bullmq',
      health: { ok: true },
      workers: [
        { id: 'w1', alive: true },
        { id: 'w2', alive: false },
      ],
      queues: [{ name: 'skills', dead: 5 }],
    });

    plane.state = {
      ok: false,
      reason: 'connection refused by 127.0.0.1:6390',
      since: '2026-12-01T09:30:00.000Z',
    };
    const down = await cli(['workers', 'status']);
    expect(down.code).toBe(1);
    expect(down.stdout).toContain(
      'DOWN since 2026-12-01T09:30:00.000Z: connection refused by 127.0.0.1:6390',
    );
    plane.state = { ok: true, since: '2026-12-01T09:00:00.000Z' };
  });

  it('lists dead letters with --queue and --limit, and refuses a limit outside 1-500 (exit 2)', async () => {
    plane.letters = [deadLetter('d1', null), deadLetter('d2', null, { queue: 'gpu' })];
    plane.listQueries = [];
    const listed = await cli(['workers', 'dead-letters', '--queue', 'gpu', '--limit', '5']);
    expect(listed.stderr).toBe('');
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^ID\s+QUEUE\s+SKILL\s+RUN\s+ATTEMPTS\s+FAILED AT\s+RETRIES\s+ERROR$/m);
    expect(listed.stdout).toMatch(
      /^d2\s+gpu\s+test\/record@1\.0\.0\s+-\s+3\s+2026-12-01T10:00:00\.000Z\s+0\s+\[skill_failed\] boom$/m,
    );
    expect(listed.stdout).not.toMatch(/^d1\s/m);
    expect(plane.listQueries).toEqual([{ queue: 'gpu', limit: 5 }]);

    const asJson = await cli(['workers', 'dead-letters', '--json']);
    expect(JSON.parse(asJson.stdout)).toMatchObject({ dead_letters: [{ id: 'd1' }, { id: 'd2' }] });

    const bad = await cli(['workers', 'dead-letters', '--limit', '0']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('expected an integer from 1 to 500');
  });

  it('retries a dead letter as the key principal; not_found and forbidden exit 1 with their code', async () => {
    plane.letters = [deadLetter('d1', null)];
    const retried = await cli(['workers', 'retry', 'd1']);
    expect(retried.stderr).toBe('');
    expect(retried.code).toBe(0);
    expect(retried.stdout).toBe('dead letter d1 queued again as job jd1-r1 (test/record@1.0.0 on skills)\n');
    const audit = await h.store.listAudit({ action: 'worker.dead_letter.retry', target: 'd1' });
    expect(audit.entries.map((e) => e.principal)).toEqual(['ops']);

    const missing = await cli(['workers', 'retry', 'nope']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^error \[not_found\]: .*nope/);
    const forbidden = await cli(['workers', 'retry', 'd1'], READER_KEY);
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toContain('error [forbidden]: principal viewer lacks the scope admin');
  });

  it('says the plane is not enabled on a server without it', async () => {
    const status = await cli(['workers'], ADMIN_KEY, disabled);
    expect(status.code).toBe(0);
    expect(status.stdout).toContain('executor  in-process');
    expect(status.stdout).toContain('the BullMQ worker plane is not enabled');
    const letters = await cli(['workers', 'dead-letters'], ADMIN_KEY, disabled);
    expect(letters.code).toBe(1);
    expect(letters.stderr).toMatch(/^error \[worker_plane_disabled\]: the worker plane is not enabled/);
  });
});
