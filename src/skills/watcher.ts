import { EventEmitter } from 'node:events';
import path from 'node:path';
import { watch } from 'chokidar';
import type { FSWatcher } from 'chokidar';
import { loadSkillsFromDirectories } from './loader.js';
import type { LoadSkillsOptions, LoadSkillsResult, SkillLoadError } from './loader.js';
import type { SkillRegistry, SkillsChangedEvent } from './registry.js';

/** Outcome of one reload. */
export interface SkillReloadResult {
  /** Skills now in the registry. */
  skills: number;
  /** Every problem of the load; the skills that had them are left out. */
  errors: SkillLoadError[];
  /** What the reload changed in the registry. */
  changes: SkillsChangedEvent;
}

/** Events of a {@link SkillWatcher}. */
export interface SkillWatcherEvents {
  reloaded: [SkillReloadResult];
  error: [Error];
  /** A file event the watcher acted on (not ignored): its kind and absolute path. */
  change: [{ event: string; path: string }];
}

/** Options of a {@link SkillWatcher}. */
export interface SkillWatcherOptions {
  /** Skill directories, as given to the loader. */
  directories: string[];
  registry: SkillRegistry;
  /** Strict manifest validation (`skills.strict_validation`). */
  strict: boolean;
  /** Quiet time after the last file event before reloading, in ms (default 200). */
  debounceMs?: number;
  /** Deepest folder level searched (see {@link LoadSkillsOptions.maxDepth}). */
  maxDepth?: number;
  /** Largest manifest read (see {@link LoadSkillsOptions.maxManifestBytes}). */
  maxManifestBytes?: number;
  /** See {@link LoadSkillsOptions.workersEnabled}. */
  workersEnabled?: boolean;
  /** Replaces the loader (tests). */
  load?: (dirs: string[], opts: LoadSkillsOptions) => Promise<LoadSkillsResult>;
}

const SKIPPED_SEGMENT = /(^|[\\/])(node_modules|\.[^\\/]+)([\\/]|$)/;

/**
 * Hot reload of skills: watches the skill directories, waits until file events have been quiet
 * for `debounceMs`, reloads every skill with the loader and swaps them into the registry (which
 * emits `'skills.changed'` when something differs). Reloads never overlap: events during a reload
 * queue exactly one more. Emits `'reloaded'` after each reload and `'error'` when one fails (only
 * when an `'error'` listener is attached, so a failed background reload never crashes the process).
 */
export class SkillWatcher extends EventEmitter<SkillWatcherEvents> {
  readonly #opts: SkillWatcherOptions;
  readonly #debounceMs: number;
  readonly #roots: string[];
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Settles when the last reload asked for has ended; never rejects. */
  #tail: Promise<void> = Promise.resolve();
  /** A reload not started yet (waiting for the running one); callers asking meanwhile share it. */
  #queued: Promise<SkillReloadResult> | undefined;
  #closed = false;

  constructor(opts: SkillWatcherOptions) {
    super();
    this.#opts = opts;
    this.#debounceMs = opts.debounceMs ?? 200;
    this.#roots = opts.directories.map((d) => path.resolve(d));
  }

  /** True while a debounced reload is armed and has not started yet. */
  get pending(): boolean {
    return this.#timer !== undefined;
  }

  /** True between {@link start} and {@link close}. */
  get watching(): boolean {
    return this.#watcher !== undefined;
  }

  /**
   * Starts watching; resolves once the watcher is ready, so changes made afterwards are seen.
   * Does not load: call {@link reload} first for the initial set.
   */
  async start(): Promise<void> {
    if (this.#closed) throw new Error('SkillWatcher is closed');
    // Nothing to watch (no skill folders): chokidar would never say it is ready.
    if (this.#watcher !== undefined || this.#roots.length === 0) return;
    const watcher = watch(this.#roots, {
      ignoreInitial: true,
      ignored: (p: string) => this.#isIgnored(p),
      // Editors save by rename; let chokidar fold those into one change.
      atomic: true,
      // A symlink loop (or a link to / ) in a skills folder must not make the watcher walk for
      // ever: links are not followed and the walk stops a little below the loader's depth.
      followSymlinks: false,
      depth: (this.#opts.maxDepth ?? 2) + 3,
    });
    this.#watcher = watcher;
    watcher.on('all', (event: string, p: string) => {
      this.emit('change', { event, path: path.resolve(p) });
      this.#schedule();
    });
    watcher.on('error', (err: unknown) => this.#fail(err));
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  }

  #isIgnored(p: string): boolean {
    const abs = path.resolve(p);
    const root = this.#roots.find((r) => abs === r || abs.startsWith(r + path.sep));
    if (root === undefined) return false;
    return SKIPPED_SEGMENT.test(path.relative(root, abs));
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      // reload() reports its own failures through 'error'.
      this.reload().catch(() => undefined);
    }, this.#debounceMs);
  }

  #fail(err: unknown): void {
    if (this.listenerCount('error') > 0)
      this.emit('error', err instanceof Error ? err : new Error(String(err)));
  }

  /**
   * Reloads every skill now and swaps them into the registry. If a reload is running, the new one
   * starts when it ends (concurrent callers share that one). Rejects when the load itself fails
   * (not for bad skills, which are listed in `errors`).
   */
  reload(opts: { resetRiskTags?: boolean } = {}): Promise<SkillReloadResult> {
    // An operator's reset is never folded into a queued plain reload.
    if (this.#queued !== undefined && opts.resetRiskTags !== true) return this.#queued;
    const previous = this.#tail;
    const self: { run?: Promise<SkillReloadResult> } = {};
    const run = (async () => {
      await previous;
      if (this.#queued === self.run) this.#queued = undefined;
      return this.#reloadNow(opts.resetRiskTags === true);
    })();
    self.run = run;
    this.#queued = run;
    this.#tail = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  async #reloadNow(resetRiskTags: boolean): Promise<SkillReloadResult> {
    const load = this.#opts.load ?? loadSkillsFromDirectories;
    try {
      const { skills, errors } = await load(this.#opts.directories, {
        strict: this.#opts.strict,
        maxDepth: this.#opts.maxDepth,
        ...(this.#opts.maxManifestBytes === undefined
          ? {}
          : { maxManifestBytes: this.#opts.maxManifestBytes }),
        ...(this.#opts.workersEnabled === undefined ? {} : { workersEnabled: this.#opts.workersEnabled }),
      });
      const changes = this.#opts.registry.replaceAll(skills, { resetRiskTags });
      const result = { skills: this.#opts.registry.size, errors, changes };
      this.emit('reloaded', result);
      return result;
    } catch (err) {
      this.#fail(err);
      throw err;
    }
  }

  /** Stops watching, cancels a pending reload and waits for a running one; safe to call twice. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    const watcher = this.#watcher;
    this.#watcher = undefined;
    if (watcher !== undefined) await watcher.close();
    await this.#tail;
  }
}
