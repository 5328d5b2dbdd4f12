/**
 * Opta-LMX's fixtures for the interop tests: the skills of its tests (tests/test_skills_api.py,
 * tests/test_mcp_surface.py) as skillplane manifests, and the API harness with them loaded.
 */
import { expect } from 'vitest';
import { startApi, type ApiHarness } from '../api/helpers.js';
import { writeSkill } from '../mcp/fixtures.js';

/** The skills of Opta's fixtures, as skillplane manifests (beside the harness's `test/*` skills). */
export function writeOptaSkills(root: string): void {
  writeSkill(
    root,
    'opta-echo',
    `skill_id: default/echo
version: 1.0.0
kind: tool
description: Echo back input arguments.
entry: ./index.mjs
input_schema: {type: object, properties: {topic: {type: string}}, required: [topic], additionalProperties: false}
`,
    'export default async (input) => ({ echo: input });',
  );
  writeSkill(
    root,
    'opta-add',
    `skill_id: default/add
version: 1.0.0
kind: tool
description: Add two numbers.
entry: ./index.mjs
input_schema: {type: object, properties: {left: {type: number}, right: {type: number}}, required: [left, right]}
`,
    'export default async (input) => ({ sum: input.left + input.right });',
  );
  writeSkill(
    root,
    'opta-planner',
    `skill_id: openclaw/planner
version: 2.0.0
kind: prompt
description: OpenClaw planner prompt.
prompt: "Plan {{ goal }}"
input_schema: {type: object, properties: {goal: {type: string}}, required: [goal]}
`,
  );
  writeSkill(
    root,
    'opta-summarize',
    `skill_id: default/summarize
version: 1.0.0
kind: prompt
description: Summarize a document on a given topic.
prompt: "Summarize the following about {{ topic }}: {{ text }}"
input_schema: {type: object, properties: {topic: {type: string}, text: {type: string}}, required: [topic, text]}
`,
  );
  writeSkill(
    root,
    'opta-boom',
    `skill_id: default/boom
version: 1.0.0
kind: tool
description: Always raises.
entry: ./index.mjs
`,
    "export default async () => { throw new Error('kaboom'); };",
  );
  writeSkill(
    root,
    'opta-nap',
    `skill_id: default/nap
version: 1.0.0
kind: tool
description: Never answers before its deadline.
entry: ./index.mjs
timeouts: {execute_sec: 0.3}
`,
    `export default (input, ctx) => new Promise((_, reject) => {
  ctx.signal.addEventListener('abort', () => reject(new Error('aborted')));
});`,
  );
}

/** The API harness (its own skill folder) with Opta's skills added and loaded. */
export async function startOptaApi(opts: Parameters<typeof startApi>[0] = {}): Promise<ApiHarness> {
  const api = await startApi(opts);
  writeOptaSkills(api.dir);
  const loaded = await api.app.ports.skills.reload();
  expect(loaded.errors).toEqual([]);
  return api;
}
