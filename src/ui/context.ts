import { createContext } from 'preact';
import { useContext } from 'preact/hooks';
import type { DashboardClient, Whoami } from '../client/index.js';

/** Who is signed in, the client carrying their key, and what they may do. */
export interface Session {
  client: DashboardClient;
  who: Whoami;
  /** Whether the key holds `scope` (admin holds every scope). */
  can(scope: string): boolean;
}

export const SessionContext = createContext<Session | null>(null);

/** The signed-in session (only rendered inside the signed-in shell). */
export function useSession(): Session {
  const session = useContext(SessionContext);
  if (session === null) throw new Error('useSession outside the signed-in shell');
  return session;
}

/** A session over a client and its whoami answer. */
export function sessionOf(client: DashboardClient, who: Whoami): Session {
  return { client, who, can: (scope) => who.scopes.includes('admin') || who.scopes.includes(scope) };
}
