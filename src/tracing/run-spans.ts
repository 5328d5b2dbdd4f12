import type { Span } from '@opentelemetry/api';
import { recordSpanError, type Tracing } from './otel.js';
import { parseTraceparent } from './trace-context.js';

/** What a run span is made of (a structural subset of the stored run). */
export interface TracedRun {
  id: string;
  agent: string;
  strategy: string;
  status: string;
  trace_id: string;
  /** The run's own span: `00-<trace_id>-<run span id>-<flags>`. */
  traceparent: string;
  error: { code: string; message: string } | null;
  usage: { steps: number; input_tokens: number; output_tokens: number };
  created_at: string;
}

const SETTLED = new Set(['completed', 'failed', 'cancelled']);
const MAX_OPEN = 10_000;

/**
 * The run spans of this node: `run {agent}`, with the span id stored in `run.traceparent` (the
 * parent of the run's agent, model and skill spans on every node and across restarts), under the
 * inbound `traceparent` when there was one. Started when the run is created here and ended when
 * it settles. A run that settles on a node that did not create it (resumed after a restart, or
 * reclaimed) gets its span then, starting at `created_at`; the inbound parent is only known to
 * the node that received the request, so that span is a root of the same trace.
 */
export class RunSpans {
  private readonly open = new Map<string, Span>();

  constructor(private readonly tracing: Tracing) {}

  /** A run was created here (with the caller's trace context). */
  created(run: TracedRun, caller: { traceparent?: string } = {}): void {
    if (!this.tracing.enabled || this.open.has(run.id)) return;
    const own = parseTraceparent(run.traceparent);
    if (own === undefined) return;
    const inbound = parseTraceparent(caller.traceparent);
    const parent = inbound !== undefined && inbound.traceId === own.traceId ? inbound : undefined;
    if (this.open.size >= MAX_OPEN) {
      // Bounded: the oldest open span is dropped (not exported) rather than growing without end.
      const oldest = this.open.keys().next().value as string;
      this.open.delete(oldest);
    }
    this.open.set(run.id, this.start(run, own, parent, Date.parse(run.created_at)));
  }

  /** A run's status changed; a settled run's span ends (made now if this node had none). */
  changed(run: TracedRun): void {
    if (!this.tracing.enabled || !SETTLED.has(run.status)) return;
    let span = this.open.get(run.id);
    this.open.delete(run.id);
    if (span === undefined) {
      const own = parseTraceparent(run.traceparent);
      if (own === undefined) return;
      span = this.start(run, own, undefined, Date.parse(run.created_at));
      span.setAttribute('skillplane.run.resumed_elsewhere', true);
    }
    span.setAttributes({
      'skillplane.run.status': run.status,
      'skillplane.run.steps': run.usage.steps,
      'gen_ai.usage.input_tokens': run.usage.input_tokens,
      'gen_ai.usage.output_tokens': run.usage.output_tokens,
    });
    if (run.status !== 'completed')
      recordSpanError(span, run.error?.code ?? run.status, run.error?.message ?? undefined);
    span.end();
  }

  /** Spans still open (runs not settled yet). */
  get size(): number {
    return this.open.size;
  }

  private start(
    run: TracedRun,
    own: { traceId: string; spanId: string; flags: string },
    parent: { traceId: string; spanId: string; flags: string } | undefined,
    startTime: number,
  ): Span {
    return this.tracing.startSpan(`run ${run.agent}`, {
      spanId: own.spanId,
      traceId: own.traceId,
      ...(parent === undefined
        ? {}
        : { parent: { traceId: parent.traceId, spanId: parent.spanId, flags: parent.flags } }),
      ...(Number.isFinite(startTime) ? { startTime } : {}),
      attributes: {
        'skillplane.run.id': run.id,
        'skillplane.run.strategy': run.strategy,
        'skillplane.run.agent': run.agent,
      },
    });
  }
}
