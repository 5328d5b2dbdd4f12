/*
 * Writes the README's screenshots of the dashboard (docs/screenshots/*.png): the real server over
 * the scripted model with a few runs in each state, in Debian's Chromium.
 *   npx tsx scripts/screenshots.ts
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { ADMIN_KEY, signIn, startDashboard } from '../test/ui/fixture.js';

const out = join(import.meta.dirname, '..', 'docs', 'screenshots');
mkdirSync(out, { recursive: true });

const d = await startDashboard();
try {
  d.fanout.open();
  const mapped = await d.admin.createRun(
    {
      agent: 'assistant',
      strategy: 'parallel_map',
      input: 'fanout: summarise',
      items: ['alpha', 'beta', 'gamma'],
    },
    { wait: 10 },
  );
  await d.admin.createRun(
    { agent: 'assistant', input: 'what is skillplane?', priority: 'interactive' },
    { wait: 10 },
  );
  const approved = await d.admin.createRun({ agent: 'ops', input: 'danger: rotate the logs' }, { wait: 10 });
  const [first] = await d.admin.listApprovals({ run_id: approved.id });
  if (first !== undefined) await d.admin.decideApproval(first.id, { decision: 'approve', reason: 'routine' });
  await d.admin.waitForRun(approved.id, { timeoutMs: 10_000 });
  const denied = await d.admin.createRun({ agent: 'ops', input: 'danger: drop the table' }, { wait: 10 });
  const [second] = await d.admin.listApprovals({ run_id: denied.id });
  if (second !== undefined)
    await d.admin.decideApproval(second.id, { decision: 'deny', reason: 'not in prod' });
  const cancelled = await d.admin.createRun({
    agent: 'assistant',
    input: 'hold: a long job',
    priority: 'batch',
  });
  await d.admin.cancelRun(cancelled.id).catch(() => undefined);
  await d.admin.createRun({ agent: 'ops', input: 'danger: delete old reports' }, { wait: 10 });
  await d.admin.createRun({ agent: 'assistant', input: 'hold: still working' });

  const shot = async (page: Page, name: string) => {
    await page.screenshot({ path: join(out, `${name}.png`), fullPage: true });
    console.log(`wrote docs/screenshots/${name}.png`);
  };

  const signInPage = await (await d.browser.newContext({ viewport: { width: 1280, height: 720 } })).newPage();
  await signInPage.goto(`${d.url}/ui/`);
  await signInPage.getByRole('heading', { name: 'Sign in' }).waitFor();
  await shot(signInPage, 'sign-in');

  const page = await signIn(d, ADMIN_KEY, '#/runs');
  await page.locator('tr[data-run-id]').nth(6).waitFor();
  await shot(page, 'runs');
  await page.goto(`${d.url}/ui/#/runs/${mapped.id}`);
  await page.getByRole('group', { name: 'Parallel branches' }).waitFor();
  await shot(page, 'run');
  await page.goto(`${d.url}/ui/#/runs/${approved.id}`);
  await page.getByRole('region', { name: 'Approvals', exact: true }).waitFor();
  await shot(page, 'run-approved');
  await page.goto(`${d.url}/ui/#/approvals`);
  await page.locator('article.approval').first().waitFor();
  await shot(page, 'approvals');
  await page.goto(`${d.url}/ui/#/skills`);
  await page.locator('tr.load-error').first().waitFor();
  await shot(page, 'skills');
  await page.goto(`${d.url}/ui/#/workers`);
  await page.getByRole('region', { name: 'Model backends table' }).waitFor();
  await shot(page, 'workers');

  const dark = await signIn(d, ADMIN_KEY, `#/runs/${mapped.id}`, { colorScheme: 'dark' });
  await dark.getByRole('group', { name: 'Parallel branches' }).waitFor();
  await shot(dark, 'run-dark');
  const phone = await signIn(d, ADMIN_KEY, '#/runs', {
    viewport: { width: 390, height: 844 },
    deviceScaleFactor: 2,
    isMobile: true,
    hasTouch: true,
  });
  await phone.locator('tr[data-run-id]').first().waitFor();
  await shot(phone, 'runs-phone');
} finally {
  await d.close();
}
