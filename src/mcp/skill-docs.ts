import { readFile } from 'node:fs/promises';
import type {
  GetPromptResult,
  Prompt,
  Resource,
  TextResourceContents,
  Tool,
  ToolAnnotations,
} from '@modelcontextprotocol/sdk/types.js';
import type { SkillInvocation, SkillInvoker } from '../skills/invoke.js';
import type { JsonSchema } from '../skills/manifest.js';
import type { SkillRegistry } from '../skills/registry.js';
import type { Skill } from '../skills/types.js';

/** URI scheme of skill documentation resources: `skill://acme/search@1.2.0`. */
export const SKILL_URI_PREFIX = 'skill://';

/** The resource URI of one skill version. */
export function skillUri(skill: Skill): string {
  return `${SKILL_URI_PREFIX}${skill.ref}`;
}

/** The `id@version` ref named by a `skill://` URI, or undefined when the URI is not one. */
export function refFromSkillUri(uri: string): string | undefined {
  if (!uri.startsWith(SKILL_URI_PREFIX)) return undefined;
  const ref = uri.slice(SKILL_URI_PREFIX.length);
  return /^[^@\s]+\/[^@\s]+@[^@\s]+$/.test(ref) ? ref : undefined;
}

/** A human title from a skill id: `acme/web-search` → `Web search (acme)`. */
export function skillTitle(skill: Skill): string {
  const [ns, name = ''] = skill.id.split('/');
  const words = name.replace(/[-_]+/g, ' ');
  return `${words.charAt(0).toUpperCase()}${words.slice(1)} (${ns})`;
}

/**
 * MCP tool annotations from a manifest: destructive when risk-tagged, read-only when the skill
 * may neither write files nor run a shell, open-world when it may reach the network.
 */
export function toolAnnotations(skill: Skill): ToolAnnotations {
  const p = skill.manifest.permissions;
  const annotations: ToolAnnotations = {
    title: skillTitle(skill),
    readOnlyHint: p.fs.write.length === 0 && !p.shell,
    destructiveHint: skill.manifest.risk_tags.length > 0,
    idempotentHint: skill.manifest.idempotent,
    openWorldHint: p.network.length > 0,
  };
  return annotations;
}

/** A JSON Schema usable as an MCP `inputSchema` (which must describe an object). */
function objectSchema(schema: JsonSchema): Tool['inputSchema'] {
  if (schema.type === 'object') return schema as Tool['inputSchema'];
  if (schema.type === undefined) return { ...schema, type: 'object' } as Tool['inputSchema'];
  // A non-object input cannot be passed as MCP tool arguments; accept any object instead.
  return { type: 'object' };
}

/** The MCP tool describing a `tool` or `workflow` skill; its JSON Schemas pass through untouched. */
export function toolFor(skill: Skill): Tool {
  const tool: Tool = {
    name: skill.toolName,
    title: skillTitle(skill),
    description: skill.manifest.description,
    inputSchema: objectSchema(skill.inputSchema),
    annotations: toolAnnotations(skill),
    _meta: { 'skillplane/skill': skill.ref, 'skillplane/risk_tags': skill.manifest.risk_tags },
  };
  if (hasObjectOutput(skill)) tool.outputSchema = skill.outputSchema as Tool['outputSchema'];
  return tool;
}

/** True when the skill declares an object output schema (then results carry `structuredContent`). */
export function hasObjectOutput(skill: Skill): boolean {
  return skill.outputSchema !== undefined && skill.outputSchema.type === 'object';
}

/** The MCP prompt of a `prompt` skill; arguments come from the input schema's properties. */
export function promptFor(skill: Skill): Prompt {
  const props = propertiesOf(skill.inputSchema);
  const required = new Set(
    Array.isArray(skill.inputSchema.required) ? (skill.inputSchema.required as unknown[]) : [],
  );
  return {
    name: skill.toolName,
    title: skillTitle(skill),
    description: skill.manifest.description,
    arguments: Object.entries(props).map(([name, schema]) => ({
      name,
      ...(typeof schema.description === 'string' ? { description: schema.description } : {}),
      required: required.has(name),
    })),
  };
}

function propertiesOf(schema: JsonSchema): Record<string, JsonSchema> {
  const props = schema.properties;
  if (props === null || typeof props !== 'object' || Array.isArray(props)) return {};
  const out: Record<string, JsonSchema> = {};
  for (const [k, v] of Object.entries(props as Record<string, unknown>)) {
    out[k] = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as JsonSchema) : {};
  }
  return out;
}

/**
 * Turns prompt arguments into the skill's input. MCP's are always strings: numbers, integers and
 * booleans are converted, objects and arrays parsed as JSON, when the schema asks for them. A
 * value that is not a string (REST callers send JSON values) is kept as it is.
 */
export function coercePromptArgs(skill: Skill, args: Record<string, unknown>): Record<string, unknown> {
  const props = propertiesOf(skill.inputSchema);
  const out: Record<string, unknown> = {};
  for (const [name, raw] of Object.entries(args)) {
    const type = props[name]?.type;
    out[name] = typeof raw === 'string' ? coerce(raw, typeof type === 'string' ? type : undefined) : raw;
  }
  return out;
}

/** Who renders a prompt, through which door, with what signal and trace context. */
export type PromptCall = Pick<
  SkillInvocation,
  'door' | 'principal' | 'signal' | 'traceparent' | 'tracestate'
>;

/**
 * Renders a `prompt` skill as one user message, through the one skill call (policy, input
 * schema, audit). Without `complete` the skill returns the rendered prompt and calls no model.
 * Errors are the invoker's (`input_invalid` for missing or wrong arguments, …).
 */
export async function renderPrompt(
  invoker: Pick<SkillInvoker, 'invoke'>,
  skill: Skill,
  args: Record<string, unknown>,
  call: PromptCall,
): Promise<GetPromptResult> {
  const r = await invoker.invoke({ ...call, skill, input: coercePromptArgs(skill, args) });
  const output = r.output as { prompt?: unknown };
  const text = typeof output.prompt === 'string' ? output.prompt : JSON.stringify(r.output);
  return {
    description: skill.manifest.description,
    messages: [{ role: 'user', content: { type: 'text', text } }],
  };
}

function coerce(raw: string, type: string | undefined): unknown {
  const s = raw.trim();
  switch (type) {
    case 'number':
    case 'integer':
      return s !== '' && Number.isFinite(Number(s)) ? Number(s) : raw;
    case 'boolean':
      return s === 'true' ? true : s === 'false' ? false : raw;
    case 'object':
    case 'array':
      try {
        return JSON.parse(s) as unknown;
      } catch {
        return raw;
      }
    default:
      return raw;
  }
}

/** The resource listing entry of a skill's documentation. */
export function resourceFor(skill: Skill): Resource {
  return {
    uri: skillUri(skill),
    name: skill.ref,
    title: skillTitle(skill),
    description: skill.manifest.description,
    mimeType: 'text/markdown',
  };
}

/**
 * Reads the documentation resource at `uri` (`skill://<id>@<version>`); undefined when the URI
 * names no skill version the registry holds.
 */
export async function readSkillResource(
  registry: Pick<SkillRegistry, 'get'>,
  uri: string,
): Promise<TextResourceContents | undefined> {
  const ref = refFromSkillUri(uri);
  const skill = ref === undefined ? undefined : registry.get(ref);
  if (skill === undefined || skillUri(skill) !== uri) return undefined;
  return { uri, mimeType: 'text/markdown', text: await skillDoc(skill) };
}

/** The documentation of a skill: its `SKILL.md` when it has one, else markdown generated from the manifest. */
export async function skillDoc(skill: Skill): Promise<string> {
  if (skill.source !== 'skill.yaml') {
    try {
      return await readFile(skill.file, 'utf8');
    } catch {
      // Fall back to the generated document.
    }
  }
  return generatedDoc(skill);
}

function generatedDoc(skill: Skill): string {
  const m = skill.manifest;
  const list = (xs: string[]) => (xs.length === 0 ? 'none' : xs.map((x) => `\`${x}\``).join(', '));
  const lines = [
    `# ${skill.id}@${skill.version}`,
    '',
    m.description,
    '',
    `- kind: ${m.kind}`,
    `- tool name: \`${skill.toolName}\``,
    `- tags: ${list(m.tags)}`,
    `- risk tags: ${list(m.risk_tags)}${m.risk_tags.length > 0 ? ' (needs an approval to run)' : ''}`,
    `- permissions: fs read ${list(m.permissions.fs.read)}; fs write ${list(m.permissions.fs.write)}; ` +
      `network ${list(m.permissions.network)}; shell ${m.permissions.shell ? 'yes' : 'no'}`,
    `- timeout: ${m.timeouts.execute_sec} s`,
    '',
    '## Input schema',
    '',
    '```json',
    JSON.stringify(skill.inputSchema, null, 2),
    '```',
  ];
  if (skill.outputSchema !== undefined) {
    lines.push('', '## Output schema', '', '```json', JSON.stringify(skill.outputSchema, null, 2), '```');
  }
  if (m.steps !== undefined) {
    lines.push('', '## Steps', '');
    for (const s of m.steps)
      lines.push(`- \`${s.id}\`: ${s.skill}${s.needs.length > 0 ? ` (after ${s.needs.join(', ')})` : ''}`);
  }
  return `${lines.join('\n')}\n`;
}
