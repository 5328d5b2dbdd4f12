import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import preact from '@preact/preset-vite';
import { defineConfig } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));

/** Builds the dashboard into `dist/ui` (served at `/ui/` by the API server). */
export default defineConfig({
  root: here,
  base: '/ui/',
  plugins: [preact()],
  logLevel: 'warn',
  build: {
    outDir: join(here, '..', '..', 'dist', 'ui'),
    emptyOutDir: true,
    target: 'es2022',
    // Every script and style is a file of its own (the server's CSP allows no inline code).
    assetsInlineLimit: 0,
    sourcemap: false,
  },
});
