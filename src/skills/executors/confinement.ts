import { spawn } from 'node:child_process';
import { accessSync, constants, lstatSync, readlinkSync, realpathSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { SkillplaneError } from '../../errors/index.js';
import { isInside } from '../policy.js';

/** How skills are confined (`skills.sandbox`). */
export type SandboxMode = 'auto' | 'os' | 'node';

/** Resource limits of one sandbox process (`skills.sandbox_limits`). */
export interface SandboxLimits {
  heapMb: number;
  memoryMb: number;
  cpuSec: number;
  openFiles: number;
  fileSizeMb: number;
}

/** Defaults of {@link SandboxLimits} (the config's defaults, for callers without a config). */
export const DEFAULT_SANDBOX_LIMITS: SandboxLimits = {
  heapMb: 256,
  memoryMb: 1024,
  cpuSec: 600,
  openFiles: 256,
  fileSizeMb: 256,
};

/** What confinement is active, as reported at start-up and by `/readyz`. */
export interface Confinement {
  /**
   * `namespaces`: every tool and command skill runs in its own user, PID, mount, network, IPC and
   * UTS namespaces (bubblewrap), seeing only its grant; `node`: Node's permission model and the
   * preloaded guards alone.
   */
  kind: 'namespaces' | 'node';
  /** Path of the bubblewrap binary (namespaces only). */
  bwrap: string | null;
  /** Path of `prlimit`, which applies the rlimits; null when missing (only the heap limit applies). */
  prlimit: string | null;
  /** One line for logs and `/readyz`. */
  description: string;
  /** Why the confinement is weaker than it could be (shown loudly at start-up). */
  warnings: string[];
}

/** What a sandboxed program sees and runs. */
export interface LaunchSpec {
  /** The program and its arguments, as seen inside the sandbox (absolute program path). */
  argv: string[];
  cwd: string;
  /** The whole environment of the program (nothing is inherited). */
  env: Record<string, string>;
  /** Realpaths visible read-only (the skill folder, roots, `fs.read`, the sandbox runtime). */
  readOnly: string[];
  /** Realpaths visible read-write (`fs.write`); they must exist. */
  writable: string[];
  /** Files bound into the sandbox at another path (the egress proxy socket). */
  binds?: { source: string; target: string }[];
  limits: SandboxLimits;
}

/** A command line ready for `child_process.spawn`. */
export interface Launch {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

/** Where the egress proxy socket appears inside a namespaced sandbox. */
export const EGRESS_SOCKET_PATH = '/run/skillplane/egress.sock';

/** System folders a program needs to start (read-only): binaries, libraries, the loader cache. */
const SYSTEM_PATHS = [
  '/usr',
  '/bin',
  '/sbin',
  '/lib',
  '/lib32',
  '/lib64',
  '/libx32',
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/alternatives',
];

function which(name: string, env: NodeJS.ProcessEnv): string | null {
  for (const dir of (env.PATH ?? '/usr/local/bin:/usr/bin:/bin').split(delimiter)) {
    if (dir === '') continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return realpathSync(candidate);
    } catch {
      // not here
    }
  }
  return null;
}

let systemArgsCache: string[] | undefined;

/** bwrap arguments that mount the system folders read-only (symlinks stay symlinks). */
function systemMountArgs(): string[] {
  if (systemArgsCache !== undefined) return systemArgsCache;
  const args: string[] = [];
  for (const path of SYSTEM_PATHS) {
    let stats;
    try {
      stats = lstatSync(path);
    } catch {
      continue;
    }
    if (stats.isSymbolicLink()) args.push('--symlink', readlinkSync(path), path);
    else args.push('--ro-bind', path, path);
  }
  // Node itself, when it is not installed under a system folder (nvm, /opt, a tarball).
  const node = realpathSync(process.execPath);
  if (!SYSTEM_PATHS.some((p) => isInside(node, p))) args.push('--ro-bind', node, node);
  systemArgsCache = args;
  return args;
}

/** Grants, parents before children, so a read-write folder can sit inside a read-only one. */
function grantArgs(spec: LaunchSpec): string[] {
  const grants = [
    ...spec.readOnly.map((p) => ({ p, flag: '--ro-bind' })),
    ...spec.writable.map((p) => ({ p, flag: '--bind-try' })),
  ].sort((a, b) => a.p.length - b.p.length || (a.flag === '--ro-bind' ? -1 : 1));
  const args: string[] = [];
  for (const g of grants) args.push(g.flag, g.p, g.p);
  for (const b of spec.binds ?? []) args.push('--ro-bind', b.source, b.target);
  return args;
}

/** `prlimit` arguments for the limits (RLIMIT_DATA, CPU, NOFILE, FSIZE, no core dumps). */
function rlimitArgs(limits: SandboxLimits): string[] {
  const mb = 1024 * 1024;
  return [
    `--data=${limits.memoryMb * mb}`,
    `--cpu=${limits.cpuSec}`,
    `--nofile=${limits.openFiles}`,
    `--fsize=${limits.fileSizeMb * mb}`,
    '--core=0',
    '--',
  ];
}

/**
 * The command line that runs `spec` under `confinement`: inside bubblewrap namespaces (a user
 * namespace without capabilities, its own PID namespace so no signal can reach the server, a mount
 * namespace holding only the system folders read-only and the grant, a network namespace with no
 * interface), under rlimits when `prlimit` exists. With `node` confinement only the rlimits wrap
 * the program.
 */
export function buildLaunch(confinement: Confinement, spec: LaunchSpec): Launch {
  const [program, ...rest] = spec.argv;
  if (program === undefined) throw new SkillplaneError('internal_error', 'empty sandbox command');
  let file = program;
  let args = rest;
  if (confinement.kind === 'namespaces' && confinement.bwrap !== null) {
    const env = Object.entries(spec.env).flatMap(([k, v]) => ['--setenv', k, v]);
    args = [
      '--unshare-all',
      '--unshare-user',
      '--uid',
      '65534',
      '--gid',
      '65534',
      '--cap-drop',
      'ALL',
      '--die-with-parent',
      '--new-session',
      '--hostname',
      'skillplane-sandbox',
      ...systemMountArgs(),
      '--proc',
      '/proc',
      '--dev',
      '/dev',
      '--tmpfs',
      '/tmp',
      ...grantArgs(spec),
      '--chdir',
      spec.cwd,
      '--clearenv',
      ...env,
      '--',
      program,
      ...rest,
    ];
    file = confinement.bwrap;
  }
  if (confinement.prlimit !== null) {
    args = [...rlimitArgs(spec.limits), file, ...args];
    file = confinement.prlimit;
  }
  const outerEnv: Record<string, string> =
    confinement.kind === 'namespaces' ? { PATH: spec.env.PATH ?? '/usr/bin:/bin' } : spec.env;
  return { file, args, env: outerEnv, cwd: spec.cwd };
}

/** Runs a trivial Node program inside the namespaces; resolves with the failure, if any. */
function probe(confinement: Confinement): Promise<string | undefined> {
  const launch = buildLaunch(confinement, {
    argv: [
      realpathSync(process.execPath),
      '-e',
      'process.exit(process.pid === 1 || process.pid === 2 ? 0 : 3)',
    ],
    cwd: '/',
    env: { PATH: '/usr/bin:/bin' },
    readOnly: [],
    writable: [],
    limits: DEFAULT_SANDBOX_LIMITS,
  });
  return new Promise((resolve) => {
    let stderr = '';
    const child = spawn(launch.file, launch.args, {
      env: launch.env,
      cwd: '/',
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (d: string) => (stderr = (stderr + d).slice(-2000)));
    child.once('error', (err) => {
      clearTimeout(timer);
      resolve(err.message);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve(code === 0 ? undefined : `exit ${code ?? signal}: ${stderr.trim() || 'no output'}`);
    });
  });
}

const detected = new Map<string, Promise<Confinement>>();

/**
 * Finds out which confinement this machine gives (once per process and mode). `auto` uses Linux
 * namespaces through bubblewrap when a probe sandbox starts, else falls back to Node's permission
 * model with a warning; `os` throws `sandbox_unavailable` without namespaces; `node` never tries.
 */
export function detectConfinement(
  mode: SandboxMode,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Confinement> {
  const cached = detected.get(mode);
  if (cached !== undefined) return cached;
  const result = detect(mode, env);
  detected.set(mode, result);
  // A failed `os` detection is not cached, so a fixed machine is seen on the next try.
  result.catch(() => detected.delete(mode));
  return result;
}

async function detect(mode: SandboxMode, env: NodeJS.ProcessEnv): Promise<Confinement> {
  const prlimit = process.platform === 'linux' ? which('prlimit', env) : null;
  const warnings: string[] = [];
  if (prlimit === null && process.platform === 'linux') {
    warnings.push(
      'prlimit (util-linux) was not found: sandbox processes get only the heap limit, no rlimits',
    );
  }
  const nodeOnly = (why: string): Confinement => ({
    kind: 'node',
    bwrap: null,
    prlimit,
    description: `Node permission model only (${why})`,
    warnings: [...warnings, ...(mode === 'node' ? [] : [`skills are NOT confined by the OS: ${why}`])],
  });
  if (mode === 'node') return nodeOnly('skills.sandbox is node');
  let why: string;
  if (process.platform !== 'linux') why = `${process.platform} has no Linux namespaces`;
  else {
    const bwrap = which('bwrap', env);
    if (bwrap === null) why = 'bubblewrap (bwrap) is not installed; install the bubblewrap package';
    else {
      const candidate: Confinement = {
        kind: 'namespaces',
        bwrap,
        prlimit,
        description: `Linux namespaces (bubblewrap: user, pid, mount, network, ipc, uts)${prlimit === null ? '' : ' with rlimits'} and the Node permission model`,
        warnings,
      };
      const failure = await probe(candidate);
      if (failure === undefined) return candidate;
      why = `bubblewrap could not start a sandbox (user namespaces disabled?): ${failure}`;
    }
  }
  if (mode === 'os') {
    throw new SkillplaneError(
      'sandbox_unavailable',
      `skills.sandbox is os but OS confinement is not available: ${why}`,
    );
  }
  return nodeOnly(why);
}
