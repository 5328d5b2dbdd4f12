import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** The repository root. */
export const root = resolve(import.meta.dirname, '..', '..');

/** tsx's loader by absolute URL, so the CLI can run from any folder (not only the repo). */
const tsxLoader = pathToFileURL(createRequire(join(root, 'package.json')).resolve('tsx')).href;

/** How to start the CLI: the TypeScript sources through tsx, or a built `main.js`. */
export type CliEntry = { kind: 'source' } | { kind: 'built'; main: string };

/** The sources, as `node --import tsx src/cli/main.ts`. */
export const SOURCE: CliEntry = { kind: 'source' };

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Options of {@link cli}. */
export interface CliOptions {
  cwd?: string;
  env?: Record<string, string>;
  entry?: CliEntry;
  timeoutMs?: number;
}

/** The argv that starts the CLI from `entry`. */
export function cliArgv(args: string[], entry: CliEntry = SOURCE): string[] {
  return entry.kind === 'source'
    ? ['--import', tsxLoader, join(root, 'src', 'cli', 'main.ts'), ...args]
    : [entry.main, ...args];
}

/** The environment of a CLI run: a clean one (no SKILLPLANE_* of the caller) plus `env`. */
function cliEnv(env: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env };
}

/** Runs the CLI as a user would, to its end; never throws for a non-zero exit. */
export async function cli(args: string[], opts: CliOptions = {}): Promise<CliResult> {
  try {
    const { stdout, stderr } = await execFileAsync(process.execPath, cliArgv(args, opts.entry), {
      cwd: opts.cwd ?? root,
      env: cliEnv(opts.env),
      timeout: opts.timeoutMs ?? 90_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number | string; stdout?: string; stderr?: string };
    if (typeof e.code !== 'number') throw err;
    return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
  }
}

/**
 * Runs the CLI with its stdout read by a reader that goes away after the first chunk, as
 * `skillplane … | head -1` does; resolves with the exit code and what reached stderr.
 */
export function cliIntoClosedPipe(
  args: string[],
  opts: CliOptions = {},
): Promise<{ code: number | null; signal: NodeJS.Signals | null; firstChunk: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, cliArgv(args, opts.entry), {
      cwd: opts.cwd ?? root,
      env: cliEnv(opts.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 90_000);
    let firstChunk = '';
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout.once('data', (d: Buffer) => {
      firstChunk = d.toString('utf8');
      child.stdout.destroy();
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolvePromise({ code, signal, firstChunk, stderr });
    });
  });
}

/**
 * Builds the CLI as `npm run build` does (tsc with tsconfig.build.json, then the `.mjs` assets)
 * into a package folder outside the repo — `dist/` beside `package.json`, `examples/` and
 * `node_modules/` (links), the layout npm installs — incrementally, and returns the path of its
 * `dist/cli/main.js`. Outside the repo, so neither a developer's `dist/` nor the linters see it.
 */
export async function buildCli(): Promise<string> {
  const pkg = join(tmpdir(), `skillplane-cli-test-${process.getuid?.() ?? 'user'}`);
  const out = join(pkg, 'dist');
  mkdirSync(pkg, { recursive: true });
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  // tsc exits 2 on a type error yet emits everything: `npm test` type-checks first and fails
  // there, so only a build that emitted nothing (or crashed) fails here.
  await execFileAsync(
    process.execPath,
    [
      tsc,
      '-p',
      join(root, 'tsconfig.build.json'),
      '--outDir',
      out,
      '--incremental',
      '--tsBuildInfoFile',
      join(out, '.tsbuildinfo'),
      '--declaration',
      'false',
      '--sourceMap',
      'false',
    ],
    { cwd: root, timeout: 240_000, maxBuffer: 16 * 1024 * 1024 },
  ).catch((err: { code?: unknown }) => {
    if (err.code !== 2) throw err;
  });
  await execFileAsync(process.execPath, [join(root, 'scripts', 'copy-assets.mjs'), 'src', out], {
    cwd: root,
    timeout: 60_000,
  });
  copyFileSync(join(root, 'package.json'), join(pkg, 'package.json'));
  for (const link of ['examples', 'node_modules'])
    if (!existsSync(join(pkg, link))) symlinkSync(join(root, link), join(pkg, link), 'dir');
  return join(out, 'cli', 'main.js');
}
