import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Logger } from 'pino';
import { resolveConfigPath, type Config, type LoadedConfig } from '../config/index.js';
import type { AgentCatalog } from '../agents/index.js';
import {
  buildAgentCatalog,
  Runtime,
  skillPatternMatches,
  type RunRequest,
  type SkillPort,
} from '../agents/index.js';
import { openRunBus, type RunBus } from '../bus/index.js';
import { ModelRegistry } from '../models/index.js';
import { Observations, type Observation } from '../observability/index.js';
import {
  createSkillService,
  type SkillAuditEntry,
  type SkillService,
  type ToolProcessEvent,
} from '../skills/index.js';
import { openRunStore, type RunStore } from '../store/index.js';
import { createTracing, type Tracing } from '../tracing/index.js';
import type { EdgePorts } from '../ports/index.js';
import { QueuedDispatcher, WorkerPlane, workerQueueFor } from '../workers/index.js';
import { edgePorts } from './ports.js';

/** Everything a server, the CLI or a test needs, wired from one configuration. */
export interface App {
  loaded: LoadedConfig;
  config: Config;
  store: RunStore;
  skills: SkillService;
  models: ModelRegistry;
  agents: AgentCatalog;
  runtime: Runtime;
  /** The BullMQ worker plane (`workers.enabled`), else undefined. */
  workers: WorkerPlane | undefined;
  /**
   * Run moves and steps, model calls and limiter waits, skill calls of this process, for metrics
   * (`ports.observe`).
   */
  observations: Observations;
  /** The narrow ports the edges (API, MCP) work through. */
  ports: EdgePorts;
  /** Spans of runs, agent loops, model requests and skill calls (a no-op without an exporter). */
  tracing: Tracing;
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
  /** Called on every sandbox process spawn, reuse and exit. */
  onProcessEvent?: (event: ToolProcessEvent) => void;
  /**
   * `'off'` for an in-process CLI run: the runtime executes only the runs it submits (it never
   * adopts, claims or resumes runs of other nodes, e.g. a crashed server's, nor expires their
   * approvals or prunes), and its node id is unique to this process (`server.node_id` is not
   * used, so it never passes for a server). Default `'on'`.
   */
  recovery?: 'on' | 'off';
  /**
   * Tracing to use (tests inject one over an in-memory exporter; flushed, not shut down, on
   * close). Default: made from `tracing` in the configuration.
   */
  tracing?: Tracing;
}

/** A skill call's audit entry as an observation, labelled by skill id (bounded by the catalogue). */
function skillCallObservation(entry: SkillAuditEntry, skills: SkillService | undefined): Observation {
  let skill: string | undefined;
  try {
    skill = skills?.registry.get(entry.target)?.id;
  } catch {
    skill = undefined;
  }
  const { door, code, duration_ms: ms } = entry.data;
  return {
    type: 'skill_call',
    skill: skill ?? 'unresolved',
    door: typeof door === 'string' ? door : 'unknown',
    code: typeof code === 'string' ? code : null,
    durationMs: typeof ms === 'number' ? ms : 0,
  };
}

/** Adapts the skill service to what the agent loop needs. */
function skillPort(service: SkillService): SkillPort {
  return {
    tryResolve: (ref) => service.registry.get(ref),
    listLatest: () => service.registry.list({ latestOnly: true }),
    check: (skill) => {
      service.invoker.check(skill);
    },
    riskTags: (skill) => service.policy.riskTags(skill),
    checkInput: (skill, input) => service.invoker.assertInputLimits(skill, input),
    invoke: (inv) => service.invoker.invoke(inv),
  };
}

/**
 * Mistakes in agent definitions that would only show at run time: a model no backend serves, a
 * skill pattern that matches no loaded skill (skills may still appear by hot reload, so these are
 * warnings, not errors).
 */
export function agentWarnings(
  agents: AgentCatalog,
  models: ModelRegistry,
  skills: SkillService,
): { fields: Record<string, unknown>; message: string }[] {
  const out: { fields: Record<string, unknown>; message: string }[] = [];
  const loaded = skills.registry.list({ latestOnly: true });
  for (const a of agents.list()) {
    if (!models.has(a.model))
      out.push({
        fields: { agent: a.name, model: a.model, backends: models.names() },
        message: `agent ${a.name} names model ${a.model}, which no backend serves: its runs will be refused`,
      });
    for (const pattern of a.skills) {
      const matches = pattern.includes('*')
        ? loaded.some((s) => skillPatternMatches(pattern, s.id))
        : skills.registry.has(pattern);
      if (!matches)
        out.push({
          fields: { agent: a.name, skill: pattern },
          message: `agent ${a.name} lists skill ${pattern}, which matches no loaded skill`,
        });
    }
  }
  return out;
}

/** The agents a run request names (any of them may call skills). */
function agentsOf(req: RunRequest): string[] {
  const names = new Set<string>();
  if (req.agent !== undefined) names.add(req.agent);
  for (const a of req.agents ?? []) names.add(a);
  for (const r of req.options?.routes ?? []) names.add(r.agent);
  if (req.options?.reducer !== undefined) names.add(req.options.reducer);
  return [...names];
}

/**
 * True when an agent of the request may call a skill routed to the worker plane (its skill
 * patterns against the loaded skills), so the run cannot make progress without the broker.
 */
export function runNeedsWorkers(
  req: RunRequest,
  agents: AgentCatalog,
  skills: SkillService,
  routing: Config['workers'],
): boolean {
  const loaded = skills.registry.list({ latestOnly: true });
  for (const name of agentsOf(req)) {
    const agent = agents.list().find((a) => a.name === name);
    if (agent === undefined) continue;
    for (const pattern of agent.skills)
      for (const skill of loaded)
        if (skillPatternMatches(pattern, skill.id) && workerQueueFor(skill, routing) !== undefined)
          return true;
  }
  return false;
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
  const nodeId =
    opts.nodeId ??
    (opts.recovery === 'off'
      ? `cli-${randomBytes(6).toString('hex')}`
      : (config.server.node_id ?? `node-${randomBytes(4).toString('hex')}`));
  const leaseMs = opts.leaseMs ?? config.store.lease_sec * 1000;
  const store = opts.store ?? (await openConfiguredStore(loaded));
  let skills: SkillService | undefined;
  let models: ModelRegistry | undefined;
  let bus: RunBus | undefined;
  let workers: WorkerPlane | undefined;
  const observations = new Observations();
  const tracing =
    opts.tracing ??
    createTracing(config.tracing, {
      nodeId,
      onExportError: (err) =>
        opts.logger?.warn({ err: err.message }, 'span export failed (reported once; runs go on)'),
    });
  try {
    const logger = opts.logger;
    if (config.workers.enabled)
      workers = new WorkerPlane({ config: config.workers, ...(logger === undefined ? {} : { logger }) });
    const plane = workers;
    skills = await createSkillService(loaded, {
      ...(plane === undefined
        ? {}
        : {
            // Skills routed to the worker plane go to BullMQ; the rest run here.
            wrapDispatcher: (local, { policy }) =>
              new QueuedDispatcher({
                local,
                plane,
                routing: config.workers,
                repeatable: (skill) => policy.repeatable(skill),
              }),
          }),
      ...(opts.watch === undefined ? {} : { watch: opts.watch }),
      ...(logger === undefined ? {} : { logger }),
      ...(opts.onProcessEvent === undefined ? {} : { onProcessEvent: opts.onProcessEvent }),
      tracing,
      // Every skill call, through any door, leaves one audit entry; a failed write is logged.
      audit: {
        append: (entry) => {
          observations.emit(skillCallObservation(entry, skills));
          return store.appendAudit(entry).then(
            () => undefined,
            (err: unknown) => logger?.warn({ err: (err as Error).message }, 'audit write failed'),
          );
        },
      },
    });
    models = new ModelRegistry(config.models, {
      observe: (o) => observations.emit(o),
      probe: {
        timeoutMs: config.server.readiness_probe_timeout_sec * 1000,
        cacheMs: config.server.readiness_cache_sec * 1000,
      },
    });
    const agents = buildAgentCatalog(
      config.agents.definitions,
      config.agents.directories.map((d) => resolve(loaded.baseDir, d)),
    );
    for (const warning of agentWarnings(agents, models, skills))
      logger?.warn(warning.fields, warning.message);
    // Run notifications and cancels between the nodes sharing the store (none for a single node).
    bus = await openRunBus(config, {
      node: nodeId,
      onError: (err, driver) =>
        logger?.warn({ err: err.message, driver }, 'run bus connection lost, retrying'),
    });
    const svc = skills;
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
      ...(opts.recovery === undefined ? {} : { recovery: opts.recovery }),
      ...(plane === undefined
        ? {}
        : {
            // New runs that need the worker plane get 503 + Retry-After while its broker is down.
            admit: async (req: RunRequest) => {
              if (!plane.health.ok && runNeedsWorkers(req, agents, svc, config.workers))
                await plane.assertAvailable();
            },
          }),
      ...(bus === undefined ? {} : { bus }),
      tracing,
    });
    runtime.notifier.on('lifecycle', (change) => observations.emit({ type: 'run', change }));
    runtime.notifier.on('step', (change) => observations.emit({ type: 'step', change }));
    if (opts.start ?? true) await runtime.start();
    const s = skills;
    const m = models;
    const parts = {
      loaded,
      config,
      store,
      skills: s,
      models: m,
      agents,
      runtime,
      workers: plane,
      observations,
      tracing,
    };
    return {
      ...parts,
      ports: edgePorts(parts),
      async close(graceMs?: number) {
        await runtime.close(graceMs);
        await s.close();
        await plane?.close();
        m.close();
        // Spans of the last steps leave before the process does.
        if (opts.tracing === undefined) await tracing.shutdown();
        else await tracing.forceFlush();
        if (opts.store === undefined) await store.close();
      },
    };
  } catch (err) {
    await bus?.close().catch(() => undefined);
    await skills?.close().catch(() => undefined);
    await workers?.close().catch(() => undefined);
    models?.close();
    if (opts.tracing === undefined) await tracing.shutdown();
    if (opts.store === undefined) await store.close().catch(() => undefined);
    throw err;
  }
}
