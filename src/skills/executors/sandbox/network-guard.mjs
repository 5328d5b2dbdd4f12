// Preloaded with `--import` into every tool sandbox. Node 20 has no network permission, so this
// patches the public network entry points to reach only the hosts the skill's policy allows.
// Loopback is not special: 127.0.0.1 is denied unless listed.
import dns from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import tls from 'node:tls';
import { accessDenied, config } from './config.mjs';

/** @param {string} host */
function normaliseHost(host) {
  let h = String(host).trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/** @param {string} pattern */
function parsePattern(pattern) {
  let host = pattern;
  let port;
  const bracket = /^\[([^\]]+)\](?::(\d+))?$/.exec(pattern);
  if (bracket !== null) {
    host = bracket[1];
    port = bracket[2];
  } else if (pattern.split(':').length === 2) {
    [host, port] = pattern.split(':');
  }
  const wildcard = host.startsWith('*.');
  return {
    wildcard,
    host: normaliseHost(wildcard ? host.slice(2) : host),
    port: port === undefined ? undefined : Number(port),
  };
}

const patterns = config.network.map(parsePattern);

/**
 * @param {string} host
 * @param {number | string | undefined} port undefined when unknown (DNS): any listed port matches
 */
function allowed(host, port) {
  const h = normaliseHost(host);
  const p = port === undefined || port === '' ? undefined : Number(port);
  return patterns.some((pat) => {
    const hostOk = pat.wildcard ? h.endsWith(`.${pat.host}`) : h === pat.host;
    return hostOk && (pat.port === undefined || p === undefined || pat.port === p);
  });
}

/** @param {string} target */
function denied(target, syscall) {
  return accessDenied('permission_denied', `network access to ${target} is denied by the skill policy`, {
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
    if (first.path !== undefined && first.path !== null) return { path: String(first.path) };
    return { host: first.host ?? 'localhost', port: first.port };
  }
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    return { host: typeof args[1] === 'string' ? args[1] : 'localhost', port: first };
  }
  return { path: String(first) };
}

const originalConnect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function connect(...args) {
  const target = connectTarget(args);
  const ok = target.path === undefined && allowed(target.host, target.port);
  if (!ok) {
    const err = denied(target.path ?? `${target.host}:${target.port}`, 'connect');
    // Connection errors are reported as an 'error' event, like a refused connection.
    process.nextTick(() => this.destroy(err));
    return this;
  }
  return originalConnect.apply(this, args);
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

const originalTlsConnect = tls.connect;
tls.connect = function guardedTlsConnect(...args) {
  const options = args.find((a) => a !== null && typeof a === 'object') ?? {};
  if (options.socket === undefined) {
    const port = typeof args[0] === 'number' ? args[0] : (options.port ?? 443);
    const host = typeof args[1] === 'string' ? args[1] : (options.host ?? 'localhost');
    if (options.path !== undefined && options.path !== null) throw denied(String(options.path), 'connect');
    assertAllowed(host, port, 'connect');
  }
  return originalTlsConnect.apply(this, args);
};

/** Patches DNS functions whose first argument is a host name. */
function guardDns(target, promises) {
  for (const name of Object.keys(target)) {
    if (!/^(lookup|resolve)/.test(name) || name === 'lookupService' || typeof target[name] !== 'function') {
      continue;
    }
    const original = target[name];
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
