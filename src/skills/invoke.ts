import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import {
  CancelledError,
  SkillExecutionError,
  TimeoutError,
  ValidationError,
  toSkillplaneError,
} from '../errors/index.js';
import { assertJsonLimits, findJsonLimitViolation } from '../limits/index.js';
import { parseTraceparent } from '../tracing/index.js';
import { auditedInput } from './audit-input.js';
import type { Dispatcher } from './dispatch.js';
import type { ApprovalGrant, Skill, SkillCallContext, SkillDoor } from './types.js';
import { assertMatchesSchema } from './validation.js';

/** What the invoker needs from the registry. */
export interface SkillLookup {
  resolve(ref: string): Skill;
}

/** What the invoker needs from the policy. */
export interface SkillGate {
  check(skill: Skill, opts: { approval?: ApprovalGrant }): void;
}

/** Size limits of one skill call's input and output. */
export interface SkillIoLimits {
  maxInputBytes: number;
  maxInputDepth: number;
  maxInputStringLength: number;
  maxOutputBytes: number;
}

/** The defaults of {@link SkillIoLimits} (the config's). */
export const DEFAULT_SKILL_IO_LIMITS: SkillIoLimits = {
  maxInputBytes: 1024 * 1024,
  maxInputDepth: 64,
  maxInputStringLength: 512 * 1024,
  maxOutputBytes: 4 * 1024 * 1024,
};

export type { SkillDoor } from './types.js';

/** One skill call, as every door describes it. */
export interface SkillInvocation {
  /** A reference (`acme/search`, `acme/search@^1.2`, `acme__search`) or a resolved skill. */
  skill: string | Skill;
  input: unknown;
  door: SkillDoor;
  /** Who asked (the key's principal); `null` for the system. */
  principal?: string | null;
  /** The approval a risk-tagged skill needs. */
  approval?: ApprovalGrant;
  /** The caller's own deadline; the skill's `timeouts.execute_sec` applies when it is shorter. */
  timeoutMs?: number;
  /** The caller's cancellation (client gone, run cancelled). */
  signal?: AbortSignal;
  traceparent?: string;
  tracestate?: string;
  /** The run and step the call belongs to (door `run`). */
  runId?: string;
  stepKey?: string;
  /**
   * The call's idempotency key, passed to the skill as `ctx.idempotencyKey` (and
   * `SKILLPLANE_IDEMPOTENCY_KEY` to commands): `<run id>:<step seq>` for run steps, the caller's
   * `Idempotency-Key` for direct calls; a fresh `call_…` id when absent.
   */
  idempotencyKey?: string;
  /** The attempt number (1-based, `ctx.attempt`); 1 when absent. */
  attempt?: number;
  logger?: Logger;
  /** Completes a rendered prompt with a model (prompt skills run by agents). */
  complete?: SkillCallContext['complete'];
  /** Told of progress of a call on the worker plane. */
  onProgress?: SkillCallContext['onProgress'];
}

/** The result of one skill call. */
export interface SkillCallResult {
  /** `id@version` of the skill that ran. */
  skill: string;
  output: unknown;
  durationMs: number;
}

/** One line of the audit trail for a skill call. */
export interface SkillAuditEntry {
  principal: string | null;
  action: 'skill.execute';
  target: string;
  run_id: string | null;
  trace_id: string | null;
  data: Record<string, unknown>;
}

/** Where the invoker writes its audit entries; it must never throw (log instead). */
export interface AuditSink {
  append(entry: SkillAuditEntry): Promise<void>;
}

/** Options of {@link SkillInvoker}. */
export interface SkillInvokerOptions {
  registry: SkillLookup;
  policy: SkillGate;
  dispatcher: Dispatcher;
  audit?: AuditSink;
  limits?: Partial<SkillIoLimits>;
}

/**
 * The one door-independent skill call, used by REST execute, OpenClaw, MCP, agent runs, workflows
 * and the CLI: resolve → policy and approval → input limits and schema → one deadline (the
 * skill's timeout or the caller's, whichever is shorter) linked to the caller's signal → the
 * {@link Dispatcher} → output limits and schema → one `skill.execute` audit entry, whether it
 * succeeded or not. Doors only parse requests and shape answers. Errors are `SkillplaneError`s
 * with a stable `code`.
 */
export class SkillInvoker {
  private readonly registry: SkillLookup;
  private readonly policy: SkillGate;
  private readonly dispatcher: Dispatcher;
  private readonly auditSink: AuditSink | undefined;
  private readonly limits: SkillIoLimits;

  constructor(options: SkillInvokerOptions) {
    this.registry = options.registry;
    this.policy = options.policy;
    this.dispatcher = options.dispatcher;
    this.auditSink = options.audit;
    this.limits = { ...DEFAULT_SKILL_IO_LIMITS, ...options.limits };
  }

  /** Resolves a reference or throws `not_found`. */
  resolve(ref: string): Skill {
    return this.registry.resolve(ref);
  }

  /**
   * Checks policy without running: throws `approval_required` or `permission_denied` exactly as
   * {@link invoke} would. The runtime uses it to stop a run for approval before dispatching.
   */
  check(ref: string | Skill, approval?: ApprovalGrant): Skill {
    const skill = typeof ref === 'string' ? this.registry.resolve(ref) : ref;
    this.policy.check(skill, approval === undefined ? {} : { approval });
    return skill;
  }

  /**
   * Checks an input against the size limits before anything recursive (schema validation,
   * serialisation, the journal) touches it: `input_invalid` naming the path and the limit.
   */
  assertInputLimits(skill: Skill, input: unknown): void {
    const l = this.limits;
    assertJsonLimits(
      input,
      { maxDepth: l.maxInputDepth, maxStringLength: l.maxInputStringLength, maxBytes: l.maxInputBytes },
      `input of ${skill.id}`,
    );
  }

  /** Checks an input as {@link invoke} would (limits, schema), without running anything. */
  validate(skill: Skill, input: unknown): void {
    this.assertInputLimits(skill, input);
    assertMatchesSchema(skill.inputSchema, input, `input of ${skill.id}`, 'input_invalid');
  }

  /** Runs one skill call (see the class). */
  async invoke(inv: SkillInvocation): Promise<SkillCallResult> {
    const started = performance.now();
    let skill: Skill | undefined;
    try {
      skill = typeof inv.skill === 'string' ? this.registry.resolve(inv.skill) : inv.skill;
      const result = await this.run(skill, inv, started);
      await this.audit(inv, skill, started, undefined);
      return result;
    } catch (raw) {
      const err = toSkillplaneError(raw, 'skill_failed');
      await this.audit(inv, skill, started, err.code);
      throw err;
    }
  }

  private async run(skill: Skill, inv: SkillInvocation, started: number): Promise<SkillCallResult> {
    this.check(skill, inv.approval);
    this.validate(skill, inv.input);
    assertCallIdentity(inv);
    const skillMs = Math.round(skill.manifest.timeouts.execute_sec * 1000);
    const timeoutMs = inv.timeoutMs === undefined ? skillMs : Math.min(skillMs, Math.round(inv.timeoutMs));
    const controller = new AbortController();
    const parent = inv.signal;
    const onAbort = () => controller.abort(parent?.reason ?? new CancelledError());
    if (parent?.aborted === true) onAbort();
    else parent?.addEventListener('abort', onAbort, { once: true });
    const timer = setTimeout(
      () =>
        controller.abort(new TimeoutError(`skill ${skill.id} timed out after ${timeoutMs} ms`, timeoutMs)),
      timeoutMs,
    );
    try {
      const output = await this.dispatcher.dispatch(skill, inv.input, {
        signal: controller.signal,
        door: inv.door,
        deadline: Date.now() + timeoutMs,
        ...(inv.onProgress === undefined ? {} : { onProgress: inv.onProgress }),
        ...(inv.principal === undefined || inv.principal === null ? {} : { principal: inv.principal }),
        ...(inv.approval === undefined ? {} : { approval: inv.approval }),
        ...(inv.traceparent === undefined ? {} : { traceparent: inv.traceparent }),
        ...(inv.tracestate === undefined ? {} : { tracestate: inv.tracestate }),
        ...(inv.runId === undefined ? {} : { runId: inv.runId }),
        // Every call has a key and an attempt, so a skill never has to guess.
        idempotencyKey: inv.idempotencyKey ?? `call_${randomUUID()}`,
        attempt: inv.attempt ?? 1,
        ...(inv.logger === undefined ? {} : { logger: inv.logger }),
        ...(inv.complete === undefined ? {} : { complete: inv.complete }),
      });
      controller.signal.throwIfAborted();
      this.assertOutputLimits(skill, output);
      if (skill.outputSchema !== undefined) {
        assertMatchesSchema(skill.outputSchema, output, `output of ${skill.id}`, 'output_invalid');
      }
      return { skill: skill.ref, output, durationMs: performance.now() - started };
    } catch (err) {
      // A timeout or cancel wins over whatever the executor threw while being torn down.
      if (controller.signal.aborted) throw toSkillplaneError(controller.signal.reason, 'cancelled');
      throw toSkillplaneError(err, 'skill_failed');
    } finally {
      clearTimeout(timer);
      parent?.removeEventListener('abort', onAbort);
    }
  }

  /** An output deeper or larger than the limits fails as `output_too_large` / `output_invalid`. */
  private assertOutputLimits(skill: Skill, output: unknown): void {
    const l = this.limits;
    // Tool and command executors already cap the bytes they accept from their process.
    const v = findJsonLimitViolation(output, {
      maxDepth: l.maxInputDepth * 2,
      maxStringLength: l.maxOutputBytes,
      ...(skill.manifest.kind === 'tool' ? {} : { maxBytes: l.maxOutputBytes }),
    });
    if (v === undefined) return;
    const code = v.limit === 'bytes' || v.limit === 'string_length' ? 'output_too_large' : 'output_invalid';
    throw new SkillExecutionError(`output of ${skill.id}: ${v.message} (at ${v.path})`, code, {
      data: { skill_id: skill.id, path: v.path, limit: v.limit },
    });
  }

  private async audit(
    inv: SkillInvocation,
    skill: Skill | undefined,
    started: number,
    code: string | undefined,
  ) {
    if (this.auditSink === undefined) return;
    const target = skill?.ref ?? (typeof inv.skill === 'string' ? inv.skill : inv.skill.ref);
    await this.auditSink.append({
      principal: inv.principal ?? null,
      action: 'skill.execute',
      target,
      run_id: inv.runId ?? null,
      trace_id: parseTraceparent(inv.traceparent, inv.tracestate)?.traceId ?? null,
      data: {
        door: inv.door,
        ok: code === undefined,
        code: code ?? null,
        duration_ms: Math.round(performance.now() - started),
        approved_by: inv.approval?.approved_by ?? null,
        approval_reason: inv.approval?.reason ?? null,
        ...(inv.stepKey === undefined ? {} : { step_key: inv.stepKey }),
        // The arguments, with the manifest's sensitive fields redacted; an unresolved skill has no
        // manifest to say which fields are sensitive, so its input is not recorded.
        ...(skill === undefined ? {} : auditedInput(inv.input, skill.manifest.sensitive)),
      },
    });
  }

  /** Stops warm processes and connections of the dispatcher. */
  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

/** Printable ASCII, 1–512 characters: what an `Idempotency-Key` header may carry to a skill. */
const IDEMPOTENCY_KEY = /^[\x21-\x7e](?:[\x20-\x7e]{0,510}[\x21-\x7e])?$/;

/**
 * The key and attempt reach a skill's environment and its channel: a key from a client header
 * must be printable ASCII of 1–512 characters (`invalid_idempotency_key`), an attempt a positive
 * integer.
 */
function assertCallIdentity(inv: SkillInvocation): void {
  if (inv.idempotencyKey !== undefined && !IDEMPOTENCY_KEY.test(inv.idempotencyKey)) {
    throw new ValidationError(
      'the idempotency key must be 1-512 printable ASCII characters without leading or trailing spaces',
      [{ path: 'idempotency_key', message: 'must be 1-512 printable ASCII characters' }],
      'invalid_idempotency_key',
    );
  }
  if (inv.attempt !== undefined && !(Number.isSafeInteger(inv.attempt) && inv.attempt >= 1)) {
    throw new ValidationError(
      `attempt must be a positive integer, got ${String(inv.attempt)}`,
      [{ path: 'attempt', message: 'must be a positive integer' }],
      'invalid_attempt',
    );
  }
}
