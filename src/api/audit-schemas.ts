import { z } from 'zod';

/*
 * Bodies of the audit trail's routes: `GET /v1/audit` and the `audit` entries of a run's detail.
 */

/** Most entries a run's detail (`GET /v1/agents/runs/{id}`) carries; the rest are at `/v1/audit`. */
export const RUN_AUDIT_LIMIT = 100;

/** One line of the audit trail (not loose: it is the store's record, typed as is). */
export const auditEntrySchema = z
  .object({
    id: z.string().describe('Time-ordered id (`aud_…`)'),
    at: z.string().describe('When it happened (ISO-8601, UTC)'),
    principal: z
      .string()
      .nullable()
      .describe('Who: the API key’s principal, `x-user-id` on a server without keys, `null` for the system'),
    action: z
      .string()
      .describe(
        '`run.create`, `run.cancel`, `approval.decide`, `approval.expire`, `skill.execute`, `skills.reload`, ' +
          '`auth.failure`, `worker.dead_letter.retry`',
      ),
    target: z.string().nullable().describe('What it was done to: a run, approval or skill id, or a route'),
    run_id: z.string().nullable().describe('The run it concerns, when there is one'),
    trace_id: z.string().nullable(),
    data: z
      .record(z.string(), z.unknown())
      .nullable()
      .describe(
        'Details by action; `skill.execute`: `door`, `ok`, `code`, `duration_ms`, `approved_by`, and `input` ' +
          'with the manifest’s sensitive fields redacted (`null` with `input_truncated` and `input_bytes` ' +
          'above 4 KiB)',
      ),
  })
  .meta({ id: 'AuditEntry' });

const filterText = (max: number, what: string) => z.string().min(1).max(max).optional().describe(what);

export const listAuditQuerySchema = z.strictObject({
  run_id: filterText(200, 'Only entries of this run'),
  principal: filterText(200, 'Only entries by this principal'),
  action: filterText(100, 'Only this action, e.g. `skill.execute`'),
  target: filterText(512, 'Only entries about this target (a run, approval or skill id, a route)'),
  since: z.iso.datetime({ offset: true }).optional().describe('Only entries at or after this time'),
  until: z.iso.datetime({ offset: true }).optional().describe('Only entries strictly before this time'),
  limit: z.coerce
    .number()
    .int()
    .min(1)
    .max(1000)
    .optional()
    .describe('Most entries in the page (default 100)'),
  cursor: z.string().min(1).max(1000).optional().describe('The `next_cursor` of the previous page'),
});

export const auditPageSchema = z
  .looseObject({
    entries: z.array(auditEntrySchema).describe('Newest first'),
    next_cursor: z.string().nullable().describe('`null` on the last page'),
  })
  .meta({ id: 'AuditPage' });
