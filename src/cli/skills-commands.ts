import { resolve } from 'node:path';
import type { Command } from 'commander';
import { ValidationError } from '../errors/index.js';
import { loadSkillsFromDirectories, createSkillService, SKILL_KINDS, type Skill } from '../skills/index.js';
import { choiceOption } from './options.js';
import { out, outJson, reportError, table } from './output.js';
import { cliUser, loadCliConfig, type GlobalOptions } from './context.js';

function skillSummary(s: Skill) {
  return {
    id: s.id,
    version: s.version,
    kind: s.manifest.kind,
    tool_name: s.toolName,
    description: s.manifest.description,
    tags: s.manifest.tags,
    risk_tags: s.manifest.risk_tags,
    idempotent: s.manifest.idempotent,
    execution: s.manifest.execution,
    source: s.source,
    dir: s.dir,
  };
}

function parseJsonInput(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new ValidationError(
      '--input is not valid JSON',
      [{ path: 'input', message: (err as Error).message }],
      'invalid_input_json',
    );
  }
}

/** `skillplane skills list | show | validate | run`. */
export function registerSkillsCommands(program: Command, globals: () => GlobalOptions): void {
  const skills = program.command('skills').description('list, inspect, validate and run skills');

  skills
    .command('list')
    .description('list the skills in the configured directories')
    .option('--namespace <ns>', 'only this namespace')
    .addOption(choiceOption('--kind <kind>', 'only this kind', SKILL_KINDS))
    .option('--tag <tag>', 'only skills with this tag or risk tag')
    .option('--all-versions', 'list every version, not only the latest')
    .option('--json', 'machine-readable output')
    .action(
      async (opts: {
        namespace?: string;
        kind?: string;
        tag?: string;
        allVersions?: boolean;
        json?: boolean;
      }) => {
        const service = await createSkillService(loadCliConfig(globals()), { watch: false });
        try {
          const list = service.registry.list({
            ...(opts.namespace === undefined ? {} : { namespace: opts.namespace }),
            ...(opts.kind === undefined ? {} : { kind: opts.kind as Skill['manifest']['kind'] }),
            ...(opts.tag === undefined ? {} : { tag: opts.tag }),
            latestOnly: opts.allVersions !== true,
          });
          if (opts.json === true) {
            outJson({ skills: list.map(skillSummary), errors: service.loadErrors });
          } else {
            out(
              table(
                ['ID', 'VERSION', 'KIND', 'RISK', 'DESCRIPTION'],
                list.map((s) => [
                  s.id,
                  s.version,
                  s.manifest.kind,
                  [...s.manifest.risk_tags, ...(s.manifest.idempotent ? [] : ['not-idempotent'])].join(',') ||
                    '-',
                  s.manifest.description.length > 70
                    ? `${s.manifest.description.slice(0, 67)}...`
                    : s.manifest.description,
                ]),
              ),
            );
            out(
              `\n${list.length} skill(s)${service.loadErrors.length > 0 ? `, ${service.loadErrors.length} load error(s): run \`skillplane skills validate\`` : ''}`,
            );
          }
        } finally {
          await service.close();
        }
      },
    );

  skills
    .command('show <id>')
    .description('show one skill (id, id@version or id@range)')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { json?: boolean }) => {
      const service = await createSkillService(loadCliConfig(globals()), { watch: false });
      try {
        const skill = service.registry.resolve(id);
        const detail = {
          ...skillSummary(skill),
          file: skill.file,
          versions: service.registry.versions(skill.id).map((s) => s.version),
          input_schema: skill.inputSchema,
          output_schema: skill.outputSchema ?? null,
          permissions: skill.manifest.permissions,
          roots: skill.manifest.roots,
          timeouts: skill.manifest.timeouts,
          model_preferences: skill.manifest.model_preferences ?? null,
        };
        if (opts.json === true) outJson(detail);
        else {
          out(`${skill.id}@${skill.version}  (${skill.manifest.kind}, tool name ${skill.toolName})`);
          out(skill.manifest.description);
          out(`file:        ${skill.file}`);
          out(`versions:    ${detail.versions.join(', ')}`);
          out(`risk tags:   ${skill.manifest.risk_tags.join(', ') || 'none'}`);
          out(
            `idempotent:  ${idempotencyLine(skill.manifest.idempotent, service.registry.riskTags(skill.id).length > 0)}`,
          );
          out(`permissions: ${JSON.stringify(skill.manifest.permissions)}`);
          out(`roots:       ${skill.manifest.roots.join(', ') || 'none'}`);
          out(`timeout:     ${skill.manifest.timeouts.execute_sec} s, execution ${skill.manifest.execution}`);
          out(`input:       ${JSON.stringify(skill.inputSchema)}`);
          if (skill.outputSchema !== undefined) out(`output:      ${JSON.stringify(skill.outputSchema)}`);
        }
      } finally {
        await service.close();
      }
    });

  skills
    .command('validate [dir]')
    .description('validate every skill in DIR (default: the configured directories); exits 1 on any error')
    .option('--json', 'machine-readable output')
    .action(async (dir: string | undefined, opts: { json?: boolean }) => {
      const loaded = loadCliConfig(globals());
      const dirs =
        dir === undefined
          ? loaded.config.skills.directories.map((d) => resolve(loaded.baseDir, d))
          : [resolve(dir)];
      const result = await loadSkillsFromDirectories(dirs, {
        strict: loaded.config.skills.strict_validation,
      });
      if (opts.json === true) {
        outJson({
          ok: result.errors.length === 0,
          skills: result.skills.map((s) => `${s.id}@${s.version}`),
          errors: result.errors,
        });
      } else {
        for (const s of result.skills) out(`ok     ${s.id}@${s.version}  ${s.file}`);
        for (const e of result.errors)
          process.stderr.write(`error  ${e.file}${e.path === '' ? '' : `: ${e.path}`}: ${e.message}\n`);
        out(`\n${result.skills.length} valid, ${result.errors.length} error(s)`);
      }
      if (result.errors.length > 0) process.exitCode = 1;
    });

  skills
    .command('run <id>')
    .description('execute one skill with JSON input (prompt skills print the rendered prompt)')
    .requiredOption('--input <json>', 'the input, as JSON', '{}')
    .option('--approve', 'approve a risk-tagged skill for this call')
    .option('--json', 'machine-readable output')
    .action(async (id: string, opts: { input: string; approve?: boolean; json?: boolean }) => {
      const service = await createSkillService(loadCliConfig(globals()), { watch: false });
      try {
        const input = parseJsonInput(opts.input);
        const controller = new AbortController();
        const onSigint = () => controller.abort();
        process.once('SIGINT', onSigint);
        try {
          const result = await service.invoker.invoke({
            skill: id,
            input,
            door: 'cli',
            signal: controller.signal,
            principal: 'cli',
            ...(opts.approve === true ? { approval: { approved_by: `cli:${cliUser()}` } } : {}),
          });
          if (opts.json === true)
            outJson({
              ok: true,
              skill: result.skill,
              output: result.output,
              duration_ms: Math.round(result.durationMs),
            });
          else {
            const o = result.output as { prompt?: unknown; text?: unknown } | null;
            if (o !== null && typeof o === 'object' && typeof o.prompt === 'string' && o.text === undefined)
              out(o.prompt);
            else
              out(typeof result.output === 'string' ? result.output : JSON.stringify(result.output, null, 2));
          }
        } finally {
          process.off('SIGINT', onSigint);
        }
      } catch (err) {
        process.exitCode = reportError(err, opts.json === true);
        if (opts.json !== true && (err as { code?: unknown }).code === 'approval_required')
          process.stderr.write('hint: pass --approve to approve this one call\n');
      } finally {
        await service.close();
      }
    });
}

/** What a crash does to a call of this skill in flight, as the Durability table says. */
function idempotencyLine(idempotent: boolean, riskTagged: boolean): string {
  if (!idempotent) return 'no (never re-run: settled as interrupted)';
  if (riskTagged) return 'yes, but risk-tagged (never re-run: settled as interrupted)';
  return 'yes (re-run if in flight at a crash)';
}
