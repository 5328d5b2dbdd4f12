import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/**
 * The version in skillplane's own `package.json`, found by walking up from this file, so it is
 * right from `src/cli` (tsx), `dist/cli` and an installed package alike.
 */
export function packageVersion(from = import.meta.dirname): string {
  for (let dir = from; ; dir = dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === 'skillplane' && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // no package.json here (or not readable): look further up
    }
    if (dirname(dir) === dir) return '0.0.0-unknown';
  }
}
