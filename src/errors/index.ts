/**
 * The error hierarchy of skillplane. Every error carries a stable string `code` that callers,
 * the HTTP layer and the CLI can rely on; `data` holds structured details (never secrets).
 */

/** Details attached to an error, serialisable as JSON. */
export type ErrorData = Record<string, unknown>;

/** Base class of every error skillplane raises on purpose. */
export class SkillplaneError extends Error {
  /** Stable, machine-readable code, e.g. `permission_denied`. */
  readonly code: string;
  /** Structured details, serialisable as JSON. */
  readonly data: ErrorData | undefined;

  constructor(code: string, message: string, options: { data?: ErrorData; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.data = options.data;
  }

  /** A JSON-safe view: `{code, message, ...data}`. */
  toJSON(): { code: string; message: string } & ErrorData {
    return { ...(this.data ?? {}), code: this.code, message: this.message };
  }
}

/** One problem found while validating input, a manifest or a config file. */
export interface Issue {
  /** The file the problem is in, when there is one. */
  file?: string;
  /** Dotted path of the offending field (`permissions.fs.read.0`); empty for the whole value. */
  path: string;
  /** Why the value is refused. */
  message: string;
}

/** Input, a manifest or a config that does not match its schema. `data.issues` lists every problem. */
export class ValidationError extends SkillplaneError {
  readonly issues: Issue[];
  constructor(message: string, issues: Issue[], code = 'validation_failed') {
    super(code, message, { data: { issues } });
    this.issues = issues;
  }
}

/** The configuration could not be loaded; `issues` lists every problem with file, path and reason. */
export class ConfigError extends ValidationError {
  constructor(message: string, issues: Issue[]) {
    super(message, issues, 'config_invalid');
  }
}

/** A capability was refused by policy (deny by default). */
export class PermissionDeniedError extends SkillplaneError {
  constructor(message: string, data?: ErrorData) {
    super('permission_denied', message, data === undefined ? {} : { data });
  }
}

/** A risk-tagged skill needs a human decision before it may run. */
export class ApprovalRequiredError extends SkillplaneError {
  constructor(skillId: string, riskTags: string[]) {
    super(
      'approval_required',
      `skill ${skillId} is tagged ${riskTags.join(', ')} and needs an approval to run`,
      {
        data: { skill_id: skillId, risk_tags: riskTags },
      },
    );
  }
}

/** Something named does not exist. */
export class NotFoundError extends SkillplaneError {
  constructor(what: string, id: string) {
    super('not_found', `${what} not found: ${id}`, { data: { what, id } });
  }
}

/** The request conflicts with the current state (idempotency key reuse, terminal run, …). */
export class ConflictError extends SkillplaneError {
  constructor(message: string, code = 'conflict', data?: ErrorData) {
    super(code, message, data === undefined ? {} : { data });
  }
}

/** An operation ran past its deadline. */
export class TimeoutError extends SkillplaneError {
  readonly timeoutMs: number;
  constructor(message: string, timeoutMs: number) {
    super('timeout', message, { data: { timeout_ms: timeoutMs } });
    this.timeoutMs = timeoutMs;
  }
}

/** An operation was cancelled through its AbortSignal. */
export class CancelledError extends SkillplaneError {
  constructor(message = 'operation cancelled', cause?: unknown) {
    super('cancelled', message, cause === undefined ? {} : { cause });
  }
}

/** A skill (or its process) failed while executing. */
export class SkillExecutionError extends SkillplaneError {
  constructor(message: string, code = 'skill_failed', options: { data?: ErrorData; cause?: unknown } = {}) {
    super(code, message, options);
  }
}

/** The run queue is full; retry after `retryAfterMs`. */
export class RunQueueFullError extends SkillplaneError {
  readonly size: number;
  readonly capacity: number;
  readonly retryAfterMs: number;
  constructor(size: number, capacity: number, retryAfterMs: number) {
    super('queue_full', `run queue is full (${size}/${capacity})`, {
      data: { size, capacity, retry_after_ms: retryAfterMs },
    });
    this.size = size;
    this.capacity = capacity;
    this.retryAfterMs = retryAfterMs;
  }
}

/** A token, cost, step or depth budget would be exceeded. */
export class BudgetExhaustedError extends SkillplaneError {
  constructor(message: string, data?: ErrorData) {
    super('budget_exhausted', message, data === undefined ? {} : { data });
  }
}

/** Wraps anything thrown into a SkillplaneError, keeping known ones as they are. */
export function toSkillplaneError(err: unknown, fallbackCode = 'internal_error'): SkillplaneError {
  if (err instanceof SkillplaneError) return err;
  if (err instanceof Error) {
    if (err.name === 'AbortError') return new CancelledError(err.message, err);
    return new SkillplaneError(fallbackCode, err.message, { cause: err });
  }
  return new SkillplaneError(fallbackCode, String(err));
}
export { describeNetworkFailure } from './network.js';
