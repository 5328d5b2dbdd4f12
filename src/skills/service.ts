import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/index.js';
import { loadSkillsFromDirectories, type SkillLoadError } from './loader.js';
import { SkillRegistry } from './registry.js';
import { SkillPolicy, policyConfigFrom } from './policy.js';
import { SkillInvoker, type AuditSink } from './invoke.js';
import { LocalDispatcher, type Dispatcher } from './dispatch.js';
import { PromptExecutor } from './executors/prompt.js';
import { WorkflowExecutor } from './executors/workflow.js';
import { SkillWatcher } from './watcher.js';
import { detectConfinement, type Confinement, type SandboxLimits } from './executors/confinement.js';
import { ToolExecutor, type ToolProcessEvent } from './executors/tool.js';
import type { Tracing } from '../tracing/index.js';
import { ShellExecutor } from './executors/shell.js';

/** The skills subsystem wired from the configuration. */
export interface SkillService {
  registry: SkillRegistry;
  policy: SkillPolicy;
  /** The one way to call a skill (every door). */
  invoker: SkillInvoker;
  /** The OS confinement tool and command skills run under (reported at start-up and by /readyz). */
  confinement: Confinement;
  /** Problems of the last load (the skills that had them are left out). */
  loadErrors: SkillLoadError[];
  /**
   * Reloads every skill now; emits `skills.changed` on the registry when something differs. With
   * `resetRiskTags` (an operator's decision) risk tags dropped from manifests stop applying;
   * otherwise they keep applying until then.
   */
  reload(opts?: { resetRiskTags?: boolean }): Promise<{ skills: number; errors: SkillLoadError[] }>;
  close(): Promise<void>;
}

/**
 * Loads the configured skill directories, builds the registry, the deny-by-default policy and the
 * runner with its sandboxed executors, and (with `watch`) starts hot reload. Throws
 * `sandbox_unavailable` when `skills.sandbox` is `os` and the machine cannot confine skills.
 */
export async function createSkillService(
  loaded: LoadedConfig,
  opts: {
    watch?: boolean;
    logger?: Logger;
    audit?: AuditSink;
    /** Called on every sandbox process spawn, reuse and exit (metrics, benchmarks). */
    onProcessEvent?: (event: ToolProcessEvent) => void;
    /** Spans the sandboxed children report (tool skills). */
    tracing?: Tracing;
    /**
     * Wraps this process's dispatcher (the worker plane's queued dispatcher sends some calls to
     * workers and the rest to `local`).
     */
    wrapDispatcher?: (
      local: Dispatcher,
      parts: { policy: SkillPolicy; registry: SkillRegistry },
    ) => Dispatcher;
  } = {},
): Promise<SkillService> {
  const cfg = loaded.config.skills;
  const confinement = await detectConfinement(cfg.sandbox);
  const directories = cfg.directories.map((d) => resolve(loaded.baseDir, d));
  const registry = new SkillRegistry();
  const policy = new SkillPolicy(
    policyConfigFrom({ ...cfg, allowed_roots: cfg.allowed_roots.map((r) => resolve(loaded.baseDir, r)) }),
    { riskTags: (skill) => registry.riskTags(skill.id) },
  );
  const loadOptions = {
    strict: cfg.strict_validation,
    maxManifestBytes: cfg.max_manifest_bytes,
    workersEnabled: loaded.config.workers.enabled,
  };
  const initial = await loadSkillsFromDirectories(directories, loadOptions);
  registry.replaceAll(initial.skills, { resetRiskTags: true });
  const logErrors = (errors: SkillLoadError[]) => {
    for (const e of errors)
      opts.logger?.warn(loadErrorFields(e), `skill not loaded: ${describeLoadError(e)}`);
  };
  logErrors(initial.errors);
  const l = cfg.sandbox_limits;
  const limits: SandboxLimits = {
    heapMb: l.heap_mb,
    memoryMb: l.memory_mb,
    cpuSec: l.cpu_sec,
    openFiles: l.open_files,
    fileSizeMb: l.file_size_mb,
  };
  const holder: { invoker?: SkillInvoker } = {};
  const local = new LocalDispatcher({
    prompt: new PromptExecutor(),
    // Each workflow step is a full skill call (policy, approval, limits, its own audit entry).
    workflow: new WorkflowExecutor((ref, input, ctx) =>
      holder
        .invoker!.invoke({
          skill: ref,
          input,
          door: 'workflow',
          signal: ctx.signal,
          principal: ctx.principal ?? null,
          ...(ctx.approval === undefined ? {} : { approval: ctx.approval }),
          ...(ctx.runId === undefined ? {} : { runId: ctx.runId }),
          ...(ctx.idempotencyKey === undefined ? {} : { idempotencyKey: ctx.idempotencyKey }),
          ...(ctx.attempt === undefined ? {} : { attempt: ctx.attempt }),
          ...(ctx.traceparent === undefined ? {} : { traceparent: ctx.traceparent }),
          ...(ctx.tracestate === undefined ? {} : { tracestate: ctx.tracestate }),
          ...(ctx.complete === undefined ? {} : { complete: ctx.complete }),
        })
        .then((r) => r.output),
    ),
    tool: new ToolExecutor({
      policy,
      warmProcesses: cfg.warm_processes,
      maxProcessesPerSkill: cfg.max_processes_per_skill,
      maxOutputBytes: cfg.max_output_bytes,
      sandbox: confinement,
      limits,
      ...(opts.onProcessEvent === undefined ? {} : { onProcessEvent: opts.onProcessEvent }),
      ...(opts.tracing === undefined ? {} : { tracing: opts.tracing }),
    }),
    shell: new ShellExecutor({
      policy,
      stdoutLimitBytes: cfg.max_output_bytes,
      sandbox: confinement,
      limits,
    }),
  });
  const dispatcher = opts.wrapDispatcher?.(local, { policy, registry }) ?? local;
  const invoker = new SkillInvoker({
    registry,
    policy,
    dispatcher,
    ...(opts.audit === undefined ? {} : { audit: opts.audit }),
    limits: {
      maxInputBytes: cfg.max_input_bytes,
      maxInputDepth: cfg.max_input_depth,
      maxInputStringLength: cfg.max_input_string_length,
      maxOutputBytes: cfg.max_output_bytes,
    },
  });
  holder.invoker = invoker;
  const watcher = new SkillWatcher({ directories, registry, ...loadOptions });
  registry.on('risk_tags.kept', ({ id, tags }) =>
    opts.logger?.warn(
      { skill: id, risk_tags: tags },
      'a reload dropped risk tags from a skill; they keep applying until an operator reloads with reset_risk_tags or restarts',
    ),
  );
  const service: SkillService = {
    registry,
    policy,
    invoker,
    confinement,
    loadErrors: initial.errors,
    async reload(reloadOpts = {}) {
      const r = await watcher.reload(reloadOpts);
      service.loadErrors = r.errors;
      return { skills: r.skills, errors: r.errors };
    },
    async close() {
      await watcher.close();
      await invoker.close();
    },
  };
  watcher.on('reloaded', (r) => {
    service.loadErrors = r.errors;
    const { added, changed, removed } = r.changes;
    if (added.length + changed.length + removed.length > 0)
      opts.logger?.info({ added, changed, removed, skills: r.skills }, 'skills reloaded');
    logErrors(r.errors);
  });
  watcher.on('error', (err) =>
    opts.logger?.warn(
      { err: err.message, directories, code: 'skill_reload_failed' },
      `skill reload failed: ${err.message}`,
    ),
  );
  if (opts.watch ?? cfg.watch) await watcher.start();
  return service;
}

/** One load error as one line: `file:line (field): reason`. */
export function describeLoadError(e: SkillLoadError): string {
  const at = `${e.file}${e.line === undefined ? '' : `:${e.line}`}`;
  return `${at}${e.path === '' ? '' : ` (${e.path})`}: ${e.message}`;
}

/** The structured fields of a load error in logs. */
function loadErrorFields(e: SkillLoadError): Record<string, unknown> {
  return {
    file: e.file,
    code: e.code ?? 'skill_invalid',
    ...(e.path === '' ? {} : { field: e.path }),
    ...(e.line === undefined ? {} : { line: e.line }),
    reason: e.message,
  };
}
