import { resolve } from 'node:path';
import type { Command } from 'commander';
import { createApp, type App } from '../app/index.js';
import { createLogger } from '../observability/index.js';
import { loadConfig } from '../config/index.js';
import type { RunRequestInput } from '../agents/index.js';
import { demoScript, startScriptedModelServer } from '../testing/index.js';
import type { RunEvent } from '../store/index.js';
import { driveRun, type RunHandle } from './drive-run.js';
import { exitCodeForStatus } from './exit-codes.js';
import { createEventPrinter, followRun } from './live-view.js';
import { fanOutFields, runShapeOptions } from './options.js';
import { out, outJson, reportError } from './output.js';
import { cliUser, loadCliConfig, type GlobalOptions } from './context.js';

interface RunFlags {
  input: string;
  strategy?: string;
  agents?: string[];
  items?: unknown[];
  reducer?: string;
  priority?: string;
  failFast?: boolean;
  approveAll?: boolean;
  timeout?: number;
  json?: boolean;
}

/** The in-process side of {@link driveRun}: the runtime itself. */
function inProcessRun(app: App, runId: string, print: (e: RunEvent) => void, principal: string): RunHandle {
  return {
    follow: (afterSeq) => followRun(app.runtime, runId, print, { afterSeq }),
    status: async () => (await app.runtime.getRun(runId)).status,
    pendingApprovals: () => app.runtime.listApprovals({ run_id: runId, status: 'pending' }),
    decide: async (id, approve) => {
      await app.runtime.decide(id, { approve, principal, reason: 'decided on the CLI' });
    },
  };
}

/**
 * Runs one request to its end in-process, asking for approvals on the terminal (or approving all);
 * returns the exit code of the status it ended in ({@link exitCodeForStatus}).
 */
async function runToEnd(
  app: App,
  request: RunRequestInput,
  flags: { approveAll?: boolean; json?: boolean },
  prefix = '',
): Promise<number> {
  const principal = `cli:${cliUser()}`;
  const { run } = await app.runtime.submit(request, { principal });
  const write = flags.json === true ? () => undefined : (l: string) => out(`${prefix}${l}`);
  if (flags.json !== true) out(`${prefix}run ${run.id} (${run.strategy}, ${run.priority})`);
  const status = await driveRun(inProcessRun(app, run.id, createEventPrinter(write), principal), {
    runId: run.id,
    write,
    ...(flags.approveAll === undefined ? {} : { approveAll: flags.approveAll }),
  });
  const current = await app.runtime.getRun(run.id);
  if (flags.json === true) outJson({ run: current, steps: await app.runtime.getSteps(run.id) });
  else if (status === 'completed') {
    const result = current.result as { output?: unknown } | null;
    out(`${prefix}\n${typeof result?.output === 'string' ? result.output : JSON.stringify(result, null, 2)}`);
    out(
      `${prefix}\nusage: ${current.usage.steps} steps, ${current.usage.input_tokens}+${current.usage.output_tokens} tokens, $${current.usage.cost_usd.toFixed(6)}`,
    );
  }
  return exitCodeForStatus(status);
}

/** `skillplane run` and `skillplane demo`. */
export function registerRunCommands(program: Command, globals: () => GlobalOptions): void {
  runShapeOptions(
    program.command('run [agent]').description('run an agent in-process with a live view of its steps'),
    { strategy: 'single', priority: 'interactive' },
  )
    .option('--approve-all', 'approve every approval the run asks for')
    .option('--json', 'print the finished run as JSON')
    .action(async (agent: string | undefined, flags: RunFlags) => {
      let app: App | undefined;
      try {
        // Only its own run: never take over the runs of a server that used the same store.
        const loaded = loadCliConfig(globals());
        // Stdout is the run's answer: logs go to stderr, errors only unless LOG_LEVEL says more.
        const logger = createLogger(loaded.config, { name: 'skillplane-run', fd: 2, level: 'error' });
        app = await createApp(loaded, { watch: false, recovery: 'off', logger });
        const request: RunRequestInput = {
          strategy: flags.strategy as RunRequestInput['strategy'],
          input: flags.input,
          priority: flags.priority as RunRequestInput['priority'],
          ...(agent === undefined ? {} : { agent }),
          ...fanOutFields(flags),
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
