#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { reportError } from './output.js';
import type { GlobalOptions } from './context.js';
import { registerSkillsCommands } from './skills-commands.js';
import { registerRunCommands } from './run-commands.js';
import { registerServeCommand } from './serve-command.js';
import { registerRemoteCommands } from './remote-commands.js';

const program = new Command();
program
  .name('skillplane')
  .description('A multi-agent runtime with native skills for OpenAI-compatible LLM servers.')
  .option('-c, --config <file>', 'configuration file (default: ./skillplane.yaml if present)')
  .showHelpAfterError()
  .exitOverride();

const globals = (): GlobalOptions => program.opts<GlobalOptions>();
registerSkillsCommands(program, globals);
registerRunCommands(program, globals);
registerServeCommand(program, globals);
registerRemoteCommands(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) {
    process.exitCode = err.exitCode === 0 ? 0 : 2;
  } else {
    process.exitCode = reportError(err, process.argv.includes('--json'));
  }
}
