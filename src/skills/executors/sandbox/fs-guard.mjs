// Imported first by the sandbox child. Node's permission model checks the path as written and
// then follows symlinks, so a link inside a root could reach /etc. This patches the common fs
// entry points to check the realpath against the allowed sets before Node's own check runs.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { accessDenied, config } from './config.mjs';

const realpathNative = fs.realpathSync.native;
const exists = fs.existsSync;

/** Physical realpath; a missing path resolves through its nearest existing parent. */
export function realpathOf(path) {
  try {
    return realpathNative(path);
  } catch {
    // fall through: resolve the nearest existing parent
  }
  const rest = [];
  let current = path;
  for (;;) {
    const parent = dirname(current);
    rest.unshift(basename(current));
    if (parent === current) return join(current, ...rest);
    current = parent;
    if (exists(current)) {
      try {
        return join(realpathNative(current), ...rest);
      } catch {
        return undefined;
      }
    }
  }
}

/** True when `child` is `parent` or lies below it. */
export function isInside(child, parent) {
  if (child === parent) return true;
  const rel = relative(parent, child);
  return rel !== '' && rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel);
}

/** Absolute path as the caller wrote it (no lexical `..` folding), or undefined for fds. */
function pathArg(value) {
  let p;
  if (typeof value === 'string') p = value;
  else if (Buffer.isBuffer(value)) p = value.toString('utf8');
  else if (value instanceof URL) p = fileURLToPath(value);
  else return undefined;
  return isAbsolute(p) ? p : `${process.cwd()}${sep}${p}`;
}

/**
 * Throws ERR_ACCESS_DENIED unless the path's realpath lies inside the allowed set.
 * `entry` checks the directory entry itself (unlink, rename): its parent's realpath + name.
 */
export function assertPath(value, access, entry = false) {
  const p = pathArg(value);
  if (p === undefined) return;
  const parent = entry ? realpathOf(dirname(p)) : undefined;
  const real = entry ? (parent === undefined ? undefined : join(parent, basename(p))) : realpathOf(p);
  const allowedSet = access === 'write' ? config.fsWrite : config.fsRead;
  if (real === undefined || !allowedSet.some((a) => isInside(real, a))) {
    throw accessDenied('ERR_ACCESS_DENIED', `Access to this API has been restricted: ${p}`, {
      permission: access === 'write' ? 'FileSystemWrite' : 'FileSystemRead',
      resource: p,
    });
  }
}

const WRITE_FLAGS =
  fs.constants.O_WRONLY |
  fs.constants.O_RDWR |
  fs.constants.O_CREAT |
  fs.constants.O_APPEND |
  fs.constants.O_TRUNC;

function openAccess(flags) {
  if (flags === undefined || flags === null) return 'read';
  if (typeof flags === 'number') return (flags & WRITE_FLAGS) !== 0 ? 'write' : 'read';
  return /[wa+]/.test(String(flags)) ? 'write' : 'read';
}

/**
 * Each rule: function name, then a list of [argument index, access, entry?]; `access` may be a
 * function of the arguments (open flags).
 */
const RULES = [
  ['readFile', [[0, 'read']]],
  ['readdir', [[0, 'read']]],
  ['opendir', [[0, 'read']]],
  ['createReadStream', [[0, 'read']]],
  ['open', [[0, (args) => openAccess(args[1])]]],
  ['writeFile', [[0, 'write']]],
  ['appendFile', [[0, 'write']]],
  ['createWriteStream', [[0, 'write']]],
  ['truncate', [[0, 'write']]],
  ['mkdir', [[0, 'write']]],
  ['rm', [[0, 'write', true]]],
  ['rmdir', [[0, 'write', true]]],
  ['unlink', [[0, 'write', true]]],
  [
    'rename',
    [
      [0, 'write', true],
      [1, 'write', true],
    ],
  ],
  [
    'copyFile',
    [
      [0, 'read'],
      [1, 'write'],
    ],
  ],
  [
    'cp',
    [
      [0, 'read'],
      [1, 'write'],
    ],
  ],
  // A symlink's target is checked when something is read or written through the link.
  ['symlink', [[1, 'write', true]]],
  [
    'link',
    [
      [0, 'read'],
      [1, 'write', true],
    ],
  ],
  ['chmod', [[0, 'write']]],
  ['chown', [[0, 'write']]],
  ['utimes', [[0, 'write']]],
];

function check(args, checks) {
  for (const [index, access, entry] of checks) {
    assertPath(args[index], typeof access === 'function' ? access(args) : access, entry === true);
  }
}

function wrap(target, name, checks, style) {
  const original = target[name];
  if (typeof original !== 'function') return;
  const guarded = function guardedFs(...args) {
    try {
      check(args, checks);
    } catch (err) {
      if (style === 'promise') return Promise.reject(err);
      if (style === 'callback') {
        const callback = args.findLast((a) => typeof a === 'function');
        if (callback !== undefined) {
          process.nextTick(callback, err);
          return undefined;
        }
      }
      throw err;
    }
    return original.apply(this, args);
  };
  // Keep properties such as realpathSync.native or promisify.custom.
  Object.assign(guarded, original);
  target[name] = guarded;
}

for (const [name, checks] of RULES) {
  const style = name.startsWith('create') ? 'sync' : 'callback';
  wrap(fs, name, checks, style);
  wrap(fs, `${name}Sync`, checks, 'sync');
  wrap(fs.promises, name, checks, 'promise');
}

syncBuiltinESMExports();
