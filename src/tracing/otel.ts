import {
  context as otelContext,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  type Attributes,
  type Context,
  type Span,
  type Tracer,
} from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  RandomIdGenerator,
  type IdGenerator,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { TraceContext } from './trace-context.js';

export { SpanKind } from '@opentelemetry/api';
export type { Attributes, Span } from '@opentelemetry/api';

/** The `tracing` section of the configuration. */
export interface TracingConfig {
  otlp_endpoint: string | null;
}

/** Where a span sits: the trace and the span it is a child of (a remote or local parent). */
export interface SpanParent {
  traceId: string;
  spanId: string;
  flags?: string;
}

/** How a span is started. */
export interface StartSpanOptions {
  /** Its parent; without one the span starts a new trace. */
  parent?: SpanParent;
  /**
   * Its id: the one the journal and the outgoing `traceparent` already use, so a downstream
   * server's spans hang under this one. Default: a random id.
   */
  spanId?: string;
  kind?: SpanKind;
  attributes?: Attributes;
  /** Epoch milliseconds (a span reported after the fact). */
  startTime?: number;
  /** The trace id of a span without a parent (a run's own trace). Default: a random id. */
  traceId?: string;
}

/**
 * This process's tracing: spans exported with OTLP/HTTP when `tracing.otlp_endpoint` is set (or to
 * an injected processor in tests), else nothing at all (`enabled: false`; callers skip span work).
 * Export failures are logged once and never reach a run.
 */
export interface Tracing {
  readonly enabled: boolean;
  /** The OpenTelemetry tracer (a no-op one when disabled). */
  readonly tracer: Tracer;
  /** Starts a span; a no-op span when disabled. */
  startSpan(name: string, options?: StartSpanOptions): Span;
  /** Exports every ended span now. */
  forceFlush(): Promise<void>;
  /** Flushes and stops exporting (idempotent). */
  shutdown(): Promise<void>;
}

/** Options of {@link createTracing}. */
export interface CreateTracingOptions {
  serviceName?: string;
  /** Recorded as `service.instance.id`. */
  nodeId?: string;
  /** Span processors used instead of the OTLP exporter (tests: `SimpleSpanProcessor(InMemorySpanExporter)`). */
  spanProcessors?: SpanProcessor[];
  /** Told once of the first export failure (later ones are counted, not repeated). */
  onExportError?: (err: Error) => void;
  /** Export batch delay (default 1 s). */
  scheduledDelayMs?: number;
  /** The longest a flush or shutdown waits for the collector (default 5 s); then spans are dropped. */
  flushTimeoutMs?: number;
}

/**
 * Ids from OpenTelemetry's random generator, except the next span id when one is forced: the
 * journal makes a step's span id before the step runs, and the span gets that same id.
 * `Tracer.startSpan` draws the span id synchronously, once, before anything else.
 */
class ForcedIdGenerator implements IdGenerator {
  private readonly random = new RandomIdGenerator();
  next: string | undefined;
  nextTrace: string | undefined;

  generateTraceId(): string {
    const forced = this.nextTrace;
    this.nextTrace = undefined;
    return forced ?? this.random.generateTraceId();
  }

  generateSpanId(): string {
    const forced = this.next;
    this.next = undefined;
    return forced ?? this.random.generateSpanId();
  }
}

const NOOP_TRACER = trace.getTracer('skillplane-noop');
const NOOP_SPAN = trace.wrapSpanContext({ traceId: '0'.repeat(32), spanId: '0'.repeat(16), traceFlags: 0 });

/** The tracing of a process without an exporter: no provider, no exporter, no span objects. */
export const noopTracing: Tracing = Object.freeze({
  enabled: false,
  tracer: NOOP_TRACER,
  startSpan: () => NOOP_SPAN,
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
});

/** The OTLP/HTTP traces URL for an endpoint: `/v1/traces` is appended to a base URL. */
export function otlpTracesUrl(endpoint: string): string {
  const trimmed = endpoint.replace(/\/+$/, '');
  return trimmed.endsWith('/v1/traces') ? trimmed : `${trimmed}/v1/traces`;
}

/** A context whose active span is `parent` (a remote span context: it was made elsewhere). */
export function parentContext(parent: SpanParent | TraceContext): Context {
  return trace.setSpanContext(otelContext.active(), {
    traceId: parent.traceId,
    spanId: parent.spanId,
    traceFlags: parent.flags === '00' ? TraceFlags.NONE : TraceFlags.SAMPLED,
    isRemote: true,
  });
}

/** Records a failure on a span (`error.type` = the error's code) without ending it. */
export function recordSpanError(span: Span, code: string, message?: string): void {
  span.setAttribute('error.type', code);
  span.setStatus({ code: SpanStatusCode.ERROR, ...(message === undefined ? {} : { message }) });
}

/** Waits for `p` at most `ms` (a collector that is down never holds up a shutdown); never rejects. */
function bounded(p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
    timer.unref();
  });
  return Promise.race([p.catch(() => undefined), timeout]).finally(() => clearTimeout(timer));
}

/** Wraps an exporter so its failures are reported once and otherwise swallowed. */
function guarded(exporter: SpanExporter, onError: (err: Error) => void): SpanExporter {
  let told = false;
  return {
    export(spans, done) {
      try {
        exporter.export(spans, (result) => {
          if (result.error !== undefined && !told) {
            told = true;
            onError(result.error);
          }
          done(result);
        });
      } catch (err) {
        if (!told) {
          told = true;
          onError(err as Error);
        }
        done({ code: 1, error: err as Error });
      }
    },
    shutdown: () => exporter.shutdown().catch(() => undefined),
    forceFlush: () => exporter.forceFlush?.().catch(() => undefined) ?? Promise.resolve(),
  };
}

/**
 * The tracing of a process: a `BasicTracerProvider` with a `BatchSpanProcessor` over an
 * `OTLPTraceExporter` when `config.otlp_endpoint` is set (or the given processors), else
 * {@link noopTracing}. The provider is not registered globally: each app owns its own.
 */
export function createTracing(config: TracingConfig, options: CreateTracingOptions = {}): Tracing {
  const processors = options.spanProcessors;
  if (processors === undefined && config.otlp_endpoint === null) return noopTracing;
  const onError =
    options.onExportError ??
    ((err: Error) => process.emitWarning(`span export failed: ${err.message}`, 'SkillplaneTracing'));
  const ids = new ForcedIdGenerator();
  const flushMs = options.flushTimeoutMs ?? 5000;
  const provider = new BasicTracerProvider({
    idGenerator: ids,
    resource: resourceFromAttributes({
      'service.name': options.serviceName ?? 'skillplane',
      ...(options.nodeId === undefined ? {} : { 'service.instance.id': options.nodeId }),
    }),
    spanProcessors: processors ?? [
      new BatchSpanProcessor(
        guarded(
          new OTLPTraceExporter({ url: otlpTracesUrl(config.otlp_endpoint!), timeoutMillis: flushMs }),
          onError,
        ),
        { scheduledDelayMillis: options.scheduledDelayMs ?? 1000 },
      ),
    ],
  });
  const tracer = provider.getTracer('skillplane');
  let stopped: Promise<void> | undefined;
  return {
    enabled: true,
    tracer,
    startSpan(name, o = {}) {
      const ctx = o.parent === undefined ? otelContext.active() : parentContext(o.parent);
      ids.next = o.spanId;
      ids.nextTrace = o.parent === undefined ? o.traceId : undefined;
      try {
        return tracer.startSpan(
          name,
          {
            kind: o.kind ?? SpanKind.INTERNAL,
            ...(o.attributes === undefined ? {} : { attributes: o.attributes }),
            ...(o.startTime === undefined ? {} : { startTime: o.startTime }),
            ...(o.parent === undefined ? { root: true } : {}),
          },
          ctx,
        );
      } finally {
        ids.next = undefined;
        ids.nextTrace = undefined;
      }
    },
    forceFlush: () => bounded(provider.forceFlush(), flushMs),
    shutdown: () => (stopped ??= bounded(provider.shutdown(), flushMs)),
  };
}
