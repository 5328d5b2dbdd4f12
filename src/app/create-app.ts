import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { resolveConfigPath, type Config, type LoadedConfig } from '../config/index.js';
import type { AgentCatalog } from '../agents/index.js';
import { buildAgentCatalog, Runtime, type SkillPort } from '../agents/index.js';
import { ModelRegistry } from '../models/index.js';
import { createSkillService, type SkillService } from '../skills/index.js';
import { openRunStore, type RunStore } from '../store/index.js';

/** Everything a server, the CLI or a test needs, wired from one configuration. */
export interface App {
  loaded: LoadedConfig;
  config: Config;
  store: RunStore;
  skills: SkillService;
  models: ModelRegistry;
  agents: AgentCatalog;
  runtime: Runtime;
  /** Stops the runtime (graceful), the watchers, warm processes and the store. */
  close(graceMs?: number): Promise<void>;
}

export interface CreateAppOptions {
  /** Use this store instead of opening the configured one (tests, benchmarks). */
  store?: RunStore;
  /** Watch skill folders for changes (default: `skills.watch`). */
  watch?: boolean;
  logger?: Logger;
  /** This node's id in run leases (default: `server.node_id`, else a random id). */
  nodeId?: string;
  /** Recover runs left by an earlier process and start background jobs (default true). */
  start?: boolean;
  /** Base delay of step retries in ms. */
  retryBaseMs?: number;
  /** Run lease length in ms (default: `store.lease_sec` × 1000). */
  leaseMs?: number;
}

/** Adapts the skill service to what the agent loop needs. */
function skillPort(service: SkillService): SkillPort {
  return {
    tryResolve: (ref) => service.registry.get(ref),
    listLatest: () => service.registry.list({ latestOnly: true }),
    check: (skill) => {
      service.runner.check(skill);
    },
    riskTags: (skill) => service.policy.riskTags(skill),
    checkInput: (skill, input) => service.runner.assertInputLimits(skill, input),
    execute: (skill, input, ctx) => service.runner.execute(skill, input, ctx),
  };
}

/** Opens the configured store (creating the SQLite folder) unless one is given. */
export async function openConfiguredStore(loaded: LoadedConfig): Promise<RunStore> {
  const s = loaded.config.store;
  if (s.driver === 'sqlite') {
    const path = resolveConfigPath(loaded, s.path);
    mkdirSync(dirname(path), { recursive: true });
    return openRunStore({ driver: 'sqlite', path });
  }
  if (s.driver === 'postgres')
    return openRunStore({
      driver: 'postgres',
      ...(s.url === null ? {} : { url: s.url }),
      schema: s.schema,
      ...(s.pool_size === undefined ? {} : { poolSize: s.pool_size }),
    });
  return openRunStore({ driver: 'memory' });
}

/** Builds the whole application from a loaded configuration. */
export async function createApp(loaded: LoadedConfig, opts: CreateAppOptions = {}): Promise<App> {
  const { config } = loaded;
  const nodeId = opts.nodeId ?? config.server.node_id ?? undefined;
  const leaseMs = opts.leaseMs ?? config.store.lease_sec * 1000;
  const store = opts.store ?? (await openConfiguredStore(loaded));
  let skills: SkillService | undefined;
  let models: ModelRegistry | undefined;
  try {
    skills = await createSkillService(loaded, {
      ...(opts.watch === undefined ? {} : { watch: opts.watch }),
      ...(opts.logger === undefined ? {} : { logger: opts.logger }),
    });
    models = new ModelRegistry(config.models);
    const agents = buildAgentCatalog(
      config.agents.definitions,
      config.agents.directories.map((d) => resolve(loaded.baseDir, d)),
    );
    const runtime = new Runtime({
      config,
      store,
      skills: skillPort(skills),
      models,
      agents,
      ...(opts.logger === undefined ? {} : { logger: opts.logger }),
      ...(nodeId === undefined ? {} : { nodeId }),
      ...(opts.retryBaseMs === undefined ? {} : { retryBaseMs: opts.retryBaseMs }),
      leaseMs,
    });
    if (opts.start ?? true) await runtime.start();
    const s = skills;
    const m = models;
    return {
      loaded,
      config,
      store,
      skills: s,
      models: m,
      agents,
      runtime,
      async close(graceMs?: number) {
        await runtime.close(graceMs);
        await s.close();
        m.close();
        if (opts.store === undefined) await store.close();
      },
    };
  } catch (err) {
    await skills?.close().catch(() => undefined);
    models?.close();
    if (opts.store === undefined) await store.close().catch(() => undefined);
    throw err;
  }
}
