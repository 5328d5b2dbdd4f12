import type { Command } from 'commander';
import { createLogger } from '../observability/index.js';
import { QUEUE_NAME } from '../config/index.js';
import { ValidationError } from '../errors/index.js';
import { SkillWorker } from '../workers/index.js';
import { loadCliConfig, type GlobalOptions } from './context.js';

interface WorkerFlags {
  concurrency?: string;
  queue?: string[];
  grace?: string;
}

function positiveInt(value: string, flag: string, max: number): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new ValidationError(`${flag} must be an integer 1..${max}`, [{ path: flag, message: 'invalid' }]);
  return n;
}

/**
 * `skillplane worker [--concurrency N] [--queue NAME]…`: a worker process of the BullMQ worker
 * plane until SIGTERM/SIGINT, which let running jobs finish for the grace period and hand the rest
 * back to the queue.
 */
export function registerWorkerCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command('worker')
    .description('run skills from the worker plane (BullMQ on workers.broker_url) until SIGTERM')
    .option('-n, --concurrency <n>', 'jobs run at once per queue (default workers.concurrency)')
    .option(
      '-q, --queue <name>',
      'queue to take jobs from; repeat for several (default workers.queue)',
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .option(
      '--grace <ms>',
      'how long running jobs may finish at shutdown (default workers.shutdown_grace_sec)',
    )
    .action(async (flags: WorkerFlags) => {
      const concurrency =
        flags.concurrency === undefined ? undefined : positiveInt(flags.concurrency, '--concurrency', 1000);
      for (const q of flags.queue ?? [])
        if (!QUEUE_NAME.test(q))
          throw new ValidationError(`--queue ${JSON.stringify(q)}: letters, digits, _ . - only, at most 64`, [
            { path: '--queue', message: 'invalid queue name' },
          ]);
      const grace = flags.grace === undefined ? undefined : Number(flags.grace);
      if (grace !== undefined && !(Number.isFinite(grace) && grace >= 0))
        throw new ValidationError('--grace must be a number of milliseconds ≥ 0', [
          { path: '--grace', message: 'invalid' },
        ]);
      const plain = loadCliConfig(globals());
      // A worker loads `execution: worker` skills whatever this file says about API nodes.
      const loaded = plain.config.workers.enabled
        ? plain
        : loadCliConfig(globals(), { workers: { enabled: true } });
      const logger = createLogger(loaded.config, { name: 'skillplane-worker' });
      for (const w of loaded.warnings ?? [])
        logger.warn(
          { key: w.key, source: w.source, code: w.code },
          `CONFIG WARNING: ${w.message} (set in ${w.source})`,
        );
      if (!plain.config.workers.enabled)
        logger.warn(
          { key: 'workers.enabled' },
          'workers.enabled is false in this configuration: API nodes that use it send no jobs to workers',
        );
      const worker = await SkillWorker.start({
        loaded,
        logger,
        ...(flags.queue === undefined ? {} : { queues: flags.queue }),
        ...(concurrency === undefined ? {} : { concurrency }),
      });
      for (const e of worker.skills.loadErrors)
        logger.warn({ file: e.file, code: e.code ?? 'skill_invalid' }, `skill not loaded: ${e.message}`);
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'worker shutting down');
        void worker
          .close(grace)
          .then(() => process.exit(0))
          .catch((err: unknown) => {
            logger.error({ err }, 'worker shutdown failed');
            process.exit(1);
          });
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}
