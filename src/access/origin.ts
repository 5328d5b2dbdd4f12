/**
 * Loopback checks of bind addresses, `Host` headers and browser `Origin`s: the one implementation
 * behind the DNS-rebinding guard of the HTTP API and the `Origin` check of the MCP endpoint.
 */

/** Host names that always mean this machine (`URL.hostname` spelling, IPv6 in brackets). */
const LOOPBACK_NAMES = new Set(['localhost', '[::1]', '::1']);
const IPV4_LOOPBACK = /^127(?:\.\d{1,3}){3}$/;
/** What a `Host` header may hold: a name or address and an optional port, nothing else. */
const HOST_HEADER = /^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$/;

/** Whether a bind address (or host name) only accepts connections from this machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  return h === 'localhost' || h === '::1' || h.startsWith('127.') || h === '::ffff:127.0.0.1';
}

/** A URL host name (`URL.hostname`) that names this machine. */
function isLoopbackHostname(hostname: string): boolean {
  return (
    LOOPBACK_NAMES.has(hostname) ||
    IPV4_LOOPBACK.test(hostname) ||
    hostname === '[::ffff:7f00:1]' ||
    hostname === '[::ffff:127.0.0.1]'
  );
}

/**
 * True when a request's `Host` header names this machine (`localhost`, `127.x.x.x`, `[::1]`, any
 * port) or one of `alsoAllowed` (e.g. the configured `server.host`). A header that is not a plain
 * `host[:port]` (user info, paths, spaces) is refused.
 */
export function isHostHeaderAllowed(host: string, alsoAllowed: readonly string[] = []): boolean {
  const value = host.trim();
  if (!HOST_HEADER.test(value)) return false;
  let hostname: string;
  try {
    hostname = new URL(`http://${value}`).hostname;
  } catch {
    return false;
  }
  if (isLoopbackHostname(hostname)) return true;
  const bare = hostname.replace(/^\[|\]$/g, '');
  return alsoAllowed.some(
    (a) =>
      a
        .trim()
        .toLowerCase()
        .replace(/^\[|\]$/g, '') === bare,
  );
}

/**
 * True when a browser `Origin` is a loopback origin (`http(s)://localhost`, `127.x.x.x`, `[::1]`,
 * any port) or one of `allowed` (`*` allows every origin). `null` and non-HTTP origins are refused.
 */
export function isOriginAllowed(origin: string, allowed: readonly string[] = []): boolean {
  if (allowed.includes('*') || allowed.includes(origin)) return true;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return false;
  return isLoopbackHostname(url.hostname);
}
