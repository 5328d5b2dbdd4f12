/**
 * The HTTP doors' use of the run visibility rule ({@link visibleOwner}): lookups that answer
 * `not_found` for a run or approval the caller may not see, exactly as for one that does not exist.
 */
import { canSeeRun, visibleOwner } from '../access/index.js';
import { NotFoundError } from '../errors/index.js';
import type { Approval, Run } from '../store/index.js';
import type { Principal } from './auth.js';
import type { ApiContext } from './context.js';

/** The store filter of a caller's lists: `{principal}` when it may only see its own runs. */
export function ownerFilter(ctx: ApiContext, viewer: Principal): { principal?: string } {
  const owner = visibleOwner(viewer, ctx.visibility);
  return owner === undefined ? {} : { principal: owner };
}

/** A run the caller may see; `not_found` otherwise (never revealing that it exists). */
export async function getVisibleRun(ctx: ApiContext, viewer: Principal, id: string): Promise<Run> {
  const run = await ctx.ports.runs.getRun(id);
  if (!canSeeRun(viewer, run, ctx.visibility)) throw new NotFoundError('run', id);
  return run;
}

/** An approval whose run the caller may see; `not_found` otherwise. */
export async function getVisibleApproval(ctx: ApiContext, viewer: Principal, id: string): Promise<Approval> {
  const approval = await ctx.ports.approvals.get(id);
  if (visibleOwner(viewer, ctx.visibility) === undefined) return approval;
  const run = await ctx.ports.runs.getRun(approval.run_id).catch(() => undefined);
  if (run === undefined || !canSeeRun(viewer, run, ctx.visibility)) throw new NotFoundError('approval', id);
  return approval;
}

/**
 * An idempotency key in the caller's own namespace when it may only see its own runs, so another
 * principal's key can neither replay that principal's run nor reveal that it exists.
 */
export function scopedIdempotencyKey(ctx: ApiContext, viewer: Principal, key: string): string {
  return visibleOwner(viewer, ctx.visibility) === undefined
    ? key
    : `${viewer.name.length}:${viewer.name}:${key}`;
}
