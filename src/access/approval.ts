import { SkillplaneError } from '../errors/index.js';
import type { ApprovalGrant } from '../skills/index.js';

/**
 * The approval a caller grants a risk-tagged skill call by asking for it (`approved: true` on
 * REST execute, OpenClaw invoke, or `_meta.approved` on an MCP call): only a principal holding
 * `approvals:write` (or admin) may; anyone else gets `forbidden`. The same rule at every door.
 */
export function grantApproval(
  principal: { name: string; scopes: readonly string[] },
  approved: boolean,
  reason?: string,
): ApprovalGrant | undefined {
  if (!approved) return undefined;
  if (!principal.scopes.includes('admin') && !principal.scopes.includes('approvals:write')) {
    throw new SkillplaneError('forbidden', `principal ${principal.name} lacks the scope approvals:write`, {
      data: { scope: 'approvals:write' },
    });
  }
  return { approved_by: principal.name, ...(reason === undefined ? {} : { reason }) };
}
