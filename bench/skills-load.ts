/**
 * Load time of 500 skills: `loadSkillsFromDirectories` + `SkillRegistry.replaceAll`, against a
 * baseline of only reading and YAML-parsing the same 500 manifest files in the same process.
 * Run with `npx tsx bench/skills-load.ts`; exits non-zero when a cold load takes 1 s or more.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';
import { parse as parseYaml } from 'yaml';
import { clearSchemaCompileCache, loadSkillsFromDirectories } from '../src/skills/loader.js';
import { SkillRegistry } from '../src/skills/registry.js';
import { emitResult, MODE, sized, summaryRow } from './lib/measure.js';

/** Budget for loading 500 skills, in ms. */
export const LOAD_BUDGET_MS = 1000;

async function put(file: string, text: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  await writeFile(file, text);
}

/**
 * Writes `count` skills below `root` in 10 namespaces: 40 % `skill.yaml` tool skills with `$ref`
 * input/output schemas (JSON and YAML) and an entry, 30 % `SKILL.md` Agent Skills, 30 % prompt
 * skills. Every schema differs, so no two compile alike. Returns the manifest files.
 */
export async function generateSkills(root: string, count: number): Promise<string[]> {
  const files: string[] = [];
  await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const ns = `ns${i % 10}`;
      const dir = path.join(root, ns, `skill-${i}`);
      const kind = i % 10 < 4 ? 'tool' : i % 10 < 7 ? 'agent' : 'prompt';
      let file: string;
      if (kind === 'tool') {
        file = path.join(dir, 'skill.yaml');
        await put(
          file,
          [
            `skill_id: ${ns}/skill-${i}`,
            `version: 1.${i}.0`,
            'kind: tool',
            `description: Tool skill number ${i}, searching things.`,
            `tags: [bench, t${i % 7}]`,
            'input_schema: {$ref: ./schemas/in.json}',
            'output_schema: {$ref: ./schemas/out.yaml}',
            'entry: ./index.mjs',
            'permissions:',
            '  fs: {read: [data/], write: []}',
            '  network: [api.example.com]',
            '  shell: false',
            'roots: [data/]',
            'risk_tags: []',
            'model_preferences: {hints: [small], speed_priority: 0.8}',
            'timeouts: {execute_sec: 30}',
            'execution: local',
            '',
          ].join('\n'),
        );
        const input = {
          type: 'object',
          required: [`query_${i}`],
          additionalProperties: false,
          properties: {
            [`query_${i}`]: { type: 'string', minLength: 1, maxLength: 200 + i },
            limit: { type: 'integer', minimum: 1, maximum: 100, default: 10 },
            since: { type: 'string', format: 'date-time' },
          },
        };
        await put(path.join(dir, 'schemas', 'in.json'), JSON.stringify(input, null, 2));
        await put(
          path.join(dir, 'schemas', 'out.yaml'),
          `type: object\nrequired: [hits]\nproperties:\n  hits:\n    type: array\n    maxItems: ${100 + i}\n    items: {type: string}\n`,
        );
        await put(path.join(dir, 'index.mjs'), 'export default async (input) => ({ hits: [] });\n');
      } else if (kind === 'agent') {
        file = path.join(dir, 'SKILL.md');
        const body = `# Skill ${i}\n\n${'Follow these careful instructions step by step. '.repeat(40)}\n`;
        await put(
          file,
          `---\nname: skill-${i}\ndescription: Agent skill number ${i}.\nlicense: MIT\nmetadata:\n  author: bench\n---\n\n${body}`,
        );
      } else {
        file = path.join(dir, 'skill.yaml');
        await put(
          file,
          [
            `skill_id: ${ns}/skill-${i}`,
            'version: 2.0.0',
            'kind: prompt',
            `description: Prompt skill number ${i}.`,
            `input_schema: {type: object, required: [text], properties: {text: {type: string, maxLength: ${1000 + i}}}}`,
            'prompt: |',
            '  Summarise the following text in three bullet points:',
            '  {{text}}',
            '',
          ].join('\n'),
        );
      }
      files[i] = file;
    }),
  );
  return files;
}

/** Reads and YAML-parses each manifest (front matter only for SKILL.md), without validation. */
export async function baselineParse(files: string[]): Promise<number> {
  let parsed = 0;
  await Promise.all(
    files.map(async (file) => {
      const text = await readFile(file, 'utf8');
      const yaml = file.endsWith('.md') ? (/^---\r?\n([\s\S]*?)\r?\n---/.exec(text)?.[1] ?? '') : text;
      if (parseYaml(yaml) !== null) parsed++;
    }),
  );
  return parsed;
}

/** Loads the skills and swaps them into a fresh registry; returns how many loaded and the errors. */
export async function loadIntoRegistry(root: string): Promise<{ skills: number; errors: number }> {
  const { skills, errors } = await loadSkillsFromDirectories([root], { strict: true });
  const registry = new SkillRegistry();
  registry.replaceAll(skills);
  return { skills: registry.size, errors: errors.length };
}

async function timeIt(fn: () => Promise<unknown>, runs: number, before?: () => void): Promise<number[]> {
  await fn(); // warm-up
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    before?.();
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return times;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const count = sized(500, 500, 50);
  const runs = sized(5, 3, 1);
  const root = await mkdtemp(path.join(os.tmpdir(), 'skillplane-bench-'));
  try {
    const files = await generateSkills(root, count);
    const check = await loadIntoRegistry(root);
    if (check.skills !== count || check.errors !== 0) {
      throw new Error(
        `expected ${count} skills and no errors, got ${check.skills} skills and ${check.errors} errors`,
      );
    }
    const baseline = await timeIt(() => baselineParse(files), runs);
    const cold = await timeIt(() => loadIntoRegistry(root), runs, clearSchemaCompileCache);
    const warm = await timeIt(() => loadIntoRegistry(root), runs);
    const rows: [string, number[]][] = [
      ['baseline: read + YAML parse only', baseline],
      ['load + replaceAll (cold schema cache)', cold],
      ['load + replaceAll (warm, as on hot reload)', warm],
    ];
    const fmt = (n: number) => n.toFixed(1).padStart(8);
    console.log(`${count} skills, median of ${runs} runs after one warm-up (Node ${process.version})\n`);
    console.log(
      `${'case'.padEnd(44)} ${'median ms'.padStart(9)} ${'min ms'.padStart(8)} ${'max ms'.padStart(8)} ${'µs/skill'.padStart(9)}`,
    );
    for (const [name, times] of rows) {
      const m = median(times);
      console.log(
        `${name.padEnd(44)} ${fmt(m).padStart(9)} ${fmt(Math.min(...times))} ${fmt(Math.max(...times))} ${fmt((m * 1000) / count).padStart(9)}`,
      );
    }
    const coldMedian = median(cold);
    console.log(
      `\nload / baseline: ${(coldMedian / median(baseline)).toFixed(1)}x; budget ${LOAD_BUDGET_MS} ms`,
    );
    emitResult(
      'skills-load',
      [
        summaryRow(`load ${count} skills, cold`, coldMedian, median(baseline), 'ms', {
          lowerIsBetter: true,
          ...(MODE === 'full' ? { target: { max: LOAD_BUDGET_MS } } : {}),
        }),
        summaryRow(`load ${count} skills, warm (hot reload)`, median(warm), median(baseline), 'ms', {
          lowerIsBetter: true,
        }),
      ],
      { count, runs, baseline_ms: median(baseline), cold_ms: coldMedian, warm_ms: median(warm) },
    );
    // The budget is a timing check: only on a full run, never at the tiny size `npm test` uses.
    if (MODE === 'full' && coldMedian >= LOAD_BUDGET_MS) {
      console.error(`FAIL: ${count} skills took ${coldMedian.toFixed(0)} ms (budget ${LOAD_BUDGET_MS} ms)`);
      process.exitCode = 1;
    }
  } finally {
    await rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
}
