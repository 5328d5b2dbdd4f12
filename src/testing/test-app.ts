/**
 * The one way tests (ours and users') build a whole in-process App: skills from folders, agents
 * given inline, the model at a URL (usually a scripted server), any store. Everything a test does
 * not set keeps the server's defaults, except what would make a test slow or leak: no file
 * watching, no model retries, short step-retry delays.
 */
import { join } from 'node:path';
import { createApp, type App, type CreateAppOptions } from '../app/index.js';
import { loadConfig, type AgentDefinition } from '../config/index.js';
import { MemoryRunStore, type RunStore } from '../store/index.js';
import type { Clock } from '../vocabulary/index.js';

/** Options of {@link createTestApp}. */
export interface TestAppOptions {
  /** The folder the config is read relative to; its `skills/` folder holds the skills. */
  dir: string;
  /** Base URL of the OpenAI-compatible model server (`/v1` included). */
  modelUrl: string;
  /** Agents, each with `instructions: 'test'` unless given. */
  agents: Partial<AgentDefinition>[];
  /** Folders skills may read and write besides their own. */
  allowedRoots?: string[];
  /** Config sections merged over the test defaults (`models.default`, `skills`, `agents` merge one level deep). */
  config?: Record<string, unknown>;
  /** The store (default a memory store on `clock`). */
  store?: RunStore;
  /** Clock of the default memory store. */
  clock?: Clock;
  /** Options passed to `createApp` (store and watch are set here). */
  app?: Omit<CreateAppOptions, 'store' | 'watch'>;
}

/** Builds an App for a test; the caller closes it (`app.close()`). */
export async function createTestApp(opts: TestAppOptions): Promise<App> {
  const cfg = opts.config ?? {};
  const section = (name: string): object => (cfg[name] as object | undefined) ?? {};
  const loaded = loadConfig({
    cwd: opts.dir,
    env: {},
    overrides: {
      ...cfg,
      store: { driver: 'memory', ...section('store') },
      models: {
        ...section('models'),
        default: {
          base_url: opts.modelUrl,
          model: 'test-model',
          max_retries: 0,
          ...((cfg.models as { default?: object } | undefined)?.default ?? {}),
        },
      },
      skills: {
        directories: [join(opts.dir, 'skills')],
        allowed_roots: opts.allowedRoots ?? [],
        watch: false,
        ...section('skills'),
      },
      agents: {
        directories: [],
        ...section('agents'),
        definitions: opts.agents.map((a) => ({ instructions: 'test', ...a })),
      },
    },
  });
  const store = opts.store ?? new MemoryRunStore(opts.clock === undefined ? {} : { clock: opts.clock });
  return createApp(loaded, { retryBaseMs: 5, ...opts.app, store, watch: false });
}
