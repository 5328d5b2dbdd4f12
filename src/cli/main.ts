#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { reportError } from './output.js';
import type { GlobalOptions } from './context.js';
import { EXIT } from './exit-codes.js';
import { packageVersion } from './version.js';

// A reader that goes away (`skillplane skills list | head -1`) is not an error: stop quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code === 'EPIPE') process.exit(EXIT.ok);
    throw err;
  });
}

type Register = (program: Command, globals: () => GlobalOptions) => void;

/**
 * Each top-level command's module, loaded only when needed: `skillplane submit …` does not load
 * the server, `--version` loads nothing. Without a known command (help, a typo) all are loaded.
 */
const COMMANDS: Record<string, () => Promise<Register>> = {
  init: async () => (await import('./init-command.js')).registerInitCommand,
  skills: async () => (await import('./skills-commands.js')).registerSkillsCommands,
  run: async () => (await import('./run-commands.js')).registerRunCommands,
  demo: async () => (await import('./run-commands.js')).registerRunCommands,
  serve: async () => (await import('./serve-command.js')).registerServeCommand,
  worker: async () => (await import('./worker-command.js')).registerWorkerCommand,
  workers: async () => (await import('./workers-commands.js')).registerWorkersCommands,
  runs: async () => (await import('./remote-commands.js')).registerRemoteCommands,
  approvals: async () => (await import('./remote-commands.js')).registerRemoteCommands,
  submit: async () => (await import('./remote-commands.js')).registerRemoteCommands,
  audit: async () => (await import('./audit-command.js')).registerAuditCommand,
};

/** The command named on the command line (after the global options), if any. */
function commandName(argv: string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '-c' || arg === '--config') i++;
    else if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

const program = new Command();
program
  .name('skillplane')
  .description('A multi-agent runtime with native skills for OpenAI-compatible LLM servers.')
  .version(packageVersion(), '-V, --version', 'print the version')
  .option('-c, --config <file>', 'configuration file (default: ./skillplane.yaml if present)')
  .showHelpAfterError('(add --help for usage)')
  .exitOverride();

const globals = (): GlobalOptions => program.opts<GlobalOptions>();

try {
  const argv = process.argv.slice(2);
  const name = commandName(argv);
  const versionOnly = name === undefined && argv.some((a) => a === '-V' || a === '--version');
  const wanted =
    name !== undefined && COMMANDS[name] !== undefined
      ? [COMMANDS[name]]
      : versionOnly
        ? []
        : Object.values(COMMANDS);
  const registered = new Set<Register>();
  for (const load of wanted) {
    const register = await load();
    if (registered.has(register)) continue;
    registered.add(register);
    register(program, globals);
  }
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? EXIT.ok : EXIT.usage;
  } else {
    process.exitCode = reportError(err, process.argv.includes('--json'));
  }
}
