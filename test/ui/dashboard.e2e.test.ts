import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ApiRun } from '../../src/client/index.js';
import { until } from '../../src/testing/index.js';
import { FakePlane } from '../api/fake-workers.js';
import {
  ADMIN_KEY,
  VIEWER_KEY,
  seriousViolations,
  signIn,
  startDashboard,
  type Dashboard,
} from './fixture.js';

/*
 * The dashboard in Debian's Chromium against the real server and the scripted model. Everything
 * is checked on screen; the API is used only to set up runs for the page to act on. Each page is
 * also checked with axe-core: no serious or critical violations.
 */

let d: Dashboard;

beforeAll(async () => {
  d = await startDashboard();
}, 45_000);

afterAll(async () => {
  await d?.close();
});

/** The run's heading (`Run <id> <status>`). */
function runHeading(page: Page) {
  return page.getByRole('heading', { level: 1, name: /^Run run_/ });
}

/** Waits until the run's heading shows `status`. */
async function headingShows(page: Page, status: string): Promise<void> {
  await runHeading(page).locator(`.status-${status}`).waitFor({ timeout: 10_000 });
}

/** A run of the `ops` agent waiting for the approval of its risk-tagged skill call. */
async function waitingRun(input: string): Promise<ApiRun> {
  const run = await d.admin.createRun({ agent: 'ops', input }, { wait: 10 });
  expect(run.status).toBe('waiting_approval');
  return run;
}

describe('dashboard at /ui', () => {
  it('serves the built page with a strict CSP', async () => {
    const res = await fetch(`${d.url}/ui/`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    const html = await res.text();
    expect(html).not.toMatch(/<script>(?!<\/script>)|<script(?![^>]*\bsrc=)[^>]*>/);
    const redirect = await fetch(`${d.url}/ui`, { redirect: 'manual' });
    expect(redirect.headers.get('location')).toBe('/ui/');
  });

  it('shows nothing but the sign-in without a valid key', async () => {
    const context = await d.browser.newContext();
    const page = await context.newPage();
    await page.goto(`${d.url}/ui/#/approvals`);
    await page.getByRole('heading', { name: 'Sign in' }).waitFor();
    expect(await page.getByRole('navigation').count()).toBe(0);
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByLabel('API key').fill('not-a-key-of-this-server');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('alert').filter({ hasText: 'not valid' }).waitFor();
    expect(await page.getByRole('navigation').count()).toBe(0);
    // A valid key is kept for the browser session: a reload stays signed in.
    await page.getByLabel('API key').fill(ADMIN_KEY);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { level: 1, name: 'Approvals' }).waitFor();
    await page.reload();
    await page.getByRole('heading', { level: 1, name: 'Approvals' }).waitFor();
    await context.close();
  });

  it('starts a parallel_map run from the page and shows its branches completing live', async () => {
    const page = await signIn(d, ADMIN_KEY);
    await page.getByRole('heading', { level: 1, name: 'Runs' }).waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await page.getByLabel('Agent', { exact: true }).first().selectOption('assistant');
    await page.getByLabel('Strategy').selectOption('parallel_map');
    await page.getByLabel('Priority', { exact: true }).first().selectOption('interactive');
    await page.getByLabel('Input').fill('fanout of three');
    await page.getByLabel('Items (one per line)').fill('alpha\nbeta\ngamma');
    await page.getByRole('button', { name: 'Start run' }).click();

    // The run page, while the branches still wait on the model: three columns side by side.
    await headingShows(page, 'running');
    const branches = page.getByRole('group', { name: 'Parallel branches' });
    for (const b of ['map.0', 'map.1', 'map.2'])
      await branches
        .getByRole('region', { name: `Branch ${b}` })
        .locator('.step-running')
        .waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    // Marks this document: it must still be the same one when the branches are shown complete.
    await page.evaluate('window.__sameDocument = true');
    d.fanout.open();
    for (const b of ['map.0', 'map.1', 'map.2'])
      await branches
        .getByRole('region', { name: `Branch ${b}` })
        .locator('.step-completed')
        .waitFor();
    await headingShows(page, 'completed');
    expect(await page.evaluate('window.__sameDocument === true')).toBe(true);
    await page.getByRole('region', { name: 'Usage and budget' }).getByText('of 32').waitFor();
    // The trace id links to the configured trace viewer.
    const traceId = (await d.admin.getRun(page.url().split('/').pop()!)).trace_id;
    expect(await page.getByRole('link', { name: traceId }).getAttribute('href')).toBe(
      `http://127.0.0.1:16686/trace/${traceId}`,
    );

    // The list shows it, with its strategy and priority, and filters by status.
    await page.getByRole('link', { name: 'Runs' }).click();
    const id = await runHeadingIdFromList(page, 'parallel_map');
    await page.getByLabel('Status').selectOption('failed');
    await page.getByText('No runs match.').waitFor();
    await page.getByLabel('Status').selectOption('completed');
    await page.locator(`tr[data-run-id="${id}"]`).getByText('interactive').waitFor();
    await page.context().close();
  });

  it('approves a risk-tagged step from the approvals page and the run page shows it finish', async () => {
    const run = await waitingRun('danger approve me');
    const page = await signIn(d, ADMIN_KEY, '#/approvals');
    const card = page.locator('article.approval').filter({ hasText: run.id });
    await card.getByText('test/danger').waitFor();
    await card.getByText('destructive').waitFor();
    await card.getByText('danger approve me').waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await card.getByLabel('Reason (optional)').fill('checked the target');
    await card.getByRole('button', { name: 'Approve' }).click();
    await page.getByRole('link', { name: `see run ${run.id}` }).click();
    await headingShows(page, 'completed');
    const decided = page.getByRole('region', { name: 'Approvals', exact: true }).locator('article.approval');
    await decided.locator('.status-approved').waitFor();
    await decided.getByText('admin: “checked the target”').waitFor();
    // The approval re-queued the run: its events mark where it was resumed.
    await page.getByRole('list', { name: 'Run events' }).getByText('Resumed here').waitFor();
    await page
      .getByRole('note')
      .filter({ hasText: /^Resumed once/ })
      .waitFor();
    await page.getByRole('region', { name: 'Audit', exact: true }).getByText('approval.decide').waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await page.context().close();
  });

  it('denies another with a reason, and the run page shows it failed', async () => {
    const run = await waitingRun('danger deny me');
    const page = await signIn(d, ADMIN_KEY, '#/approvals');
    const card = page.locator('article.approval').filter({ hasText: run.id });
    await card.getByLabel('Reason (optional)').fill('not today');
    await card.getByRole('button', { name: 'Deny' }).click();
    await page.getByRole('link', { name: `see run ${run.id}` }).click();
    await headingShows(page, 'failed');
    const decided = page.getByRole('region', { name: 'Approvals', exact: true }).locator('article.approval');
    await decided.locator('.status-denied').waitFor();
    await decided.getByText('admin: “not today”').waitFor();
    await page.context().close();
  });

  it('updates the run list over SSE without a reload: new runs and status changes', async () => {
    const run = await d.admin.createRun({ agent: 'assistant', input: 'hold the list' });
    const page = await signIn(d, ADMIN_KEY, '#/runs');
    const row = page.locator(`tr[data-run-id="${run.id}"]`);
    await row.locator('.status-running').waitFor();
    await page.evaluate('window.__sameDocument = true');
    const later = await d.admin.createRun({ agent: 'assistant', input: 'hold it too' });
    // The page does not poll and is not reloaded: only the event stream can bring these.
    await page.locator(`tr[data-run-id="${later.id}"]`).waitFor({ timeout: 5_000 });
    await d.admin.cancelRun(run.id);
    await d.admin.cancelRun(later.id);
    await row.locator('.status-cancelled').waitFor({ timeout: 5_000 });
    await page
      .locator(`tr[data-run-id="${later.id}"]`)
      .locator('.status-cancelled')
      .waitFor({ timeout: 5_000 });
    expect(await page.evaluate('window.__sameDocument === true')).toBe(true);
    await page.context().close();
  });

  it('cancels a running run from its page', async () => {
    const run = await d.admin.createRun({ agent: 'assistant', input: 'hold on' });
    await until(async () => (await d.admin.getRun(run.id)).status === 'running', 10_000, 'the run to start');
    const page = await signIn(d, ADMIN_KEY, `#/runs/${run.id}`);
    await headingShows(page, 'running');
    await page.getByRole('status').filter({ hasText: 'Live' }).waitFor();
    await page.getByRole('button', { name: 'Cancel run' }).click();
    await headingShows(page, 'cancelled');
    expect(await page.getByRole('button', { name: 'Cancel run' }).count()).toBe(0);
    await page.context().close();
  });

  it('shows the router’s choice in the step tree, with each step’s input and output', async () => {
    const run = await d.admin.createRun(
      {
        strategy: 'router',
        agents: ['assistant', 'ops'],
        input: 'route me please',
        options: { routes: [{ match: 'route', agent: 'assistant' }] },
      },
      { wait: 10 },
    );
    const page = await signIn(d, ADMIN_KEY, `#/runs/${run.id}`);
    await headingShows(page, 'completed');
    const route = page.locator('details.step').filter({ hasText: 'route' }).first();
    await route.getByText('chose assistant (by rule)').waitFor();
    const model = page.locator('details.step').filter({ hasText: 'test-model' }).first();
    await model.locator('summary').click();
    await model.getByLabel('Output').getByText('echo: route me please').waitFor();
    await page.context().close();
  });

  it('shows a handoff from one agent to the next', async () => {
    const run = await d.admin.createRun(
      { agent: 'triage', strategy: 'handoff', input: 'escalate this' },
      { wait: 10 },
    );
    const page = await signIn(d, ADMIN_KEY, `#/runs/${run.id}`);
    await headingShows(page, 'completed');
    await page.locator('details.step').filter({ hasText: 'handoff' }).getByText('triage → expert').waitFor();
    await page.context().close();
  });

  it('marks a step that was retried', async () => {
    const run = await d.admin.createRun({ agent: 'fixer', input: 'flaky once' }, { wait: 10 });
    const page = await signIn(d, ADMIN_KEY, `#/runs/${run.id}`);
    await headingShows(page, 'completed');
    const skill = page.locator('details.step').filter({ hasText: 'test/flaky@1.0.0' });
    await skill.getByText('retry: attempt 2').waitFor();
    await page.context().close();
  });

  it('shows a bad manifest’s load error with its file, field and reason on the skills page', async () => {
    const page = await signIn(d, ADMIN_KEY, '#/skills');
    const errors = page.getByRole('region', { name: /^Load errors/ });
    const row = errors.locator('tr.load-error').filter({ hasText: 'broken/skill.yaml' });
    await row.getByText('flavour', { exact: true }).waitFor();
    await row.getByText('unknown field').waitFor();
    // Versions side by side, and the approval-gated skill says so.
    const echo = page.locator('[data-skill-id="test/echo"]');
    await echo.getByRole('article', { name: 'test/echo version 1.1.0' }).waitFor();
    await echo.getByRole('article', { name: 'test/echo version 1.0.0' }).waitFor();
    const danger = page.locator('[data-skill-id="test/danger"]');
    await danger.getByText('Try test/danger@1.0.0').click();
    await danger.getByRole('note').filter({ hasText: 'Approval-gated' }).waitFor();
    const echoTry = echo.locator('details.try');
    await echoTry.getByText('Try test/echo@1.1.0').click();
    await echoTry.getByLabel('Input (JSON)').fill('{"word": "bonjour"}');
    await echoTry.getByRole('button', { name: 'Execute' }).click();
    await echoTry.getByLabel('Output').getByText('"next": true').waitFor();
    expect(await seriousViolations(page)).toEqual([]);
    await page.context().close();
  });

  it('hides the approve, new-run, cancel and try-it buttons from a key without those scopes', async () => {
    const run = await waitingRun('danger seen by a viewer');
    const page = await signIn(d, VIEWER_KEY, '#/approvals');
    const card = page.locator('article.approval').filter({ hasText: run.id });
    await card.getByText('test/danger').waitFor();
    await page.getByRole('note').filter({ hasText: 'approvals:write' }).waitFor();
    expect(await card.getByRole('button').count()).toBe(0);
    await page.getByRole('link', { name: 'Runs' }).click();
    await page.getByRole('heading', { level: 2, name: 'All runs' }).waitFor();
    expect(await page.getByRole('heading', { name: 'New run' }).count()).toBe(0);
    await page.goto(`${d.url}/ui/#/runs/${run.id}`);
    await headingShows(page, 'waiting_approval');
    expect(await page.getByRole('button', { name: /Cancel|Approve|Deny/ }).count()).toBe(0);
    await page.getByRole('link', { name: 'Skills' }).click();
    await page.locator('[data-skill-id="test/echo"]').waitFor();
    expect(await page.getByText(/^Try /).count()).toBe(0);
    await page.context().close();
    await d.admin.decideApproval((await d.admin.listApprovals({ run_id: run.id }))[0]!.id, {
      decision: 'deny',
    });
  });

  it('is usable from the keyboard, readable in dark mode and on a phone', async () => {
    const dark = await signIn(d, ADMIN_KEY, '#/runs', { colorScheme: 'dark' });
    await dark.locator('tr[data-run-id]').first().waitFor();
    await dark.keyboard.press('Tab');
    expect(await dark.evaluate('document.activeElement.textContent')).toBe('Skip to content');
    for (let i = 0; i < 3; i++) await dark.keyboard.press('Tab');
    expect(await dark.evaluate('document.activeElement.textContent')).toBe('Skills');
    await dark.keyboard.press('Enter');
    await dark.getByRole('heading', { level: 1, name: 'Skills' }).waitFor();
    expect(await seriousViolations(dark)).toEqual([]);
    const first = await d.admin.listRuns({ limit: 1 });
    await dark.goto(`${d.url}/ui/#/runs/${first.runs[0]!.id}`);
    await runHeading(dark).waitFor();
    expect(await seriousViolations(dark)).toEqual([]);
    await dark.context().close();

    const phone = await signIn(d, ADMIN_KEY, '#/runs', {
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
    });
    const row = phone.locator('tr[data-run-id]').first();
    await row.waitFor();
    // Each run is a card as wide as the screen, its cells labelled by column.
    const box = await row.boundingBox();
    expect(box?.width ?? 0).toBeLessThanOrEqual(390);
    expect(await phone.evaluate('document.documentElement.scrollWidth <= 390')).toBe(true);
    expect(await seriousViolations(phone)).toEqual([]);
    await phone.context().close();
  });

  it('shows the scheduler, the model backends and the worker plane', async () => {
    const page = await signIn(d, ADMIN_KEY, '#/workers');
    await page.getByRole('heading', { level: 1, name: 'Workers and queues' }).waitFor();
    await page.getByRole('meter', { name: 'Scheduler slots in use' }).waitFor();
    await page.getByRole('region', { name: 'Model backends table' }).getByText('test-model').waitFor();
    await page.getByText('The worker plane is off').waitFor();
    expect(await seriousViolations(page)).toEqual([]);

    // With the worker plane on: the broker, each worker's heartbeat and each queue's depth. The
    // plane's own answers come from a port the test sets (test/workers runs the real BullMQ one).
    const ports = d.harness.app.ports;
    ports.workers = new FakePlane();
    try {
      await page.reload();
      const plane = page.getByRole('region', { name: 'Worker plane' });
      await plane.getByText('redis://:***@127.0.0.1:6379').waitFor();
      await plane.getByRole('listitem').filter({ hasText: 'w1' }).getByText('last heartbeat').waitFor();
      await plane.getByRole('listitem').filter({ hasText: 'w2' }).getByText('gone').waitFor();
      await plane.getByText('3 waiting, 2 active, 1 delayed').waitFor();
      expect(await seriousViolations(page)).toEqual([]);
    } finally {
      ports.workers = undefined;
    }
    await page.context().close();
  });
});

/** Finds the run of `strategy` in the list and returns its id. */
async function runHeadingIdFromList(page: Page, strategy: string): Promise<string> {
  const row = page.locator('tr[data-run-id]').filter({ hasText: strategy }).first();
  await row.waitFor();
  const id = await row.getAttribute('data-run-id');
  if (id === null) throw new Error('run row without id');
  return id;
}
