// How a tool skill's sandbox child is started: the sandbox files, its Node permission flags and
// config, and the confinement launch around them; paths Node's flag parser would widen are refused.
import { realpathSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SkillExecutionError } from '../../errors/index.js';
import type { EffectivePermissions } from '../policy.js';
import {
  buildLaunch,
  EGRESS_SOCKET_PATH,
  type Confinement,
  type Launch,
  type SandboxLimits,
} from './confinement.js';
import type { EgressProxy } from './egress-proxy.js';

const CHILD_URL = new URL('./sandbox/child.mjs', import.meta.url);
const GUARD_URL = new URL('./sandbox/network-guard.mjs', import.meta.url);

/** The realpath of a file under the sandbox folder (works from `src/` and from `dist/`). */
function sandboxPath(url: URL): string {
  return realpathSync(fileURLToPath(url));
}

/** Refuses paths that Node 20's flag parser would split (`,`) or treat as a wildcard (`*`). */
export function assertFlagSafe(path: string): string {
  if (path.includes(',') || path.includes('*')) {
    throw new SkillExecutionError(
      `path ${path} holds a comma or an asterisk and cannot be granted (Node's permission flags would widen it)`,
      'permission_denied',
      { data: { path } },
    );
  }
  return path;
}

/** The sandbox child's script, its folder and the preloaded network guard (realpaths). */
export interface SandboxFiles {
  childPath: string;
  sandboxDir: string;
  guardPath: string;
}

/** Finds the sandbox child's files. */
export function sandboxFiles(): SandboxFiles {
  const childPath = sandboxPath(CHILD_URL);
  const sandboxDir = dirname(childPath);
  const guardPath = sandboxPath(GUARD_URL);
  return { childPath, sandboxDir, guardPath };
}

/** The launch of one sandbox child running `entry` with `permissions`. */
export function toolLaunch(p: {
  confinement: Confinement;
  files: SandboxFiles;
  permissions: EffectivePermissions;
  entry: string;
  dir: string;
  egress: EgressProxy | undefined;
  maxOutputBytes: number;
  limits: SandboxLimits;
}): Launch {
  const { confinement, permissions, entry, dir, egress } = p;
  const { childPath, sandboxDir, guardPath } = p.files;
  const config = {
    entry,
    dir,
    roots: permissions.roots,
    fsRead: permissions.fsRead,
    fsWrite: permissions.fsWrite,
    network: permissions.network,
    egress: egress === undefined ? null : EGRESS_SOCKET_PATH,
    maxOutputBytes: p.maxOutputBytes,
  };
  const argv = [
    realpathSync(process.execPath),
    '--experimental-permission',
    ...[sandboxDir, ...permissions.fsRead].map((p) => `--allow-fs-read=${p}`),
    ...permissions.fsWrite.map((p) => `--allow-fs-write=${p}`),
    `--max-old-space-size=${p.limits.heapMb}`,
    '--disable-warning=ExperimentalWarning',
    '--import',
    guardPath,
    childPath,
    Buffer.from(JSON.stringify(config)).toString('base64url'),
  ];
  return buildLaunch(confinement, {
    argv,
    cwd: permissions.roots[0] ?? dir,
    // No secrets from the parent: only what Node needs to run.
    env: {
      PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
      NODE_ENV: process.env.NODE_ENV ?? 'production',
    },
    readOnly: [sandboxDir, ...permissions.fsRead],
    writable: permissions.fsWrite,
    binds: egress === undefined ? [] : [{ source: egress.path, target: EGRESS_SOCKET_PATH }],
    limits: p.limits,
  });
}
