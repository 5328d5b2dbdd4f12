/**
 * Writes the HTTP API's OpenAPI document, exactly as a server serves it at `/openapi.json`, to a
 * file (default `.tmp/openapi.json`). The app is built in-process over a memory store with no
 * skills and an API key configured (so the document shows the security of a production server);
 * nothing listens and nothing is contacted over the network.
 * Usage: tsx scripts/openapi-dump.ts [out=.tmp/openapi.json]
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { buildServer } from '../src/api/index.js';
import { createApp } from '../src/app/index.js';
import { loadConfig } from '../src/config/index.js';

const out = resolve(process.argv[2] ?? '.tmp/openapi.json');
const dir = await mkdtemp(join(tmpdir(), 'skillplane-openapi-'));
try {
  const loaded = loadConfig({
    cwd: dir,
    env: {},
    overrides: {
      store: { driver: 'memory' },
      // Never contacted: the document does not depend on the model backends.
      models: { default: { base_url: 'http://127.0.0.1:9/v1', model: 'none' } },
      skills: { directories: [], watch: false },
      agents: { directories: [], definitions: [] },
      auth: { keys: [{ principal: 'openapi-dump', key: 'openapi-dump-key', scopes: ['admin'] }] },
    },
  });
  const app = await createApp(loaded, { watch: false });
  try {
    const server = await buildServer(app.ports, { logger: false, defaultMetrics: false });
    try {
      await server.ready();
      const res = await server.inject({ url: '/openapi.json' });
      if (res.statusCode !== 200)
        throw new Error(`GET /openapi.json answered ${res.statusCode}: ${res.body}`);
      await mkdir(dirname(out), { recursive: true });
      await writeFile(out, `${JSON.stringify(JSON.parse(res.body), null, 2)}\n`);
      console.log(`openapi-dump: wrote ${out}`);
    } finally {
      await server.close();
    }
  } finally {
    await app.close();
  }
} finally {
  await rm(dir, { recursive: true, force: true });
}
