/**
 * Who may see a run: the one rule behind every door (REST, SSE, approvals, MCP agents tools).
 */
import type { Config } from '../config/index.js';

/** The caller, as every door knows it: a principal name and its scopes. */
export interface RunViewer {
  name: string;
  scopes: readonly string[];
}

/** The configured visibility: `open` (no keys) and `auth.visibility`. */
export interface VisibilityPolicy {
  /** No API keys are configured (open loopback mode): everything is visible. */
  open: boolean;
  mode: Config['auth']['visibility'];
}

/** The visibility policy of a configuration. */
export function visibilityPolicy(config: Pick<Config, 'auth'>): VisibilityPolicy {
  return { open: config.auth.keys.length === 0, mode: config.auth.visibility };
}

/**
 * THE visibility rule: the principal whose runs (and their events and approvals) `viewer` may
 * see, or `undefined` when it may see every run. Everything is visible in open mode, with
 * `visibility: all`, and to admins; otherwise a key sees only the runs it created.
 */
export function visibleOwner(viewer: RunViewer, policy: VisibilityPolicy): string | undefined {
  if (policy.open || policy.mode === 'all' || viewer.scopes.includes('admin')) return undefined;
  return viewer.name;
}

/** Whether `viewer` may see `run` (by {@link visibleOwner}). */
export function canSeeRun(
  viewer: RunViewer,
  run: { principal: string | null },
  policy: VisibilityPolicy,
): boolean {
  const owner = visibleOwner(viewer, policy);
  return owner === undefined || run.principal === owner;
}
