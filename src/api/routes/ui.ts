import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fastifyStatic from '@fastify/static';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { SkillplaneError } from '../../errors/index.js';

/*
 * The dashboard at `/ui`: the static files `npm run build` writes to `dist/ui` (Vite), served
 * from this process. The routes are public, since signing in happens in the page and every API
 * call it makes carries the key; they are left out of the OpenAPI document.
 */

/** Headers of every `/ui` answer: nothing but our own files, never framed, no sniffing. */
const UI_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

/**
 * Where the built dashboard is: `dist/ui` beside the compiled server (`dist/api/routes` → `dist/ui`),
 * or the repository's `dist/ui` when the server runs from its TypeScript sources (tsx).
 */
export function uiAssetsDir(moduleUrl: string = import.meta.url): string {
  const here = dirname(fileURLToPath(moduleUrl));
  return moduleUrl.endsWith('.ts')
    ? join(here, '..', '..', '..', 'dist', 'ui')
    : join(here, '..', '..', 'ui');
}

function notBuilt(): never {
  throw new SkillplaneError(
    'ui_not_built',
    'the dashboard is not built: run npm run build (it writes dist/ui), then restart the server',
  );
}

/** Serves the dashboard at `/ui/` (`/ui` redirects there); 503 `ui_not_built` without a build. */
export const uiRoutes: FastifyPluginAsync<{ root?: string }> = async (fastify: FastifyInstance, opts) => {
  const root = opts.root ?? uiAssetsDir();
  const hidden = { config: { public: true }, schema: { hide: true } } as const;
  fastify.addHook('onRoute', (route) => {
    route.config = { ...route.config, public: true };
  });
  fastify.addHook('onRequest', async (_request, reply) => {
    void reply.headers(UI_HEADERS);
  });

  if (!existsSync(join(root, 'index.html'))) {
    fastify.get('/ui', hidden, async () => notBuilt());
    fastify.get('/ui/*', hidden, async () => notBuilt());
    return;
  }
  fastify.get('/ui', hidden, async (_request, reply) => reply.redirect('/ui/', 302));
  await fastify.register(fastifyStatic, {
    root,
    prefix: '/ui/',
    schemaHide: true,
    decorateReply: false,
    index: ['index.html'],
    // Hashed asset names change with their content; the page itself is always asked again.
    cacheControl: false,
    setHeaders: (reply, path) => {
      void reply.header(
        'cache-control',
        path.startsWith(join(root, 'assets')) ? 'public, max-age=31536000, immutable' : 'no-cache',
      );
    },
  });
};
