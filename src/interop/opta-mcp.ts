import { z } from 'zod';
import { ValidationError, type SkillplaneError } from '../errors/index.js';
import type { JsonSchema, Skill } from '../skills/index.js';

/*
 * Opta-LMX's REST "MCP adapter" (`/v1/skills/mcp/*` and `/mcp/*` beside the JSON-RPC `/mcp`), in
 * one place at the edge: its request bodies, and our tools, prompts, resources and skill calls
 * shaped the way its clients (CLI, dashboard, remote bridge) read them. Nothing here looks a
 * skill up or runs one; the route asks the registry, the invoker and the MCP docs, then shapes.
 * Every failure still carries our stable `code` beside Opta's fields: a 200 answer's `code`, or
 * the problem document of an HTTP error (whose `error` member is Opta's `{message, type, code}`).
 */

/** Longest skill reference or prompt name accepted. */
const MAX_NAME = 512;

/** Opta: `{name, arguments, approved}`; `arguments` is an object or a JSON object string. */
export const optaToolCallBodySchema = z.strictObject({
  name: z.string().min(1).max(MAX_NAME).describe('A tool name from the list, a skill reference or tool name'),
  // Checked by optaArguments, so a wrong value is Opta's `invalid_arguments`, not a shape error.
  arguments: z.unknown().optional().describe('The skill input: an object, or a JSON object as a string'),
  approved: z.boolean().optional().describe('Approve a risk-tagged skill (needs `approvals:write`)'),
});

/** Opta: `{name, arguments}` of prompts/get. */
export const optaPromptGetBodySchema = z.strictObject({
  name: z.string().min(1).max(MAX_NAME),
  arguments: z.record(z.string(), z.unknown()).nullable().optional(),
});

/** Opta: `{uri}` of resources/read. */
export const optaResourceReadBodySchema = z.strictObject({ uri: z.string().min(1).max(2048) });

/** The list and capabilities calls take no parameters (Opta's clients send no body, or `{}`). */
export const optaEmptyBodySchema = z.strictObject({}).nullish();

export type OptaToolCallBody = z.infer<typeof optaToolCallBodySchema>;
export type OptaPromptGetBody = z.infer<typeof optaPromptGetBodySchema>;

/** Finds a skill by any name the registry accepts (its `get`). */
export type SkillFinder = (name: string) => Skill | undefined;

function bareName(skill: Skill): string {
  return skill.id.slice(skill.id.indexOf('/') + 1);
}

/** Opta's tool name: the bare name in the `default` namespace, else `namespace/name@version`. */
export function optaToolName(skill: Skill): string {
  return skill.id.startsWith('default/') ? bareName(skill) : skill.ref;
}

/** Every name that finds this very skill version: ref, id, tool name, `name@version`, bare name. */
export function optaAliases(skill: Skill, find: SkillFinder): string[] {
  const candidates = [
    skill.ref,
    skill.id,
    skill.toolName,
    `${bareName(skill)}@${skill.version}`,
    bareName(skill),
  ];
  return [...new Set(candidates)].filter((name) => find(name)?.ref === skill.ref);
}

/** One tool of Opta's tools list. */
export interface OptaTool {
  name: string;
  description: string;
  inputSchema: JsonSchema;
  namespace: string;
  version: string;
  aliases: string[];
}

/** A skill as Opta's tool; `described` is our MCP tool of it (description, object input schema). */
export function optaTool(
  skill: Skill,
  described: { description?: string | undefined; inputSchema: JsonSchema },
  find: SkillFinder,
): OptaTool {
  return {
    name: optaToolName(skill),
    description: described.description ?? skill.manifest.description,
    inputSchema: described.inputSchema,
    namespace: skill.id.slice(0, skill.id.indexOf('/')),
    version: skill.version,
    aliases: optaAliases(skill, find),
  };
}

/**
 * Bad `arguments`: `input_invalid` (400), which every problem document also names the way Opta's
 * clients read it (`error.code: invalid_arguments`).
 */
function invalidArguments(message: string): SkillplaneError {
  return new ValidationError(
    message,
    [{ path: 'arguments', message: 'expected a JSON object' }],
    'input_invalid',
  );
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/**
 * Opta's `arguments`: absent, `null` or blank text is `{}`; an object is taken as it is; a string
 * must hold a JSON object. Anything else is a 400 (`input_invalid`, Opta's `invalid_arguments`).
 */
export function optaArguments(raw: unknown): Record<string, unknown> {
  if (raw === undefined || raw === null) return {};
  if (isObject(raw)) return raw;
  if (typeof raw !== 'string') throw invalidArguments('arguments must be an object or JSON object string');
  if (raw.trim() === '') return {};
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw) as unknown;
  } catch {
    throw invalidArguments('arguments string must be valid JSON object');
  }
  if (!isObject(parsed)) throw invalidArguments('arguments string must decode to JSON object');
  return parsed;
}

/**
 * Statuses of errors that say the request was wrong or the server would not take it (unknown
 * skill, bad input, a full queue, shutting down): HTTP errors, as in Opta. Every other failure of
 * a call (the skill raised, timed out, was denied or needs an approval) is its outcome: a 200
 * answer with `ok: false`, the way Opta's executor reports it.
 */
const REFUSAL_STATUSES = new Set([400, 401, 404, 405, 409, 413, 415, 429, 431, 503]);

/** Whether an error of a skill call is its outcome (answered `ok: false`) rather than an HTTP error. */
export function isCallOutcome(err: SkillplaneError, status: number): boolean {
  return err.code !== 'internal_error' && !REFUSAL_STATUSES.has(status);
}

/** Opta's answer to a tool call, with our `code` (`null` when it succeeded). */
export interface OptaToolCallResult {
  skill_name: string;
  kind: string;
  ok: boolean;
  output: unknown;
  error: string | null;
  code: string | null;
  duration_ms: number;
  timed_out: boolean;
  denied: boolean;
  requires_approval: boolean;
}

/** Codes of a call the policy refused. */
const DENIED_CODES = new Set(['approval_required', 'approval_denied', 'permission_denied', 'forbidden']);

/**
 * A finished call as Opta's result. `requires_approval` says whether the skill needs an approval
 * (also when one was given), as Opta's policy decision does.
 */
export function optaCallResult(
  skill: Skill,
  outcome: { output: unknown } | { error: SkillplaneError },
  durationMs: number,
  requiresApproval: boolean,
): OptaToolCallResult {
  const err = 'error' in outcome ? outcome.error : undefined;
  return {
    skill_name: optaToolName(skill),
    kind: skill.manifest.kind,
    ok: err === undefined,
    output: 'output' in outcome ? (outcome.output ?? null) : null,
    error: err === undefined ? null : err.message,
    code: err?.code ?? null,
    duration_ms: Math.max(0, Math.round(durationMs)),
    timed_out: err?.code === 'timeout',
    denied: err !== undefined && DENIED_CODES.has(err.code),
    requires_approval: requiresApproval || err?.code === 'approval_required',
  };
}

/** Opta's prompt name: the bare name when it finds this skill, else its tool name. */
export function optaPromptName(skill: Skill, find: SkillFinder): string {
  return find(bareName(skill))?.ref === skill.ref ? bareName(skill) : optaToolName(skill);
}

/** One prompt of Opta's prompts list. */
export interface OptaPrompt {
  name: string;
  description: string;
  arguments: { name: string; required: boolean; description?: string }[];
}

/** Our MCP prompt of a skill as Opta's, under Opta's name. */
export function optaPrompt(
  name: string,
  prompt: {
    description?: string | undefined;
    arguments?:
      { name: string; description?: string | undefined; required?: boolean | undefined }[] | undefined;
  },
): OptaPrompt {
  return {
    name,
    description: prompt.description ?? '',
    arguments: (prompt.arguments ?? []).map((a) => ({
      name: a.name,
      required: a.required === true,
      ...(a.description === undefined ? {} : { description: a.description }),
    })),
  };
}

/** Opta's failed prompts/get or resources/read: 200, `ok: false`, a message and our `code`. */
export function optaFailure<K extends 'messages' | 'contents'>(
  key: K,
  code: string,
  error: string,
): { ok: false; error: string; code: string } & Record<K, null> {
  return { ok: false, [key]: null, error, code } as { ok: false; error: string; code: string } & Record<
    K,
    null
  >;
}

/** One resource of Opta's resources list. */
export interface OptaResource {
  uri: string;
  name: string;
  description: string;
  mimeType: string;
}

/** Our MCP resource as Opta's. */
export function optaResource(resource: {
  uri: string;
  name: string;
  description?: string | undefined;
  mimeType?: string | undefined;
}): OptaResource {
  return {
    uri: resource.uri,
    name: resource.name,
    description: resource.description ?? '',
    mimeType: resource.mimeType ?? 'application/octet-stream',
  };
}
