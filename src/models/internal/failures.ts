import { ModelError, ModelUnavailableError } from '../errors.js';
import type { ModelErrorReason } from '../errors.js';
import {
  MAX_PAGE_CHARS,
  describeBody,
  describeNetworkError,
  htmlToText,
  isJson,
  looksLikeHtml,
  quote,
} from './answer.js';
import type { HttpResponse } from './transport.js';

/** The details a failure names besides the backend. */
export interface FailureDetails {
  status: number | null;
  reason: ModelErrorReason;
  retryable?: boolean;
  cause?: unknown;
}

/** Builds the {@link ModelError}s of one backend, with messages that quote the server briefly. */
export class Failures {
  constructor(private readonly backend: string) {}

  /** `model backend <name> <what>` with `data.reason`. */
  fail(what: string, details: FailureDetails): ModelError {
    return new ModelError(`model backend ${this.backend} ${what}`, { ...details, backend: this.backend });
  }

  /** A 2xx answer, or a stream, without any choice. Not retried: the same request gets the same. */
  noChoices(status: number): ModelError {
    return this.fail(`answered HTTP ${status} without any choice (no model loaded?)`, {
      status,
      reason: 'no_choices',
      retryable: false,
    });
  }

  /** No HTTP answer at all (refused, reset, DNS, a socket closed mid-body). */
  unreachable(err: unknown): ModelError {
    const hint = `is the model server running? (models.${this.backend}.base_url in the config)`;
    return new ModelError(
      `cannot reach model backend ${this.backend}: ${describeNetworkError(err)}; ${hint}`,
      {
        status: null,
        backend: this.backend,
        reason: 'unreachable',
        cause: err,
      },
    );
  }

  /** Parses a body or a chunk; one that is not JSON (garbage, an HTML page) fails, not retried. */
  parseJson(text: string, status: number, contentType: string | null): unknown {
    try {
      return JSON.parse(text) as unknown;
    } catch (err) {
      const what = looksLikeHtml(text, contentType)
        ? `an HTML page, not JSON: ${quote(htmlToText(text), MAX_PAGE_CHARS)}`
        : `malformed JSON: ${quote(text, MAX_PAGE_CHARS)}`;
      throw this.fail(`sent ${what}`, { status, reason: 'malformed_json', retryable: false, cause: err });
    }
  }

  /**
   * The error of a non-2xx answer: `model_unavailable` for a 502/503/504 whose body is not JSON (a
   * proxy's page: the model server behind it is down), else `model_error` with the status.
   */
  async httpError(res: HttpResponse): Promise<ModelError> {
    const text = await res.text().catch(() => '');
    const detail = describeBody(text, res.headers.get('content-type'));
    const message = `model backend ${this.backend} answered HTTP ${res.status}${detail === '' ? '' : `: ${detail}`}`;
    if ([502, 503, 504].includes(res.status) && !isJson(text)) {
      return new ModelUnavailableError(message, { status: res.status, backend: this.backend });
    }
    return new ModelError(message, { status: res.status, backend: this.backend, reason: 'http_status' });
  }
}
