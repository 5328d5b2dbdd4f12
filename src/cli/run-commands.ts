import { createInterface } from 'node:readline/promises';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { createApp, type App } from '../app/index.js';
import { loadConfig } from '../config/index.js';
import { ValidationError } from '../errors/index.js';
import type { RunRequestInput } from '../agents/index.js';
import { demoScript, startScriptedModelServer } from '../testing/index.js';
import { followRun } from './live-view.js';
import { out, outJson, reportError } from './output.js';
import { loadCliConfig, type GlobalOptions } from './context.js';

interface RunFlags {
  input: string;
  strategy?: string;
  agents?: string;
  items?: string;
  reducer?: string;
  priority?: string;
  failFast?: boolean;
  approveAll?: boolean;
  timeout?: string;
  json?: boolean;
}

function parseItems(text: string): unknown[] {
  try {
    const v: unknown = JSON.parse(text);
    if (Array.isArray(v)) return v;
  } catch {
    // fall through to the error below
  }
  throw new ValidationError(
    '--items must be a JSON array',
    [{ path: 'items', message: 'expected a JSON array' }],
    'invalid_request',
  );
}

/** Runs one request to its end in-process, asking for approvals on the terminal (or approving all). */
async function runToEnd(
  app: App,
  request: RunRequestInput,
  flags: { approveAll?: boolean; json?: boolean },
  prefix = '',
): Promise<number> {
  const { run } = await app.runtime.submit(request, { principal: `cli:${process.env.USER ?? 'user'}` });
  const write = flags.json === true ? () => undefined : (l: string) => out(l);
  if (flags.json !== true) out(`${prefix}run ${run.id} (${run.strategy}, ${run.priority})`);
  let seen = 0;
  for (;;) {
    seen = await followRun(app.runtime, run.id, (l) => write(`${prefix}${l}`), { afterSeq: seen });
    const current = await app.runtime.getRun(run.id);
    if (current.status !== 'waiting_approval') {
      if (flags.json === true) outJson({ run: current, steps: await app.runtime.getSteps(run.id) });
      else if (current.status === 'completed') {
        const result = current.result as { output?: unknown } | null;
        out(
          `${prefix}\n${typeof result?.output === 'string' ? result.output : JSON.stringify(result, null, 2)}`,
        );
        out(
          `${prefix}\nusage: ${current.usage.steps} steps, ${current.usage.input_tokens}+${current.usage.output_tokens} tokens, $${current.usage.cost_usd.toFixed(6)}`,
        );
      }
      return current.status === 'completed' ? 0 : 1;
    }
    for (const a of await app.runtime.listApprovals({ run_id: run.id, status: 'pending' })) {
      let approve = flags.approveAll === true;
      if (!approve && process.stdin.isTTY) {
        const rl = createInterface({ input: process.stdin, output: process.stdout });
        const answer = await rl.question(
          `${prefix}approve ${a.skill_id} with ${JSON.stringify(a.args)}? [y/N] `,
        );
        rl.close();
        approve = /^y(es)?$/i.test(answer.trim());
      } else if (!approve) {
        out(
          `${prefix}run ${run.id} waits for approval ${a.id}; approve it over the API or rerun with --approve-all`,
        );
        return 3;
      }
      write(`${prefix}${approve ? 'approving' : 'denying'} ${a.id}`);
      await app.runtime.decide(a.id, {
        approve,
        principal: `cli:${process.env.USER ?? 'user'}`,
        reason: 'decided on the CLI',
      });
    }
  }
}

/** `skillplane run` and `skillplane demo`. */
export function registerRunCommands(program: Command, globals: () => GlobalOptions): void {
  program
    .command('run [agent]')
    .description('run an agent in-process with a live view of its steps')
    .requiredOption('-i, --input <text>', 'the request')
    .option('-s, --strategy <name>', 'single | router | handoff | parallel_map', 'single')
    .option('--agents <names>', 'comma-separated agents (router candidates, parallel_map fan-out)')
    .option('--items <json>', 'parallel_map: a JSON array, one branch per item')
    .option('--reducer <agent>', 'parallel_map: the agent that merges the branches')
    .option('--priority <p>', 'interactive | normal | batch', 'interactive')
    .option('--no-fail-fast', 'parallel_map: let the other branches finish when one fails')
    .option('--approve-all', 'approve every approval the run asks for')
    .option('--timeout <sec>', 'run timeout in seconds')
    .option('--json', 'print the finished run as JSON')
    .action(async (agent: string | undefined, flags: RunFlags) => {
      let app: App | undefined;
      try {
        app = await createApp(loadCliConfig(globals()), { watch: false });
        const request: RunRequestInput = {
          strategy: flags.strategy as RunRequestInput['strategy'],
          input: flags.input,
          priority: flags.priority as RunRequestInput['priority'],
          ...(agent === undefined ? {} : { agent }),
          ...(flags.agents === undefined
            ? {}
            : {
                agents: flags.agents
                  .split(',')
                  .map((s) => s.trim())
                  .filter(Boolean),
              }),
          ...(flags.items === undefined ? {} : { items: parseItems(flags.items) }),
          ...(flags.timeout === undefined ? {} : { limits: { timeout_sec: Number(flags.timeout) } }),
          options: {
            fail_fast: flags.failFast !== false,
            ...(flags.reducer === undefined ? {} : { reducer: flags.reducer }),
          },
        };
        process.exitCode = await runToEnd(app, request, flags);
      } catch (err) {
        process.exitCode = reportError(err, flags.json === true);
      } finally {
        await app?.close(1000);
      }
    });

  program
    .command('demo')
    .description(
      'run the example agents with every strategy against a built-in scripted model (no LLM needed)',
    )
    .action(async () => {
      const server = await startScriptedModelServer({ script: demoScript, model: 'demo-model' });
      let app: App | undefined;
      try {
        const root = resolve(import.meta.dirname, '..', '..');
        const loaded = loadConfig({
          cwd: root,
          env: {},
          overrides: {
            store: { driver: 'memory' },
            models: {
              default: {
                base_url: server.url,
                model: 'demo-model',
                price_per_1k_input: 0.0005,
                price_per_1k_output: 0.0015,
              },
            },
            skills: {
              directories: ['./examples/skills'],
              allowed_roots: ['./examples/workspace'],
              watch: false,
            },
            agents: { directories: ['./examples/agents'] },
          },
        });
        app = await createApp(loaded, { watch: false });
        const demos: [string, RunRequestInput][] = [
          [
            'single',
            { agent: 'assistant', input: 'What do the notes say about approvals?', priority: 'interactive' },
          ],
          [
            'router',
            { strategy: 'router', agents: ['researcher', 'writer'], input: 'Which runs are admitted first?' },
          ],
          ['handoff', { strategy: 'handoff', agent: 'triage', input: 'Please write a report on operations' }],
          [
            'parallel_map',
            {
              strategy: 'parallel_map',
              agent: 'researcher',
              items: ['scheduler', 'backup', 'approval'],
              input: 'Find what the workspace says about this topic',
              options: { reducer: 'editor', fail_fast: true },
            },
          ],
        ];
        let failed = 0;
        for (const [name, request] of demos) {
          out(`\n=== ${name} ===`);
          const code = await runToEnd(app, request, { approveAll: true }, '  ');
          if (code !== 0) failed++;
        }
        out(
          `\n${demos.length - failed}/${demos.length} demo runs completed; the model server answered ${server.requests.length} requests.`,
        );
        if (failed > 0) process.exitCode = 1;
      } catch (err) {
        process.exitCode = reportError(err, false);
      } finally {
        await app?.close(1000);
        await server.close();
      }
    });
}
