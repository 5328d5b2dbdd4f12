// How values read on screen: ages, durations, token counts and costs.

/** `3 s`, `4 min`, `2 h`, `5 d`. */
export function humanMs(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s < 10 ? s.toFixed(1) : Math.round(s)} s`;
  const min = s / 60;
  if (min < 60) return `${Math.round(min)} min`;
  const h = min / 60;
  if (h < 48) return `${Math.round(h)} h`;
  return `${Math.round(h / 24)} d`;
}

/** Time since an ISO instant. */
export function age(iso: string, now = Date.now()): string {
  return humanMs(now - Date.parse(iso));
}

/** Time between two ISO instants (`—` when it has not started; running: until now). */
export function duration(start: string | null, end: string | null, now = Date.now()): string {
  if (start === null) return '—';
  return humanMs((end === null ? now : Date.parse(end)) - Date.parse(start));
}

/** `1,234`. */
export function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** `$0.0012`. */
export function usd(n: number): string {
  return `$${n < 0.01 && n > 0 ? n.toPrecision(2) : n.toFixed(2)}`;
}

/** Any value as indented JSON (strings as they are). */
export function pretty(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return '';
  return JSON.stringify(value, null, 2);
}

/** The message of a thrown value, with the API's code when it has one. */
export function errorText(err: unknown): string {
  if (typeof err === 'object' && err !== null && 'code' in err && 'message' in err)
    return `${String(err.message)} (${String(err.code)})`;
  return err instanceof Error ? err.message : String(err);
}
