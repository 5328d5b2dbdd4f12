import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import { SkillplaneError } from '../errors/index.js';
import { out, outJson, reportError } from './output.js';

/** The files `skillplane init` writes, relative to the target folder. */
export const STARTER_FILES: Readonly<Record<string, string>> = {
  'skillplane.yaml': `# skillplane configuration. Every key is optional; \`skillplane serve\` reads this file.
server: { host: 127.0.0.1, port: 8787 }
store: { driver: sqlite, path: ./data/skillplane.db }

# Any OpenAI-compatible server. This points at Ollama on this machine
# (\`ollama pull llama3.2\`); for LM Studio use http://127.0.0.1:1234/v1, for vLLM or llama.cpp
# their /v1 URL. Set api_key when the server needs one.
models:
  default: { base_url: http://127.0.0.1:11434/v1, model: llama3.2 }

agents:
  directories: [./agents]

skills:
  directories: [./skills]
`,
  'agents/assistant.yaml': `# One agent per file. \`skills\` takes ids or patterns such as starter/*.
name: assistant
description: A starter agent that can count words.
model: default
instructions: |
  You are a helpful assistant. When asked about the length of a text, use the word-count tool.
  Answer briefly.
skills: [starter/word-count]
max_steps: 6
`,
  'skills/word-count/skill.yaml': `# A tool skill: the default export of \`entry\` runs in the sandbox with the validated input.
skill_id: starter/word-count
version: 0.1.0
kind: tool
description: Count the words and characters of a text.
input_schema:
  type: object
  required: [text]
  additionalProperties: false
  properties:
    text: { type: string, description: The text to count. }
output_schema:
  type: object
  required: [words, characters]
  properties:
    words: { type: integer }
    characters: { type: integer }
entry: ./index.mjs
permissions: { fs: { read: [], write: [] }, network: [], shell: false }
timeouts: { execute_sec: 5 }
`,
  'skills/word-count/index.mjs': `// The skill's code: input is already validated against input_schema; ctx carries the signal.
export default async function wordCount(input) {
  const words = input.text.trim() === '' ? 0 : input.text.trim().split(/\\s+/).length;
  return { words, characters: input.text.length };
}
`,
};

/** A path as the user best reads it: relative under the current folder, else absolute. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel === '' ? '.' : rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

/**
 * Writes the starter files into `dir` (created when missing). Refuses, before writing anything,
 * when one of them exists, unless `force`. Returns the paths written.
 */
export function writeStarter(dir: string, force = false): string[] {
  const target = resolve(dir);
  if (existsSync(target) && !statSync(target).isDirectory())
    throw new SkillplaneError('init_target_invalid', `${target} exists and is not a folder`, {
      data: { dir: target },
    });
  const paths = Object.keys(STARTER_FILES).map((f) => join(target, f));
  const existing = paths.filter((p) => existsSync(p));
  if (existing.length > 0 && !force)
    throw new SkillplaneError(
      'init_would_overwrite',
      `refusing to overwrite ${existing.map(shown).join(', ')}; ` + 'choose an empty folder or pass --force',
      { data: { dir: target, existing } },
    );
  for (const [file, text] of Object.entries(STARTER_FILES)) {
    const path = join(target, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text, 'utf8');
  }
  return paths;
}

/** `skillplane init [dir]`: a starter config, agent and skill. */
export function registerInitCommand(program: Command): void {
  program
    .command('init [dir]')
    .description('write a starter skillplane.yaml, an agent and a skill into DIR (default: .)')
    .option('--force', 'overwrite starter files that already exist')
    .option('--json', 'machine-readable output')
    .action((dir: string | undefined, flags: { force?: boolean; json?: boolean }) => {
      try {
        const target = resolve(dir ?? '.');
        const written = writeStarter(target, flags.force === true);
        if (flags.json === true) return outJson({ ok: true, dir: target, files: written });
        for (const p of written) out(`wrote ${shown(p)}`);
        out('');
        out('next:');
        if (target !== process.cwd()) out(`  cd ${shown(target)}`);
        out('  skillplane skills validate        # check the skill');
        out(
          '  skillplane serve                  # start the API (needs the model server in skillplane.yaml)',
        );
        out('  skillplane run assistant -i "How many words are in: to be or not to be?"');
      } catch (err) {
        process.exitCode = reportError(err, flags.json === true);
      }
    });
}
