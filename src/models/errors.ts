import { SkillplaneError } from '../errors/index.js';

/**
 * A model backend refused or failed a request: a non-retryable HTTP status, retries exhausted,
 * an unreachable server or a malformed answer. `status` is null when no HTTP status was received.
 */
export class ModelError extends SkillplaneError {
  readonly status: number | null;
  readonly backend: string;
  constructor(message: string, details: { status: number | null; backend: string; cause?: unknown }) {
    super('model_error', message, {
      data: { status: details.status, backend: details.backend },
      ...(details.cause === undefined ? {} : { cause: details.cause }),
    });
    this.status = details.status;
    this.backend = details.backend;
  }
}

/** No backend of that name is configured under `models`. */
export class ModelNotFoundError extends SkillplaneError {
  constructor(name: string, available: string[]) {
    super('model_not_found', `model backend not found: ${name}`, { data: { model: name, available } });
  }
}
