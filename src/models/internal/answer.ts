import { errorMessageOf } from './completion.js';
import { describeNetworkFailure } from '../../errors/index.js';

/** Longest server text quoted in an error message. */
export const MAX_QUOTED_CHARS = 300;
/** Longest text quoted from a page that is not JSON (an HTML error page from a proxy). */
export const MAX_PAGE_CHARS = 200;

/** `text` on one line, cut to `max` characters with an ellipsis. */
export function quote(text: string, max = MAX_QUOTED_CHARS): string {
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

/** True when a body is (most likely) an HTML page rather than JSON. */
export function looksLikeHtml(text: string, contentType: string | null): boolean {
  if ((contentType ?? '').toLowerCase().includes('html')) return true;
  return /^\s*<(!doctype|html|head|body|title|center|h1)\b/i.test(text);
}

const ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

/** The visible text of an HTML page, roughly: no scripts, styles, comments or tags. */
export function htmlToText(html: string): string {
  return html
    .replace(/<!--[\s\S]*?-->/g, ' ')
    .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, ' ')
    .replace(/<[^>]*>/g, ' ')
    .replace(/&(#\d+|[a-z]+);/gi, (m, name: string) => {
      if (name.startsWith('#')) return String.fromCodePoint(Number(name.slice(1)) || 32);
      return ENTITIES[name.toLowerCase()] ?? m;
    });
}

/** A short description of an error body: the JSON error's message, or the page's text. */
export function describeBody(text: string, contentType: string | null): string {
  if (looksLikeHtml(text, contentType)) return quote(htmlToText(text), MAX_PAGE_CHARS);
  try {
    const message = errorMessageOf(JSON.parse(text) as unknown);
    if (message !== undefined) return quote(message);
  } catch {
    // not JSON: quote the text itself
  }
  return quote(text);
}

/** True when a body parses as JSON (an OpenAI-compatible server speaking, not a proxy). */
export function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** An `error` member a server put in a 2xx body or a stream chunk. */
export interface ServerErrorBody {
  /** The message, quoted and cut to a sane length. */
  message: string;
  /** The error names a passing condition (a numeric code or status of 408, 429 or 5xx). */
  transient: boolean;
}

/**
 * The `error` member of a body, if any. Only an explicit numeric `code`/`status` of 408, 429 or
 * 5xx makes it transient (OpenRouter sends `{"error": {"code": 502, …}}`); anything else, like
 * LM Studio's `{"error": "No models loaded…"}`, is the server saying clearly that it cannot answer.
 */
export function serverErrorOf(body: unknown): ServerErrorBody | undefined {
  const message = errorMessageOf(body);
  if (message === undefined) return undefined;
  const error = (body as { error: unknown }).error;
  let transient = false;
  if (typeof error === 'object' && error !== null) {
    for (const key of ['code', 'status']) {
      const raw = (error as Record<string, unknown>)[key];
      const n =
        typeof raw === 'number' ? raw : typeof raw === 'string' && /^\d{3}$/.test(raw) ? Number(raw) : NaN;
      if (n === 408 || n === 429 || (n >= 500 && n <= 599)) transient = true;
    }
  }
  return { message: message.trim() === '' ? '(no message)' : quote(message), transient };
}

/** A network error with its cause, on one line. */
export function describeNetworkError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const detail = err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
  const why = describeNetworkFailure(err);
  return why.errno === undefined ? detail : `${why.reason} (${detail})`;
}
