import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContextOptions, type Page } from 'playwright-core';
import { build } from 'vite';
import { startServer, type StartedServer } from '../../src/api/index.js';
import { SkillplaneClient } from '../../src/client/index.js';
import type { Script } from '../../src/testing/index.js';
import { offered, startHarness, toolResultCount, userText, type Harness } from '../agents/harness.js';

/*
 * The dashboard against the real server: the UI built with Vite, a listening server over an app
 * with real skills (one risk-tagged, one bad manifest) and the scripted model, API keys of two
 * scopes, and Debian's Chromium driven by playwright-core. Shared by the e2e test and
 * scripts/screenshots.ts.
 */

const repo = join(import.meta.dirname, '..', '..');
export const CHROMIUM = '/usr/bin/chromium';
export const ADMIN_KEY = 'admin-key-0123456789abcdef';
/** Reads runs and skills, nothing else: no new run, cancel, approve or try-it buttons. */
export const VIEWER_KEY = 'viewer-key-0123456789abcdef';

/** Flags that keep Chromium off the network: without them it hangs on a closed network. */
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** A promise the test resolves: model calls of gated runs wait on it. */
export interface Gate {
  readonly opened: Promise<void>;
  open(): void;
}

function gate(): Gate {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

export interface Dashboard {
  url: string;
  harness: Harness;
  server: StartedServer;
  browser: Browser;
  /** An admin client of the API, for setting up runs the page then acts on. */
  admin: SkillplaneClient;
  /** `fanout` branches answer only once this opens. */
  fanout: Gate;
  close(): Promise<void>;
}

/**
 * The model: `fanout` branches wait for the gate, `danger` calls the risk-tagged skill, `flaky`
 * the skill that crashes on its first call, `escalate` hands off to the expert, `hold`
 * answers after a minute (a run to cancel), anything else is echoed.
 */
function script(fanout: Gate): Script {
  return async ({ body }) => {
    const text = userText(body);
    if (text.includes('fanout')) {
      await fanout.opened;
      return { content: `mapped: ${text.slice(0, 80)}` };
    }
    if (text.startsWith('danger') && toolResultCount(body) === 0 && offered(body).includes('test__danger'))
      return { tool_calls: [{ name: 'test__danger', arguments: { label: text } }] };
    if (
      text.startsWith('escalate') &&
      toolResultCount(body) === 0 &&
      offered(body).includes('transfer_to_expert')
    )
      return { tool_calls: [{ name: 'transfer_to_expert', arguments: {} }] };
    if (text.startsWith('flaky') && toolResultCount(body) === 0 && offered(body).includes('test__flaky'))
      return { tool_calls: [{ name: 'test__flaky', arguments: { marker: text.replace(/\W+/g, '-') } }] };
    if (text.startsWith('hold')) return { content: 'late', delay_ms: 60_000 };
    return { content: `echo: ${text}` };
  };
}

/** A manifest with an unknown field, and a second version of `test/echo`. */
function writeExtraSkills(dir: string): void {
  const broken = join(dir, 'skills', 'broken');
  mkdirSync(broken, { recursive: true });
  writeFileSync(
    join(broken, 'skill.yaml'),
    'skill_id: test/broken\nversion: 1.0.0\nkind: tool\ndescription: bad\nentry: ./index.mjs\nflavour: spicy\n',
  );
  writeFileSync(join(broken, 'index.mjs'), 'export default async () => ({});\n');
  const echo2 = join(dir, 'skills', 'echo-next');
  mkdirSync(echo2, { recursive: true });
  writeFileSync(
    join(echo2, 'skill.yaml'),
    'skill_id: test/echo\nversion: 1.1.0\nkind: tool\ndescription: test skill echo, next version\n' +
      'entry: ./index.mjs\ninput_schema: {type: object}\n',
  );
  writeFileSync(join(echo2, 'index.mjs'), 'export default async (input) => ({ echo: input, next: true });\n');
}

/** Builds the UI into a temporary folder, starts everything and launches Chromium. */
export async function startDashboard(): Promise<Dashboard> {
  if (!existsSync(CHROMIUM))
    throw new Error(
      `${CHROMIUM} is missing: the dashboard tests drive Debian's Chromium (apt-get install -y chromium; .ci/run installs it)`,
    );
  const dir = mkdtempSync(join(tmpdir(), 'sp-ui-'));
  // Built for this test into its own folder: never a stale dist/ui, never racing `npm run build`.
  const uiDir = join(dir, 'ui-build');
  await build({
    configFile: join(repo, 'src', 'ui', 'vite.config.ts'),
    logLevel: 'warn',
    build: { outDir: uiDir, emptyOutDir: true },
  });
  writeExtraSkills(dir);
  const fanout = gate();
  const harness = await startHarness({
    script: script(fanout),
    dir,
    agents: [
      { name: 'assistant', description: 'general' },
      { name: 'ops', skills: ['test/danger'] },
      { name: 'fixer', skills: ['test/flaky'] },
      { name: 'triage', handoffs: ['expert'] },
      { name: 'expert' },
    ],
    config: {
      tracing: { viewer_url: 'http://127.0.0.1:16686/trace/{trace_id}' },
      auth: {
        // The viewer key reads every run (the page's approvals are of the admin's runs).
        visibility: 'all',
        keys: [
          { principal: 'admin', key: ADMIN_KEY, scopes: ['admin'] },
          { principal: 'viewer', key: VIEWER_KEY, scopes: ['runs:read', 'skills:read'] },
        ],
      },
    },
  });
  const server = await startServer(harness.app.ports, { host: '127.0.0.1', port: 0, logger: false, uiDir });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, headless: true });
  return {
    url: server.url,
    harness,
    server,
    browser,
    admin: new SkillplaneClient({ baseUrl: server.url, apiKey: ADMIN_KEY }),
    fanout,
    async close() {
      fanout.open();
      await browser.close().catch(() => undefined);
      await server.close();
      await harness.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Opens the dashboard in a fresh context (its own session storage) and signs in with `key`. */
export async function signIn(
  d: Dashboard,
  key: string,
  hash = '#/runs',
  options: BrowserContextOptions = {},
): Promise<Page> {
  const context = await d.browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  // Shorter than the test's own timeout, so a missing element is named in the failure.
  context.setDefaultTimeout(8_000);
  const page = await context.newPage();
  await page.goto(`${d.url}/ui/${hash}`);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('navigation', { name: 'Pages' }).waitFor();
  return page;
}

const AXE = readFileSync(join(repo, 'node_modules', 'axe-core', 'axe.min.js'), 'utf8');

/** One violation axe found. */
export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/**
 * Runs axe-core on the page as it is and returns its serious and critical violations. The page's
 * CSP allows no inline script, so axe is evaluated through the DevTools protocol, not a script tag.
 */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  await page.evaluate(AXE);
  const found = (await page.evaluate(
    `axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations.map((v) => ({
      id: v.id, impact: v.impact, help: v.help,
      targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
    })))`,
  )) as AxeViolation[];
  return found.filter((v) => v.impact === 'serious' || v.impact === 'critical');
}
