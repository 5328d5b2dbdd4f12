import type { Command } from 'commander';
import { createServer } from 'node:net';
import { hostname } from 'node:os';
import { createLogger } from '../observability/index.js';
import { startServer } from '../api/index.js';
import { createApp } from '../app/index.js';
import { ValidationError } from '../errors/index.js';
import { loadCliConfig, type GlobalOptions } from './context.js';

interface ServeFlags {
  port?: string;
  host?: string;
  grace?: string;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new ValidationError('--port must be an integer 0..65535', [
      { path: 'server.port', message: 'invalid port' },
    ]);
  return n;
}

/**
 * The node id `serve` runs under: `server.node_id`, else `<hostname>-<port>`, stable across
 * restarts on the same port so a restarted server releases and resumes its own runs at once.
 * Port 0 has no stable identity: a random id (the runtime's default).
 */
export function serveNodeId(config: {
  server: { node_id: string | null; port: number };
}): string | undefined {
  if (config.server.node_id !== null) return config.server.node_id;
  if (config.server.port === 0) return undefined;
  const host =
    hostname()
      .replace(/[^A-Za-z0-9._-]/g, '-')
      .replace(/^[^A-Za-z0-9]+/, '') || 'localhost';
  return `${host.slice(0, 100)}-${config.server.port}`;
}

/**
 * Fails fast when the port is taken: a second `serve` on the same host and port derives the same
 * node id, and must not release the live server's runs at start-up before it fails to bind.
 */
async function assertPortFree(host: string, port: number): Promise<void> {
  if (port === 0) return;
  await new Promise<void>((resolve, reject) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new ValidationError(`port ${port} on ${host} is already in use`, [
              { path: 'server.port', message: 'address in use' },
            ])
          : err,
      ),
    );
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve()));
  });
}

/** `skillplane serve [--port N] [--host H]`: the HTTP API until SIGTERM/SIGINT. */
export function registerServeCommand(program: Command, globals: () => GlobalOptions): void {
  program
    .command('serve')
    .description('start the HTTP API (runs, events, approvals, skills, metrics)')
    .option('-p, --port <n>', 'port to listen on (0 picks a free one)')
    .option('-H, --host <host>', 'address to bind')
    .option('--grace <ms>', 'how long running runs may finish at shutdown', '10000')
    .action(async (flags: ServeFlags) => {
      const server: Record<string, unknown> = {};
      if (flags.port !== undefined) server.port = parsePort(flags.port);
      if (flags.host !== undefined) server.host = flags.host;
      const loaded = loadCliConfig(globals(), Object.keys(server).length === 0 ? undefined : { server });
      const logger = createLogger(loaded.config, { name: 'skillplane' });
      const nodeId = serveNodeId(loaded.config);
      if (loaded.config.server.node_id === null)
        await assertPortFree(loaded.config.server.host, loaded.config.server.port);
      // Settings accepted but not acted on yet: said before anything else, one line each.
      for (const w of loaded.warnings ?? [])
        logger.warn(
          { key: w.key, source: w.source, code: w.code },
          `CONFIG WARNING: ${w.message} (set in ${w.source})`,
        );
      const app = await createApp(loaded, { logger, ...(nodeId === undefined ? {} : { nodeId }) });
      // Probed while the server starts; a backend that does not answer is a warning, not a refusal.
      const backends = app.models.health({ fresh: true });
      let started;
      try {
        started = await startServer(app.ports, { logger });
      } catch (err) {
        await app.close(0).catch(() => undefined);
        throw err;
      }
      const { config } = app;
      const health = await backends;
      for (const b of health) {
        const url = config.models[b.backend]?.base_url;
        if (b.ok)
          logger.info(
            { backend: b.backend, url, latency_ms: b.latency_ms },
            `model backend ${b.backend} answers`,
          );
        else
          logger.warn(
            { backend: b.backend, url, reason: b.reason, status: b.status },
            `model backend ${b.backend} at ${url} is not answering: ${b.detail ?? b.reason ?? 'down'}; ` +
              'runs that use it will fail and /readyz answers 503 until it does',
          );
      }
      const loadErrors = app.skills.loadErrors;
      if (loadErrors.length > 0) {
        const byFile = new Map<string, Set<string>>();
        for (const e of loadErrors)
          byFile.set(e.file, (byFile.get(e.file) ?? new Set()).add(e.code ?? 'skill_invalid'));
        const n = loadErrors.length;
        logger.warn(
          { skill_load_errors: n, files: [...byFile.keys()] },
          `${n} skill load error${n === 1 ? '' : 's'} in ${byFile.size} file${byFile.size === 1 ? '' : 's'} ` +
            `(those skills are left out): ` +
            [...byFile].map(([file, codes]) => `${file} (${[...codes].join(', ')})`).join(', ') +
            '; details in the warnings above and in GET /v1/skills (load_error_details)',
        );
      }
      const authOpen = started.server.skillplane.auth.open;
      logger.info(
        {
          url: started.url,
          node: app.runtime.nodeId,
          store: config.store.driver === 'sqlite' ? `sqlite:${config.store.path}` : config.store.driver,
          skills: app.skills.registry.list({ latestOnly: true }).length,
          skill_load_errors: loadErrors.length,
          skill_load_error_details: loadErrors.map((e) => ({
            file: e.file,
            code: e.code ?? 'skill_invalid',
            ...(e.path === '' ? {} : { field: e.path }),
            message: e.message,
          })),
          model_backends_down: health.filter((b) => !b.ok).map((b) => b.backend),
          config_warnings: (loaded.warnings ?? []).map((w) => w.key),
          agents: app.agents.list().length,
          auth: authOpen ? 'open' : 'api-keys',
          sandbox: app.skills.confinement.kind,
        },
        `listening on ${started.url}`,
      );
      logger.info(
        { sandbox: app.skills.confinement.kind },
        `skill sandbox: ${app.skills.confinement.description}`,
      );
      for (const warning of app.skills.confinement.warnings)
        logger.warn({ sandbox: app.skills.confinement.kind }, `SECURITY WARNING: ${warning}`);
      if (authOpen)
        logger.warn(
          'auth is open: no API keys configured and the server binds loopback only; ' +
            'every caller has every scope (principal = x-user-id header or anonymous)',
        );
      const graceMs = Number(flags.grace ?? '10000');
      let stopping = false;
      const stop = (signal: string): void => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, 'shutting down');
        void (async () => {
          try {
            await started.close();
            await app.close(Number.isFinite(graceMs) ? graceMs : 10_000);
            logger.info('stopped');
            process.exit(0);
          } catch (err) {
            logger.error({ err }, 'shutdown failed');
            process.exit(1);
          }
        })();
      };
      process.once('SIGTERM', () => stop('SIGTERM'));
      process.once('SIGINT', () => stop('SIGINT'));
    });
}
