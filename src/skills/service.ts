import { resolve } from 'node:path';
import type { LoadedConfig } from '../config/index.js';
import { loadSkillsFromDirectories, type SkillLoadError } from './loader.js';
import { SkillRegistry } from './registry.js';
import { SkillPolicy, policyConfigFrom } from './policy.js';
import { SkillRunner } from './runner.js';
import { SkillWatcher } from './watcher.js';
import { ToolExecutor } from './executors/tool.js';
import { ShellExecutor } from './executors/shell.js';

/** The skills subsystem wired from the configuration. */
export interface SkillService {
  registry: SkillRegistry;
  policy: SkillPolicy;
  runner: SkillRunner;
  /** Problems of the last load (the skills that had them are left out). */
  loadErrors: SkillLoadError[];
  /** Reloads every skill now; emits `skills.changed` on the registry when something differs. */
  reload(): Promise<{ skills: number; errors: SkillLoadError[] }>;
  close(): Promise<void>;
}

/**
 * Loads the configured skill directories, builds the registry, the deny-by-default policy and the
 * runner with its sandboxed executors, and (with `watch`) starts hot reload.
 */
export async function createSkillService(
  loaded: LoadedConfig,
  opts: { watch?: boolean } = {},
): Promise<SkillService> {
  const cfg = loaded.config.skills;
  const directories = cfg.directories.map((d) => resolve(loaded.baseDir, d));
  const policy = new SkillPolicy(
    policyConfigFrom({ ...cfg, allowed_roots: cfg.allowed_roots.map((r) => resolve(loaded.baseDir, r)) }),
  );
  const registry = new SkillRegistry();
  const initial = await loadSkillsFromDirectories(directories, { strict: cfg.strict_validation });
  registry.replaceAll(initial.skills);
  const runner = new SkillRunner({
    registry,
    policy,
    toolExecutor: new ToolExecutor({
      policy,
      warmProcesses: cfg.warm_processes,
      maxProcessesPerSkill: cfg.max_processes_per_skill,
    }),
    shellExecutor: new ShellExecutor({ policy }),
  });
  const watcher = new SkillWatcher({ directories, registry, strict: cfg.strict_validation });
  const service: SkillService = {
    registry,
    policy,
    runner,
    loadErrors: initial.errors,
    async reload() {
      const r = await watcher.reload();
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
  });
  watcher.on('error', () => undefined);
  if (opts.watch ?? cfg.watch) await watcher.start();
  return service;
}
