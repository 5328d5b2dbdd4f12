import { resolve } from 'node:path';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/index.js';
import { loadSkillsFromDirectories, type SkillLoadError } from './loader.js';
import { SkillRegistry } from './registry.js';
import { SkillPolicy, policyConfigFrom } from './policy.js';
import { SkillRunner } from './runner.js';
import { SkillWatcher } from './watcher.js';
import { detectConfinement, type Confinement, type SandboxLimits } from './executors/confinement.js';
import { ToolExecutor } from './executors/tool.js';
import { ShellExecutor } from './executors/shell.js';

/** The skills subsystem wired from the configuration. */
export interface SkillService {
  registry: SkillRegistry;
  policy: SkillPolicy;
  runner: SkillRunner;
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
  opts: { watch?: boolean; logger?: Logger } = {},
): Promise<SkillService> {
  const cfg = loaded.config.skills;
  const confinement = await detectConfinement(cfg.sandbox);
  const directories = cfg.directories.map((d) => resolve(loaded.baseDir, d));
  const registry = new SkillRegistry();
  const policy = new SkillPolicy(
    policyConfigFrom({ ...cfg, allowed_roots: cfg.allowed_roots.map((r) => resolve(loaded.baseDir, r)) }),
    { riskTags: (skill) => registry.riskTags(skill.id) },
  );
  const loadOptions = { strict: cfg.strict_validation, maxManifestBytes: cfg.max_manifest_bytes };
  const initial = await loadSkillsFromDirectories(directories, loadOptions);
  registry.replaceAll(initial.skills, { resetRiskTags: true });
  const logErrors = (errors: SkillLoadError[]) => {
    for (const e of errors) {
      opts.logger?.warn(
        { file: e.file, field: e.path || undefined, line: e.line },
        `skill not loaded: ${e.message}`,
      );
    }
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
  const runner = new SkillRunner({
    registry,
    policy,
    toolExecutor: new ToolExecutor({
      policy,
      warmProcesses: cfg.warm_processes,
      maxProcessesPerSkill: cfg.max_processes_per_skill,
      maxOutputBytes: cfg.max_output_bytes,
      sandbox: confinement,
      limits,
    }),
    shellExecutor: new ShellExecutor({
      policy,
      stdoutLimitBytes: cfg.max_output_bytes,
      sandbox: confinement,
      limits,
    }),
    limits: {
      maxInputBytes: cfg.max_input_bytes,
      maxInputDepth: cfg.max_input_depth,
      maxInputStringLength: cfg.max_input_string_length,
      maxOutputBytes: cfg.max_output_bytes,
    },
  });
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
    runner,
    confinement,
    loadErrors: initial.errors,
    async reload(reloadOpts = {}) {
      const r = await watcher.reload(reloadOpts);
      service.loadErrors = r.errors;
      return { skills: r.skills, errors: r.errors };
    },
    async close() {
      await watcher.close();
      await runner.close();
    },
  };
  watcher.on('reloaded', (r) => {
    service.loadErrors = r.errors;
    const { added, changed, removed } = r.changes;
    if (added.length + changed.length + removed.length > 0)
      opts.logger?.info({ added, changed, removed, skills: r.skills }, 'skills reloaded');
    logErrors(r.errors);
  });
  watcher.on('error', (err) => opts.logger?.warn({ err: err.message }, 'skill reload failed'));
  if (opts.watch ?? cfg.watch) await watcher.start();
  return service;
}
