import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import type { SkillplaneError } from '../errors/index.js';

/** Who makes an MCP call and with what trace context and signal. */
export interface McpCallContext {
  /** Principal name, recorded on runs and skill calls. */
  principal: string;
  /** The principal's scopes (run visibility: admins see every run). */
  scopes: readonly string[];
  signal: AbortSignal;
  traceparent?: string;
  tracestate?: string;
}

/** A JSON value as MCP text content. */
export function jsonText(value: unknown): string {
  return typeof value === 'string' ? value : (JSON.stringify(value) ?? 'null');
}

/**
 * A successful tool result. With `structured`, the value (an object) is returned both as
 * `structuredContent` and as the same JSON in a text block, as the MCP spec asks.
 */
export function okResult(value: unknown, structured: boolean): CallToolResult {
  const result: CallToolResult = { content: [{ type: 'text', text: jsonText(value) }] };
  if (structured && value !== null && typeof value === 'object' && !Array.isArray(value)) {
    result.structuredContent = value as Record<string, unknown>;
  }
  return result;
}

/** A tool-level error (`isError: true`): the caller (often a model) sees the message and may retry. */
export function errorResult(message: string, code?: string): CallToolResult {
  return {
    isError: true,
    content: [{ type: 'text', text: message }],
    ...(code === undefined ? {} : { _meta: { 'skillplane/error_code': code } }),
  };
}

/** A readable message for a skill or runtime error, listing validation issues when there are some. */
export function describeError(err: SkillplaneError): string {
  const issues = err.data?.issues;
  if (Array.isArray(issues) && issues.length > 0) {
    const lines = issues.map((i: unknown) => {
      const issue = (i ?? {}) as { path?: unknown; message?: unknown };
      const path = typeof issue.path === 'string' && issue.path !== '' ? issue.path : '(root)';
      return `- ${path}: ${String(issue.message)}`;
    });
    return `${err.message}\n${lines.join('\n')}`;
  }
  return err.message;
}
