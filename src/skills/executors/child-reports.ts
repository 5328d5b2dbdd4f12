// What a tool skill's child reports besides its answer: the span of its call (timing checked and
// clamped, nothing else trusted) and its log lines, forwarded to the caller's logger.
import { parseTraceparent, recordSpanError, reportedSpanTiming, type Tracing } from '../../tracing/index.js';
import type { Skill, SkillCallContext } from '../types.js';
import type { LogMessage } from './sandbox-process.js';

/**
 * The span a child reported for its call (`sandbox {skill}`), under the call's `traceparent`:
 * its timing is checked and clamped to the window the parent saw; nothing else is taken from it.
 */
export function recordChildSpan(
  tracing: Tracing,
  skill: Skill,
  ctx: SkillCallContext,
  message: { ok: boolean; span?: unknown; error?: { code: string } },
  sentAt: number,
  pid: number | undefined,
): void {
  const parent = parseTraceparent(ctx.traceparent);
  const timing = reportedSpanTiming(message.span, { sentAt, receivedAt: Date.now() });
  if (parent === undefined || timing === undefined) return;
  const span = tracing.startSpan(`sandbox ${skill.id}`, {
    parent,
    startTime: timing.start,
    attributes: {
      'gen_ai.tool.name': skill.id,
      'skillplane.skill.ref': skill.ref,
      'skillplane.span.reported_by': 'sandbox',
      ...(pid === undefined ? {} : { 'process.pid': pid }),
    },
  });
  if (!message.ok && message.error !== undefined) recordSpanError(span, message.error.code);
  span.end(timing.end);
}

/** Forwards a log line of the skill to the caller's logger. */
export function forwardLog(ctx: SkillCallContext, skill: Skill, message: LogMessage): void {
  const logger = ctx.logger;
  if (logger === undefined) return;
  const fields = { skill: skill.ref, ...(isRecord(message.data) ? message.data : { data: message.data }) };
  logger[message.level](fields, message.msg);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}
