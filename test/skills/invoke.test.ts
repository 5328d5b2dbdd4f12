import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadSkillsFromDirectories } from '../../src/skills/loader.js';
import { SkillPolicy } from '../../src/skills/policy.js';
import { SkillRegistry } from '../../src/skills/registry.js';
import { LocalDispatcher } from '../../src/skills/dispatch.js';
import { PromptExecutor } from '../../src/skills/executors/prompt.js';
import { ShellExecutor } from '../../src/skills/executors/shell.js';
import { ToolExecutor } from '../../src/skills/executors/tool.js';
import { WorkflowExecutor } from '../../src/skills/executors/workflow.js';
import { SkillInvoker, type SkillAuditEntry, type SkillInvocation } from '../../src/skills/invoke.js';
import { cleanup, makeTempDir, writeFiles } from './helpers.js';

let dir: string;
let invoker: SkillInvoker;
const audit: SkillAuditEntry[] = [];
const dirs: string[] = [];

/** One call through the invoker, from the CLI door unless `ctx` says otherwise. */
const runner = {
  execute: (ref: string, input: unknown, ctx: Partial<SkillInvocation> = {}) =>
    invoker.invoke({ skill: ref, input, door: 'cli', principal: 'tester', ...ctx }),
};

const tool = (id: string, body: string, extra = '') =>
  `skill_id: ${id}\nversion: 1.0.0\nkind: tool\ndescription: ${id}\nentry: ./index.mjs\n${extra}`;

beforeAll(async () => {
  dir = await makeTempDir('sp-runner-');
  dirs.push(dir);
  await writeFiles(dir, {
    'add/skill.yaml': tool(
      't/add',
      '',
      'input_schema: {type: object, required: [a, b], properties: {a: {type: number}, b: {type: number}}}\noutput_schema: {type: object, required: [sum], properties: {sum: {type: number}}}\n',
    ),
    'add/index.mjs': 'export default async ({ a, b }) => ({ sum: a + b, at: Date.now() });',
    'slowadd/skill.yaml': tool('t/slowadd', '', 'input_schema: {type: object}\n'),
    'slowadd/index.mjs':
      'export default async (input) => { const t0 = Date.now(); await new Promise((r) => setTimeout(r, 300)); return { start: t0, end: Date.now(), label: input.label }; };',
    'liar/skill.yaml': tool(
      't/liar',
      '',
      'output_schema: {type: object, required: [sum], properties: {sum: {type: number}}}\n',
    ),
    'liar/index.mjs': 'export default async () => ({ sum: "not a number" });',
    'sleepy/skill.yaml': tool('t/sleepy', '', 'timeouts: {execute_sec: 0.3}\n'),
    'sleepy/index.mjs': 'export default () => new Promise(() => {});',
    'boom/skill.yaml': tool('t/boom', ''),
    'boom/index.mjs': 'export default async () => { throw new Error("kaboom"); };',
    'risky/skill.yaml': tool('t/risky', '', 'risk_tags: [destructive]\n'),
    'risky/index.mjs': 'export default async () => ({ done: true });',
    'greet/skill.yaml':
      'skill_id: t/greet\nversion: 1.0.0\nkind: prompt\ndescription: greet\ninput_schema: {type: object, required: [name], properties: {name: {type: string}, who: {type: object}}}\nprompt: "Hello {{ name }} from {{who.city}}!"\n',
    'flow/skill.yaml': `skill_id: t/flow
version: 1.0.0
kind: workflow
description: two parallel steps then a sum
input_schema: {type: object, required: [x], properties: {x: {type: number}}}
steps:
  - {id: left, skill: t/slowadd, input: {label: 'L\${input.x}'}}
  - {id: right, skill: t/slowadd, input: {label: 'R\${input.x}'}}
  - {id: total, skill: t/add@^1, needs: [left, right], input: {a: '\${input.x}', b: 10}}
`,
    'badflow/skill.yaml': `skill_id: t/badflow
version: 1.0.0
kind: workflow
description: a failing step cancels the rest
steps:
  - {id: slow, skill: t/sleepy}
  - {id: bad, skill: t/boom}
`,
    'riskyflow/skill.yaml': `skill_id: t/riskyflow
version: 1.0.0
kind: workflow
description: a risky step needs an approval
steps:
  - {id: danger, skill: t/risky}
`,
  });
  const { skills, errors } = await loadSkillsFromDirectories([dir], { strict: true });
  expect(errors).toEqual([]);
  const registry = new SkillRegistry(skills);
  const policy = new SkillPolicy({
    allowShell: false,
    allowNetwork: false,
    allowedRoots: [],
    requireApprovalTags: ['destructive'],
  });
  invoker = new SkillInvoker({
    registry,
    policy,
    audit: { append: async (e) => void audit.push(e) },
    dispatcher: new LocalDispatcher({
      tool: new ToolExecutor({ policy, warmProcesses: 1 }),
      shell: new ShellExecutor({ policy }),
      prompt: new PromptExecutor(),
      workflow: new WorkflowExecutor((ref, input, ctx) =>
        invoker
          .invoke({
            skill: ref,
            input,
            door: 'workflow',
            signal: ctx.signal,
            ...(ctx.approval === undefined ? {} : { approval: ctx.approval }),
          })
          .then((r) => r.output),
      ),
    }),
  });
});

afterAll(async () => {
  await invoker.close();
  await cleanup(dirs);
});

describe('SkillInvoker', () => {
  it('validates input before running and output after', async () => {
    await expect(runner.execute('t/add', { a: 1, b: 2 })).resolves.toMatchObject({
      skill: 't/add@1.0.0',
      output: { sum: 3 },
    });
    await expect(runner.execute('t/add', { a: '1', b: 2 })).rejects.toMatchObject({
      code: 'input_invalid',
      issues: [{ path: 'a', message: 'must be number' }],
    });
    await expect(runner.execute('t/liar', {})).rejects.toMatchObject({ code: 'output_invalid' });
  });

  it('resolves tool names and ranges, and refuses unknown skills with not_found', async () => {
    await expect(runner.execute('t__add@^1', { a: 2, b: 2 })).resolves.toMatchObject({ output: { sum: 4 } });
    await expect(runner.execute('t/nope', {})).rejects.toMatchObject({ code: 'not_found' });
  });

  it('enforces timeouts.execute_sec with code timeout', async () => {
    const t0 = performance.now();
    await expect(runner.execute('t/sleepy', {})).rejects.toMatchObject({ code: 'timeout' });
    expect(performance.now() - t0).toBeLessThan(2_000);
  });

  it('cancels through the caller signal with code cancelled', async () => {
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    await expect(runner.execute('t/slowadd', {}, { signal: controller.signal })).rejects.toMatchObject({
      code: 'cancelled',
    });
  });

  it('reports a throwing skill as skill_failed with its message', async () => {
    await expect(runner.execute('t/boom', {})).rejects.toMatchObject({
      code: 'skill_failed',
      message: expect.stringContaining('kaboom'),
    });
  });

  it('requires an approval for a risk-tagged skill and runs with one', async () => {
    await expect(runner.execute('t/risky', {})).rejects.toMatchObject({ code: 'approval_required' });
    await expect(
      runner.execute('t/risky', {}, { approval: { approved_by: 'alice' } }),
    ).resolves.toMatchObject({ output: { done: true } });
  });

  it('renders a prompt skill with its input (nested paths too)', async () => {
    const r = await runner.execute('t/greet', { name: 'Ada', who: { city: 'London' } });
    expect(r.output).toEqual({ prompt: 'Hello Ada from London!' });
    const completed = await runner.execute(
      't/greet',
      { name: 'Ada' },
      { complete: async (p: string) => `model saw: ${p}` },
    );
    expect(completed.output).toEqual({ prompt: 'Hello Ada from !', text: 'model saw: Hello Ada from !' });
  });

  it('runs workflow steps as a DAG: independent steps in parallel, mapped inputs, dependent step after', async () => {
    const r = await runner.execute('t/flow', { x: 5 });
    const out = r.output as {
      left: { start: number; end: number; label: string };
      right: { start: number; end: number; label: string };
      total: { sum: number; at: number };
    };
    expect(out.left.label).toBe('L5');
    expect(out.right.label).toBe('R5');
    expect(out.total.sum).toBe(15);
    // Overlapping windows: the two independent steps ran at the same time.
    expect(out.left.start).toBeLessThan(out.right.end);
    expect(out.right.start).toBeLessThan(out.left.end);
    expect(out.total.at).toBeGreaterThanOrEqual(Math.max(out.left.end, out.right.end));
  });

  it('fails a workflow on the first failed step, naming it, and cancels the others', async () => {
    const t0 = performance.now();
    await expect(runner.execute('t/badflow', {})).rejects.toMatchObject({
      code: 'skill_failed',
      data: expect.objectContaining({ step: 'bad' }),
    });
    expect(performance.now() - t0).toBeLessThan(300);
  });

  it('applies the policy to each workflow step', async () => {
    await expect(runner.execute('t/riskyflow', {})).rejects.toMatchObject({ code: 'approval_required' });
    await expect(
      runner.execute('t/riskyflow', {}, { approval: { approved_by: 'alice' } }),
    ).resolves.toMatchObject({
      output: { danger: { done: true } },
    });
  });

  it("arms one deadline: the caller's when it is shorter than the skill's", async () => {
    const t0 = performance.now();
    await expect(runner.execute('t/slowadd', {}, { timeoutMs: 50 })).rejects.toMatchObject({
      code: 'timeout',
      data: { timeout_ms: 50 },
    });
    expect(performance.now() - t0).toBeLessThan(250);
  });

  it('writes one audit entry per call, failed or not, naming the door and the approver', async () => {
    audit.length = 0;
    await runner.execute('t/add', { a: 1, b: 1 }, { door: 'http', principal: 'ann' });
    await expect(runner.execute('t/risky', {}, { door: 'mcp', principal: 'bob' })).rejects.toMatchObject({
      code: 'approval_required',
    });
    await runner.execute(
      't/risky',
      {},
      { door: 'openclaw', principal: 'cy', approval: { approved_by: 'cy' } },
    );
    expect(
      audit.map((e) => [e.principal, e.target, e.data.door, e.data.ok, e.data.code, e.data.approved_by]),
    ).toEqual([
      ['ann', 't/add@1.0.0', 'http', true, null, null],
      ['bob', 't/risky@1.0.0', 'mcp', false, 'approval_required', null],
      ['cy', 't/risky@1.0.0', 'openclaw', true, null, 'cy'],
    ]);
  });
});
