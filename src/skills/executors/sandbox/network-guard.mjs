// Preloaded with `--import` into every tool sandbox. Node 20 has no network permission, so this
// patches the public network entry points to reach only the hosts the skill's policy allows.
// Loopback is not special: 127.0.0.1 is denied unless listed.
//
// Two modes. Under OS confinement (config.egress set) the process has a network namespace with no
// interface: every TCP connection it asks for is sent to the parent's egress proxy (a Unix socket
// bound into the sandbox), which checks the host, resolves it itself and checks the resolved
// address; this guard only gives early, clear errors. Without OS confinement this guard is the
// only check, so it also resolves host names itself (a caller-supplied `lookup` is ignored) and
// checks every resolved address.
import dgram from 'node:dgram';
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import tls from 'node:tls';
import { accessDenied, config } from './config.mjs';
import { addressAllowed, isIP, matchHost, parsePattern } from './host-rules.mjs';

const patterns = config.network.map(parsePattern);
const egress = typeof config.egress === 'string' ? config.egress : undefined;
const originalLookup = dns.lookup;

/** @param {string} host @param {number | string | undefined} port */
function allowed(host, port) {
  return matchHost(patterns, host, port) !== undefined;
}

/** @param {string} target */
function denied(target, syscall, why = 'is denied by the skill policy') {
  return accessDenied('permission_denied', `network access to ${target} ${why}`, {
    errno: -13,
    syscall,
    target,
  });
}

/** Throws unless host:port may be reached. */
function assertAllowed(host, port, syscall) {
  if (!allowed(host, port)) throw denied(port === undefined ? host : `${host}:${port}`, syscall);
}

/** Extracts host and port from the many shapes of `socket.connect(...)` arguments. */
function connectTarget(args) {
  let first = args[0];
  // net.connect() passes already-normalised `[options, cb]` arrays.
  if (Array.isArray(first)) first = first[0];
  if (first !== null && typeof first === 'object') {
    if (first.path !== undefined && first.path !== null) return { path: String(first.path), options: first };
    return { host: first.host ?? 'localhost', port: first.port, options: first };
  }
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    return { host: typeof args[1] === 'string' ? args[1] : 'localhost', port: first, options: {} };
  }
  return { path: String(first), options: {} };
}

function callbackOf(args) {
  const flat = Array.isArray(args[0]) ? args[0] : args;
  return flat.findLast((a) => typeof a === 'function');
}

/**
 * The only resolver a guarded connection uses: the system's, whatever the caller passed, with
 * every address checked against the patterns before the socket may connect to it.
 */
function guardedLookup(host, port) {
  return function lookup(hostname, options, callback) {
    const cb = typeof options === 'function' ? options : callback;
    const opts = typeof options === 'object' && options !== null ? options : {};
    originalLookup(hostname, { ...opts, all: true }, (err, addresses) => {
      if (err) return cb(err);
      const ok = addresses.filter((a) => addressAllowed(patterns, host, a.address, port));
      if (ok.length === 0) {
        return cb(denied(`${host}:${port}`, 'lookup', 'resolves only to addresses the skill policy denies'));
      }
      if (opts.all === true) return cb(null, ok);
      return cb(null, ok[0].address, ok[0].family);
    });
  };
}

const originalConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function connect(...args) {
  const target = connectTarget(args);
  let err;
  if (target.path !== undefined) err = denied(target.path, 'connect');
  else if (!allowed(target.host, target.port)) err = denied(`${target.host}:${target.port}`, 'connect');
  else if (egress !== undefined && this instanceof tls.TLSSocket) {
    err = denied(`${target.host}:${target.port}`, 'connect', 'must be opened with tls.connect()');
  }
  if (err !== undefined) {
    // Connection errors are reported as an 'error' event, like a refused connection.
    process.nextTick(() => this.destroy(err));
    return this;
  }
  const cb = callbackOf(args);
  if (egress !== undefined) {
    // Tunnel through the parent's egress proxy: one JSON line names the target, then raw bytes.
    originalConnect.call(this, { path: egress }, ...(cb === undefined ? [] : [cb]));
    this.write(`${JSON.stringify({ host: String(target.host), port: Number(target.port) })}\n`);
    return this;
  }
  if (isIP(String(target.host)) !== 0) return originalConnect.apply(this, args);
  const { lookup: _ignored, ...rest } = target.options;
  return originalConnect.call(
    this,
    { ...rest, host: target.host, port: target.port, lookup: guardedLookup(target.host, target.port) },
    ...(cb === undefined ? [] : [cb]),
  );
};

for (const name of ['connect', 'createConnection']) {
  const original = net[name];
  net[name] = function guardedNetConnect(...args) {
    const target = connectTarget(args);
    if (target.path !== undefined) throw denied(target.path, 'connect');
    assertAllowed(target.host, target.port, 'connect');
    return original.apply(this, args);
  };
}

/** tls.connect(options[, cb]) | (port[, host][, options][, cb]) → [options, cb]. */
function tlsArgs(args) {
  let options = {};
  let i = 0;
  if (typeof args[i] === 'number' || (typeof args[i] === 'string' && /^\d+$/.test(args[i]))) {
    options.port = Number(args[i++]);
    if (typeof args[i] === 'string') options.host = args[i++];
  }
  if (args[i] !== null && typeof args[i] === 'object') options = { ...args[i++], ...options };
  const cb = typeof args[i] === 'function' ? args[i] : undefined;
  return [options, cb];
}

const originalTlsConnect = tls.connect;
tls.connect = function guardedTlsConnect(...args) {
  const [options, cb] = tlsArgs(args);
  if (options.socket !== undefined && options.socket !== null) return originalTlsConnect.apply(this, args);
  if (options.path !== undefined && options.path !== null) throw denied(String(options.path), 'connect');
  const port = options.port ?? 443;
  const host = options.host ?? 'localhost';
  assertAllowed(host, port, 'connect');
  if (egress === undefined) return originalTlsConnect.apply(this, args);
  const raw = new net.Socket();
  raw.connect({ host, port });
  const servername = options.servername ?? (isIP(String(host)) === 0 ? String(host) : undefined);
  return originalTlsConnect.call(
    this,
    { ...options, socket: raw, ...(servername === undefined ? {} : { servername }) },
    ...(cb === undefined ? [] : [cb]),
  );
};

/** Patches DNS functions whose first argument is a host name. */
function guardDns(target, promises) {
  for (const name of Object.keys(target)) {
    if (typeof target[name] !== 'function') continue;
    const original = target[name];
    if (
      ['reverse', 'lookupService', 'setServers', 'setLocalAddress', 'setDefaultResultOrder'].includes(name)
    ) {
      target[name] = function deniedDns(...args) {
        const err = denied(`dns.${name}`, name, 'is not available to skills');
        if (promises) return Promise.reject(err);
        const callback = args.findLast((a) => typeof a === 'function');
        if (callback === undefined) throw err;
        process.nextTick(callback, err);
        return undefined;
      };
      continue;
    }
    if (!/^(lookup|resolve)/.test(name)) continue;
    target[name] = function guardedDns(hostname, ...rest) {
      if (!allowed(String(hostname), undefined)) {
        const err = denied(String(hostname), name);
        if (promises) return Promise.reject(err);
        const callback = rest.findLast((a) => typeof a === 'function');
        if (callback === undefined) throw err;
        process.nextTick(callback, err);
        return undefined;
      }
      return original.call(this, hostname, ...rest);
    };
  }
}
guardDns(dns, false);
guardDns(dns.promises, true);
guardDns(dns.Resolver.prototype, false);
guardDns(dns.promises.Resolver.prototype, true);

// No UDP at all, and no listening sockets: a skill is a client.
dgram.createSocket = function deniedUdp() {
  throw denied('UDP', 'socket', 'is not available to skills');
};
dgram.Socket.prototype.bind = function deniedBind() {
  throw denied('UDP', 'bind', 'is not available to skills');
};
dgram.Socket.prototype.send = function deniedSend() {
  throw denied('UDP', 'send', 'is not available to skills');
};
net.Server.prototype.listen = function deniedListen() {
  throw denied('listen', 'listen', 'is not available to skills');
};

/** Extracts host and port from `http.request(url?, options?, cb?)` arguments. */
function requestTarget(args, defaultPort) {
  let url;
  let options = {};
  if (typeof args[0] === 'string') url = new URL(args[0]);
  else if (args[0] instanceof URL) url = args[0];
  else if (args[0] !== null && typeof args[0] === 'object') options = args[0];
  if (url !== undefined && args[1] !== null && typeof args[1] === 'object') options = args[1];
  if (options.socketPath !== undefined && options.socketPath !== null)
    return { path: String(options.socketPath) };
  const host = options.hostname ?? options.host ?? url?.hostname ?? 'localhost';
  const port = options.port ?? (url?.port || undefined) ?? options.defaultPort ?? defaultPort;
  return { host: String(host).replace(/:\d+$/, ''), port };
}

for (const [mod, defaultPort] of [
  [http, 80],
  [https, 443],
]) {
  for (const name of ['request', 'get']) {
    const original = mod[name];
    mod[name] = function guardedRequest(...args) {
      const target = requestTarget(args, defaultPort);
      if (target.path !== undefined) throw denied(target.path, 'connect');
      assertAllowed(target.host, target.port, 'connect');
      return original.apply(this, args);
    };
  }
}

if (typeof globalThis.fetch === 'function') {
  const originalFetch = globalThis.fetch;
  globalThis.fetch = function guardedFetch(input, init) {
    let url;
    try {
      url = new URL(typeof input === 'string' || input instanceof URL ? input : input.url);
    } catch {
      return originalFetch(input, init);
    }
    if (url.protocol === 'http:' || url.protocol === 'https:') {
      const port = url.port === '' ? (url.protocol === 'https:' ? 443 : 80) : Number(url.port);
      if (!allowed(url.hostname, port)) return Promise.reject(denied(`${url.hostname}:${port}`, 'fetch'));
    }
    return originalFetch(input, init);
  };
}

syncBuiltinESMExports();
