// The sandbox child: runs one tool skill's entry module under Node's permission model (and, where
// the platform has it, inside Linux namespaces), driven by the parent over its own framed channel:
// newline-delimited JSON, parent → child on stdin, child → parent on fd 3. The parent trusts
// nothing that arrives on fd 3 (skill code can write there too): it parses every frame in
// try/catch, checks its shape and size, and kills this process on the first violation.
// Messages in: {type: 'call', id, input, ctx} and {type: 'cancel', id}.
// Messages out: {type: 'ready'}, {type: 'result', id, ok, output | error}, {type: 'log', id, level, msg, data}.
import './process-guard.mjs';
import './fs-guard.mjs';
import fs from 'node:fs';
import net from 'node:net';
import { isAbsolute, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { config } from './config.mjs';
import { isInside, realpathOf } from './fs-guard.mjs';

const MAX_LOG_CHARS = 8 * 1024;
const MAX_LOGS_PER_CALL = 200;

/** @type {Promise<Record<string, unknown>> | undefined} */
let modulePromise;
/** @type {Map<number, AbortController>} */
const running = new Map();
const out = new net.Socket({ fd: 3, readable: false, writable: true });
out.on('error', () => process.exit(0));

function send(message) {
  out.write(`${JSON.stringify(message)}\n`);
}

/** Maps an error (and its causes) to the code the parent reports. */
function describe(err) {
  let code = 'skill_failed';
  for (let e = err, depth = 0; e !== null && e !== undefined && depth < 5; e = e.cause, depth += 1) {
    if (e.code === 'ERR_ACCESS_DENIED' || e.code === 'permission_denied') {
      code = 'permission_denied';
      break;
    }
  }
  const message = explainDenial(err) ?? (err instanceof Error ? err.message : String(err)).slice(0, 4096);
  const originalCode =
    err !== null &&
    typeof err === 'object' &&
    typeof err.code === 'string' &&
    /^[A-Za-z0-9_.-]{1,64}$/.test(err.code)
      ? err.code
      : undefined;
  return { code, message, ...(originalCode === undefined ? {} : { original_code: originalCode }) };
}

/**
 * Node's permission model says only "Access to this API has been restricted"; say what was
 * refused (the path, or the kind of API) and what the skill's grant allows instead.
 */
function explainDenial(err) {
  for (let e = err, depth = 0; e !== null && e !== undefined && depth < 5; e = e.cause, depth += 1) {
    if (e.code !== 'ERR_ACCESS_DENIED' || !/has been restricted/.test(String(e.message))) continue;
    const resource = typeof e.resource === 'string' ? e.resource.slice(0, 1024) : undefined;
    const list = (paths) => (paths.length === 0 ? 'none' : paths.join(', '));
    switch (e.permission) {
      case 'FileSystemRead':
        return `reading ${resource ?? 'a file'} is not allowed: the skill may read only its folder, its roots and permissions.fs.read (${list(config.fsRead)})`;
      case 'FileSystemWrite':
        return `writing ${resource ?? 'a file'} is not allowed: the skill may write only permissions.fs.write (${list(config.fsWrite)})`;
      case 'ChildProcess':
        return 'starting a child process is not allowed in a tool skill (use a command skill with permissions.shell)';
      case 'WorkerThreads':
        return 'worker threads are not allowed in a tool skill';
      default:
        return `the sandbox refused ${e.permission ?? 'this API'}${resource === undefined ? '' : ` for ${resource}`}: not in the skill's grant`;
    }
  }
  return undefined;
}

/** Resolves a helper path (relative to the first root) and keeps it inside the roots. */
function insideRoots(path) {
  const bounds = config.roots.length > 0 ? config.roots : [config.dir];
  const raw = isAbsolute(path) ? path : `${bounds[0]}${sep}${path}`;
  const real = realpathOf(raw);
  if (real === undefined || !bounds.some((b) => isInside(real, b))) {
    const err = new Error(`${path} is outside the skill roots (${bounds.join(', ')})`);
    err.code = 'ERR_ACCESS_DENIED';
    throw err;
  }
  return raw;
}

const fsHelpers = Object.freeze({
  readText: (path) => fs.promises.readFile(insideRoots(path), 'utf8'),
  writeText: (path, text) => fs.promises.writeFile(insideRoots(path), String(text), 'utf8'),
  list: (dir) => fs.promises.readdir(insideRoots(dir)),
});

function loggerFor(id) {
  let count = 0;
  const log = (level) => (msg, data) => {
    if (++count > MAX_LOGS_PER_CALL) return;
    let text = typeof msg === 'string' ? msg : undefined;
    let extra;
    try {
      text ??= JSON.stringify(msg) ?? String(msg);
      extra = data === undefined ? undefined : JSON.parse(JSON.stringify(data));
      if (extra !== undefined && JSON.stringify(extra).length > MAX_LOG_CHARS) extra = { truncated: true };
    } catch {
      text ??= String(msg);
      extra = undefined;
    }
    send({
      type: 'log',
      id,
      level,
      msg: text.slice(0, MAX_LOG_CHARS),
      ...(extra === undefined ? {} : { data: extra }),
    });
  };
  return Object.freeze({ debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') });
}

/** Epoch ms, sub-millisecond: the child's own timing of a call, reported with its result. */
const clock = performance;
const origin = clock.timeOrigin;
const nowMs = () => origin + clock.now();

async function call({ id, input, ctx = {} }) {
  const controller = new AbortController();
  running.set(id, controller);
  const span = { start_ms: nowMs(), end_ms: 0 };
  const finish = () => ((span.end_ms = nowMs()), span);
  try {
    modulePromise ??= import(pathToFileURL(config.entry).href);
    const mod = await modulePromise;
    if (typeof mod.default !== 'function') {
      throw Object.assign(new Error('the entry module has no default export function'), {
        code: 'skill_invalid',
      });
    }
    let logger;
    const output = await mod.default(input, {
      // The signal is made when the skill first reads it (making one costs more than a no-op
      // call); a cancel that came first leaves it already aborted.
      get signal() {
        return controller.signal;
      },
      // Made on first use: most calls never log.
      get logger() {
        return (logger ??= loggerFor(id));
      },
      traceparent: ctx.traceparent,
      tracestate: ctx.tracestate,
      runId: ctx.runId,
      idempotencyKey: ctx.idempotencyKey,
      attempt: ctx.attempt,
      // Realpaths of the skill's roots (first = working root) and its own folder.
      roots: config.roots,
      dir: config.dir,
      fs: fsHelpers,
    });
    let text;
    try {
      text = JSON.stringify({
        type: 'result',
        id,
        ok: true,
        output: output === undefined ? null : output,
        span: finish(),
      });
    } catch (err) {
      send({
        type: 'result',
        id,
        ok: false,
        error: { code: 'output_invalid', message: `the output is not JSON: ${err.message}` },
        span: finish(),
      });
      return;
    }
    if (Buffer.byteLength(text) > config.maxOutputBytes) {
      send({
        type: 'result',
        id,
        ok: false,
        error: {
          code: 'output_too_large',
          message: `the output is larger than ${config.maxOutputBytes} bytes`,
        },
        span: finish(),
      });
      return;
    }
    out.write(`${text}\n`);
  } catch (err) {
    send({ type: 'result', id, ok: false, error: describe(err), span: finish() });
  } finally {
    running.delete(id);
  }
}

/** Handles one frame from the parent (trusted, but a bad line is skipped, not fatal). */
function onFrame(line) {
  let message;
  try {
    message = JSON.parse(line);
  } catch {
    return;
  }
  if (message === null || typeof message !== 'object') return;
  if (message.type === 'call') void call(message);
  else if (message.type === 'cancel') running.get(message.id)?.abort(new Error('cancelled by the caller'));
}

// Frames are newline-delimited; a chunk may hold several or part of one. A plain splitter on the
// bytes (readline's per-line string and event machinery cost more than the call it carries).
/** @type {Buffer[]} */
let partial = [];
process.stdin.on('data', (chunk) => {
  let start = 0;
  for (let end = chunk.indexOf(10); end !== -1; end = chunk.indexOf(10, start)) {
    const piece = chunk.subarray(start, end);
    start = end + 1;
    const line = partial.length === 0 ? piece : Buffer.concat([...partial, piece]);
    partial = [];
    if (line.length > 0) onFrame(line.toString('utf8'));
  }
  if (start < chunk.length) partial.push(chunk.subarray(start));
});
// The parent went away: nothing will ever ask this process for anything again.
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
send({ type: 'ready' });
