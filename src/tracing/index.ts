/**
 * Tracing: W3C trace context (parsing and formatting `traceparent` / `tracestate`) and
 * OpenTelemetry spans for runs, agent loops, model requests and skill calls, exported with
 * OTLP/HTTP when `tracing.otlp_endpoint` is set.
 */
export {
  parseTraceparent,
  formatTraceparent,
  normaliseTracestate,
  childContext,
  newTraceId,
  newSpanId,
} from './trace-context.js';
export type { TraceContext } from './trace-context.js';
export {
  createTracing,
  noopTracing,
  otlpTracesUrl,
  parentContext,
  recordSpanError,
  SpanKind,
} from './otel.js';
export type {
  Attributes,
  CreateTracingOptions,
  Span,
  SpanParent,
  StartSpanOptions,
  Tracing,
  TracingConfig,
} from './otel.js';
export { RunSpans } from './run-spans.js';
export type { TracedRun } from './run-spans.js';
export { reportedSpanTiming } from './reported.js';
