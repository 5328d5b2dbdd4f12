import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { createSkillService, type SkillService } from '../../src/skills/index.js';
import { applySchemaDefaults } from '../../src/skills/template.js';
import type { JsonSchema } from '../../src/skills/manifest.js';

const examples = fileURLToPath(new URL('../../examples/skills', import.meta.url));
let service: SkillService;

beforeAll(async () => {
  const loaded = loadConfig({
    cwd: fileURLToPath(new URL('../..', import.meta.url)),
    env: {},
    overrides: { store: { driver: 'memory' }, skills: { directories: [examples], watch: false } },
  });
  service = await createSkillService(loaded, { watch: false });
});
afterAll(() => service.close());

const render = async (input: Record<string, unknown>): Promise<string> => {
  const result = await service.invoker.invoke({ skill: 'text/summarize', input, door: 'cli' });
  return (result.output as { prompt: string }).prompt;
};

describe('prompt skills apply their input schema defaults before rendering', () => {
  it('renders the example text/summarize with max_words 80 when the caller leaves it out', async () => {
    const prompt = await render({ text: 'A long report.' });
    expect(prompt).toContain('in at most 80 words');
    expect(prompt).not.toMatch(/at most\s+words/);
    expect(prompt).toContain('A long report.');
  });

  it('keeps a value the caller gives', async () => {
    expect(await render({ text: 'A long report.', max_words: 12 })).toContain('in at most 12 words');
  });

  it('fills nested defaults on a copy and leaves the caller’s input untouched', () => {
    const schema = {
      type: 'object',
      properties: {
        style: {
          type: 'object',
          default: {},
          properties: { tone: { type: 'string', default: 'plain' } },
        },
        n: { type: 'integer', default: 3 },
      },
    } as unknown as JsonSchema;
    const input = { n: 5 };
    expect(applySchemaDefaults(schema, input)).toEqual({ n: 5, style: { tone: 'plain' } });
    expect(input).toEqual({ n: 5 });
  });
});
