// Host rules of the skill network policy, shared by the sandboxed child's guard and the parent's
// egress proxy: which host:port a manifest's patterns allow, and which resolved addresses a host
// name may lead to. Plain .mjs (no build step): the child imports it before any skill code runs.
import { BlockList, isIP } from 'node:net';

/** @param {string} host */
export function normaliseHost(host) {
  let h = String(host).trim().toLowerCase();
  if (h.startsWith('[') && h.endsWith(']')) h = h.slice(1, -1);
  if (h.endsWith('.')) h = h.slice(0, -1);
  return h;
}

/**
 * @typedef {object} HostPattern
 * @property {boolean} wildcard `*.example.com`: any subdomain (not the apex).
 * @property {string} host Normalised host or IP literal.
 * @property {number | undefined} port A listed port, or any.
 */

/**
 * @param {string} pattern `host`, `*.example.com`, `host:port`, `[::1]:port`
 * @returns {HostPattern}
 */
export function parsePattern(pattern) {
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

/**
 * The pattern that allows `host:port`, or undefined.
 * @param {HostPattern[]} patterns
 * @param {string} host
 * @param {number | string | undefined} port undefined when unknown (DNS): any listed port matches
 * @returns {HostPattern | undefined}
 */
export function matchHost(patterns, host, port) {
  const h = normaliseHost(host);
  const p = port === undefined || port === '' ? undefined : Number(port);
  return patterns.find((pat) => {
    const hostOk = pat.wildcard ? h.endsWith(`.${pat.host}`) : h === pat.host;
    return hostOk && (pat.port === undefined || p === undefined || pat.port === p);
  });
}

const nonPublic = new BlockList();
for (const [net, prefix] of [
  ['0.0.0.0', 8],
  ['10.0.0.0', 8],
  ['100.64.0.0', 10],
  ['127.0.0.0', 8],
  ['169.254.0.0', 16],
  ['172.16.0.0', 12],
  ['192.0.0.0', 24],
  ['192.168.0.0', 16],
  ['198.18.0.0', 15],
  ['224.0.0.0', 4],
  ['240.0.0.0', 4],
]) {
  nonPublic.addSubnet(net, prefix, 'ipv4');
}
for (const [net, prefix] of [
  ['::', 128],
  ['::1', 128],
  ['fc00::', 7],
  ['fe80::', 10],
  ['ff00::', 8],
  ['64:ff9b:1::', 48],
]) {
  nonPublic.addSubnet(net, prefix, 'ipv6');
}

/**
 * True for loopback, private, link-local, CGNAT, multicast, reserved and unspecified addresses
 * (IPv4-mapped IPv6 addresses are judged by their IPv4 part).
 * @param {string} address
 */
export function isNonPublicAddress(address) {
  const a = normaliseHost(address);
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(a);
  if (mapped !== null) return nonPublic.check(mapped[1], 'ipv4');
  const family = isIP(a);
  if (family === 4) return nonPublic.check(a, 'ipv4');
  if (family === 6) return nonPublic.check(a, 'ipv6');
  return true;
}

/**
 * Whether a connection to `address` (a resolved IP) is allowed for a request to `host:port`.
 * An IP literal the patterns list is allowed as listed. A host name may lead to public addresses;
 * to a non-public one only when the patterns list that address too, or the name is `localhost`
 * listed explicitly and the address is loopback. So an allowed name can never be pointed at the
 * server's own network by DNS or by a caller-supplied resolver.
 * @param {HostPattern[]} patterns
 * @param {string} host the name or literal the caller asked for
 * @param {string} address a resolved address
 * @param {number | string | undefined} port
 */
export function addressAllowed(patterns, host, address, port) {
  if (matchHost(patterns, host, port) === undefined) return false;
  if (!isNonPublicAddress(address)) return true;
  if (matchHost(patterns, address, port) !== undefined) return true;
  const h = normaliseHost(host);
  const loopback = /^127\./.test(address) || address === '::1';
  return h === 'localhost' && loopback;
}

export { isIP };
