/**
 * Access rules shared by every door (HTTP API, MCP, OpenClaw) and kept below them all: which
 * hosts and browser origins may reach an open loopback server, and which runs a caller may see.
 */
export { isHostHeaderAllowed, isLoopbackHost, isOriginAllowed } from './origin.js';
export { canSeeRun, visibilityPolicy, visibleOwner } from './visibility.js';
export type { RunViewer, VisibilityPolicy } from './visibility.js';
export { grantApproval } from './approval.js';
