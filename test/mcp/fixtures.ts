import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyRequest } from 'fastify';
import { SkillplaneError } from '../../src/errors/index.js';

/** Every scope the API knows. */
export const ALL_SCOPES = [
  'runs:read',
  'runs:write',
  'approvals:write',
  'skills:read',
  'skills:execute',
  'admin',
];

/**
 * A test `authorize`: `x-deny: 1` → unauthorized; `x-scopes: a,b` limits the scopes (default all);
 * `x-principal` names the caller (default `tester`).
 */
export function testAuthorize(request: FastifyRequest, scope: string): { name: string; scopes: string[] } {
  if (request.headers['x-deny'] !== undefined)
    throw new SkillplaneError('unauthorized', 'missing or bad token');
  const raw = request.headers['x-scopes'];
  const scopes = typeof raw === 'string' ? raw.split(',').filter((s) => s !== '') : ALL_SCOPES;
  if (!scopes.includes(scope)) throw new SkillplaneError('forbidden', `scope ${scope} is required`);
  const name = request.headers['x-principal'];
  return { name: typeof name === 'string' ? name : 'tester', scopes };
}

/** Writes a skill folder `skills/<name>` under `root`: its manifest and, when given, `index.mjs`. */
export function writeSkill(root: string, name: string, yaml: string, code?: string): void {
  const d = join(root, 'skills', name);
  mkdirSync(d, { recursive: true });
  writeFileSync(join(d, 'skill.yaml'), yaml);
  if (code !== undefined) writeFileSync(join(d, 'index.mjs'), code);
}

/**
 * Adds, beside the harness skills: `test/upper` (output schema), `test/act` (an `action` input),
 * `test/greet` (prompt skill) and the Agent Skills folder `helper-notes` (`local/helper-notes`).
 */
export function writeExtraSkills(root: string): void {
  writeSkill(
    root,
    'upper',
    `skill_id: test/upper
version: 1.0.0
kind: tool
description: Upper-cases a text.
entry: ./index.mjs
input_schema: {type: object, required: [text], additionalProperties: false, properties: {text: {type: string, description: The text}}}
output_schema: {type: object, required: [upper], properties: {upper: {type: string}}}
`,
    'export default async (input) => ({ upper: input.text.toUpperCase() });',
  );
  writeSkill(
    root,
    'act',
    `skill_id: test/act
version: 1.0.0
kind: tool
description: Echoes an action.
entry: ./index.mjs
input_schema: {type: object, required: [action], properties: {action: {type: string}, n: {type: integer}}}
`,
    'export default async (input) => ({ echo: input });',
  );
  writeSkill(
    root,
    'greet',
    `skill_id: test/greet
version: 1.0.0
kind: prompt
description: Greets someone.
prompt: "Say hello to {{ name }} {{ times }} times."
input_schema: {type: object, required: [name], properties: {name: {type: string, description: Who to greet}, times: {type: integer}}}
`,
  );
  const notes = join(root, 'skills', 'helper-notes');
  mkdirSync(notes, { recursive: true });
  writeFileSync(
    join(notes, 'SKILL.md'),
    '---\nname: helper-notes\ndescription: Notes for helpers.\n---\n# Helper notes\n\nBe kind.\n',
  );
}
