import { useEffect, useState } from 'preact/hooks';

/** The pages of the dashboard, from the URL's hash (`#/runs/run_…`). */
export type Route =
  | { page: 'runs' }
  | { page: 'run'; id: string }
  | { page: 'approvals' }
  | { page: 'skills' }
  | { page: 'workers' };

/** The route a hash names; anything unknown is the run list. */
export function parseRoute(hash: string): Route {
  const parts = hash
    .replace(/^#\/?/, '')
    .split('/')
    .filter((p) => p !== '');
  const [first, second] = parts;
  if (first === 'runs' && second !== undefined) return { page: 'run', id: decodeURIComponent(second) };
  if (first === 'approvals' || first === 'skills' || first === 'workers') return { page: first };
  return { page: 'runs' };
}

/** The hash of a route. */
export function hrefOf(route: Route): string {
  return route.page === 'run' ? `#/runs/${encodeURIComponent(route.id)}` : `#/${route.page}`;
}

/** The current route, following hash changes. */
export function useRoute(): Route {
  const [route, setRoute] = useState(() => parseRoute(location.hash));
  useEffect(() => {
    const onChange = () => setRoute(parseRoute(location.hash));
    addEventListener('hashchange', onChange);
    return () => removeEventListener('hashchange', onChange);
  }, []);
  return route;
}

/** Goes to a route. */
export function navigate(route: Route): void {
  location.hash = hrefOf(route);
}
