/**
 * The Model Context Protocol surface of skillplane: a Fastify plugin serving `/mcp` over
 * Streamable HTTP with stateful sessions, built on the official `@modelcontextprotocol/sdk`.
 *
 * @packageDocumentation
 */
export { mcpPlugin } from './plugin.js';
/** The browser `Origin` check of `/mcp` (one implementation, shared with the HTTP API's guard). */
export { isOriginAllowed } from '../access/index.js';
export type { McpPluginOptions, McpPrincipal, McpAuthScope } from './plugin.js';
export { createMcpServer, MCP_CAPABILITIES } from './server.js';
export type { McpServerDeps, McpScope, McpRequestExtra } from './server.js';
export { AGENT_TOOLS, AGENT_TOOL_NAMES, MAX_WAIT_SEC } from './agent-tools.js';
export type { AgentToolName } from './agent-tools.js';
export {
  toolFor,
  promptFor,
  resourceFor,
  skillDoc,
  skillUri,
  toolAnnotations,
  renderPrompt,
  readSkillResource,
  SKILL_URI_PREFIX,
} from './skill-docs.js';
export type { PromptCall } from './skill-docs.js';
