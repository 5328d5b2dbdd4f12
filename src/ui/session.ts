// The browser session: the API key typed once (kept in sessionStorage, gone with the tab) and the
// typed client that carries it on every request.
import { DashboardClient } from '../client/index.js';

const STORAGE_KEY = 'skillplane.api_key';

/** The key of this browser session, if one was typed. */
export function storedKey(): string | null {
  try {
    return sessionStorage.getItem(STORAGE_KEY);
  } catch {
    return null;
  }
}

/** Keeps the key for this browser session. */
export function storeKey(key: string): void {
  sessionStorage.setItem(STORAGE_KEY, key);
}

/** Forgets the key (sign out). */
export function clearKey(): void {
  sessionStorage.removeItem(STORAGE_KEY);
}

/** A client of the server that served the page, with `key` (none: the server's open mode). */
export function clientFor(key: string | null): DashboardClient {
  return new DashboardClient({ baseUrl: location.origin, ...(key === null ? {} : { apiKey: key }) });
}
