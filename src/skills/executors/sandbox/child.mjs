// The sandbox child: runs one tool skill's entry module under Node's permission model, driven by
// the parent over IPC. Messages in: {type: 'call', id, input, ctx} and {type: 'cancel', id}.
// Messages out: {type: 'result', id, ok, output | error} and {type: 'log', id, level, msg, data}.
import './fs-guard.mjs';
import fs from 'node:fs';
import { isAbsolute, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { config } from './config.mjs';
import { isInside, realpathOf } from './fs-guard.mjs';

/** @type {Promise<Record<string, unknown>> | undefined} */
let modulePromise;
/** @type {Map<number, AbortController>} */
const running = new Map();

function send(message) {
  if (process.connected) process.send(message);
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
  const message = err instanceof Error ? err.message : String(err);
  const originalCode =
    err !== null && typeof err === 'object' && typeof err.code === 'string' ? err.code : undefined;
  return { code, message, ...(originalCode === undefined ? {} : { original_code: originalCode }) };
}

/** Resolves a helper path (relative to the first root) and keeps it inside the roots. */
function insideRoots(path) {
  const bounds = config.roots.length > 0 ? config.roots : [config.dir];
  const raw = isAbsolute(path) ? path : `${bounds[0]}${sep}${path}`;
  const real = realpathOf(raw);
  if (real === undefined || !bounds.some((b) => isInside(real, b))) {
    const err = new Error(`${path} is outside the skill roots`);
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
  const log = (level) => (msg, data) =>
    send({
      type: 'log',
      id,
      level,
      msg: typeof msg === 'string' ? msg : JSON.stringify(msg),
      data: data === undefined ? undefined : JSON.parse(JSON.stringify(data)),
    });
  return Object.freeze({ debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error') });
}

async function call({ id, input, ctx = {} }) {
  const controller = new AbortController();
  running.set(id, controller);
  try {
    modulePromise ??= import(pathToFileURL(config.entry).href);
    const mod = await modulePromise;
    if (typeof mod.default !== 'function') {
      throw Object.assign(new Error('the entry module has no default export function'), {
        code: 'skill_invalid',
      });
    }
    const output = await mod.default(input, {
      signal: controller.signal,
      logger: loggerFor(id),
      traceparent: ctx.traceparent,
      tracestate: ctx.tracestate,
      runId: ctx.runId,
      // Realpaths of the skill's roots (first = working root) and its own folder.
      roots: config.roots,
      dir: config.dir,
      fs: fsHelpers,
    });
    // Round-trip through JSON so a non-serialisable output fails here, as a skill error.
    const json = output === undefined ? null : JSON.parse(JSON.stringify(output));
    send({ type: 'result', id, ok: true, output: json });
  } catch (err) {
    send({ type: 'result', id, ok: false, error: describe(err) });
  } finally {
    running.delete(id);
  }
}

process.on('message', (message) => {
  if (message === null || typeof message !== 'object') return;
  if (message.type === 'call') void call(message);
  else if (message.type === 'cancel') running.get(message.id)?.abort(new Error('cancelled by the caller'));
});
// The parent went away: nothing will ever ask this process for anything again.
process.on('disconnect', () => process.exit(0));
send({ type: 'ready' });
