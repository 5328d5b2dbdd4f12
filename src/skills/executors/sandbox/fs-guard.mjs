// Imported first by the sandbox child. Node's permission model checks the path as written and
// then follows symlinks, so a link inside a root could reach /etc. This patches the fs entry
// points to check the realpath against the allowed sets before Node's own check runs, and hands
// the checked realpath (not the path as written) to the original function, which narrows the
// window of a rename race. Under OS confinement the mount namespace is the real boundary (nothing
// outside the grant exists there); this guard also makes metadata calls (stat, access, realpath,
// watch) refuse paths outside the grant, so they cannot tell an existing file from a missing one.
import fs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { basename, dirname, isAbsolute, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { accessDenied, config } from './config.mjs';

const realpathNative = fs.realpathSync.native;
const exists = fs.existsSync;
const lstatNative = fs.lstatSync;
const readlinkNative = fs.readlinkSync;

/**
 * Physical realpath; a missing path resolves through its nearest existing parent, and a dangling
 * symlink through its target (so a link to a file that does not exist in the sandbox is still
 * judged by where it points).
 */
export function realpathOf(path, hops = 0) {
  try {
    return realpathNative(path);
  } catch {
    // fall through: a dangling link, or resolve the nearest existing parent
  }
  if (hops > 40) return undefined;
  let target;
  try {
    if (lstatNative(path).isSymbolicLink()) target = readlinkNative(path);
  } catch {
    // not a link, not there, or not readable under the permission model
  }
  if (target !== undefined)
    return realpathOf(isAbsolute(target) ? target : join(dirname(path), target), hops + 1);
  const rest = [];
  let current = path;
  for (;;) {
    const parent = dirname(current);
    rest.unshift(basename(current));
    if (parent === current) return join(current, ...rest);
    current = parent;
    let found = false;
    try {
      found = exists(current);
    } catch {
      // the permission model refuses even to look: judged by the path as written
    }
    if (found) {
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
  if (p === undefined) return undefined;
  const parent = entry ? realpathOf(dirname(p)) : undefined;
  const real = entry ? (parent === undefined ? undefined : join(parent, basename(p))) : realpathOf(p);
  const allowedSet = access === 'write' ? config.fsWrite : config.fsRead;
  if (real === undefined || !allowedSet.some((a) => isInside(real, a))) {
    const roots = allowedSet.length === 0 ? 'none' : allowedSet.join(', ');
    throw accessDenied(
      'ERR_ACCESS_DENIED',
      `${access === 'write' ? 'writing' : 'reading'} ${p} is not allowed: it is outside the skill's ${access === 'write' ? 'write paths' : 'readable paths'} (${roots})`,
      {
        permission: access === 'write' ? 'FileSystemWrite' : 'FileSystemRead',
        resource: p,
      },
    );
  }
  return real;
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
  ['lchmod', [[0, 'write', true]]],
  ['lchown', [[0, 'write', true]]],
  ['lutimes', [[0, 'write', true]]],
  // mkdtemp takes a prefix: the folder it creates in is its parent.
  ['mkdtemp', [[0, 'write', 'prefix']]],
  // Metadata: refused outside the grant, so existence outside it cannot be probed.
  ['stat', [[0, 'read']]],
  ['lstat', [[0, 'read', true]]],
  ['statfs', [[0, 'read']]],
  ['access', [[0, 'read']]],
  ['realpath', [[0, 'read']]],
  ['readlink', [[0, 'read', true]]],
  ['watch', [[0, 'read']]],
  ['watchFile', [[0, 'read']]],
  ['unwatchFile', [[0, 'read']]],
  ['openAsBlob', [[0, 'read']]],
];

/** Checks every path argument; returns the arguments with each checked path replaced by its realpath. */
function check(args, checks) {
  const out = [...args];
  for (const [index, access, entry] of checks) {
    const mode = typeof access === 'function' ? access(args) : access;
    if (entry === 'prefix') {
      const p = pathArg(args[index]);
      if (p === undefined) continue;
      const dir = assertPath(dirname(p), mode);
      if (dir !== undefined) out[index] = join(dir, basename(p));
      continue;
    }
    const real = assertPath(args[index], mode, entry === true);
    if (real !== undefined) out[index] = real;
  }
  return out;
}

function wrap(target, name, checks, style) {
  const original = target[name];
  if (typeof original !== 'function') return;
  const guarded = function guardedFs(...args) {
    let checked;
    try {
      checked = check(args, checks);
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
    return original.apply(this, checked);
  };
  // Keep properties such as promisify.custom; a `native` variant is guarded too.
  Object.assign(guarded, original);
  target[name] = guarded;
  if (typeof original.native === 'function') {
    const nativeTarget = { native: original.native };
    wrap(nativeTarget, 'native', checks, style);
    guarded.native = nativeTarget.native;
  }
}

const PROMISE_STYLE = new Set(['openAsBlob']);
const SYNC_STYLE = new Set(['watch', 'watchFile', 'unwatchFile']);
for (const [name, checks] of RULES) {
  const style = PROMISE_STYLE.has(name)
    ? 'promise'
    : name.startsWith('create') || SYNC_STYLE.has(name)
      ? 'sync'
      : 'callback';
  wrap(fs, name, checks, style);
  wrap(fs, `${name}Sync`, checks, 'sync');
  wrap(fs.promises, name, checks, 'promise');
}

// exists/existsSync answer false (never throw) for a path outside the grant.
const originalExists = fs.exists;
const originalExistsSync = fs.existsSync;
fs.existsSync = function guardedExistsSync(path) {
  try {
    return originalExistsSync(check([path], [[0, 'read']])[0]);
  } catch {
    return false;
  }
};
if (typeof originalExists === 'function') {
  const guardedExists = function guardedExists(path, callback) {
    let checked;
    try {
      checked = check([path], [[0, 'read']])[0];
    } catch {
      if (typeof callback === 'function') process.nextTick(callback, false);
      return;
    }
    return originalExists(checked, callback);
  };
  Object.assign(guardedExists, originalExists);
  fs.exists = guardedExists;
}

syncBuiltinESMExports();
