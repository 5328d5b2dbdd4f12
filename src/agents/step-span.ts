// The span of one attempt of a step: started under its parent with the journal's span id, ended
// with the step's usage and attributes, or with its error.
import type { SkillplaneError } from '../errors/index.js';
import { recordSpanError, SpanKind, type Span, type SpanParent, type Tracing } from '../tracing/index.js';
import type { StepOutcome, StepSpec } from './execution-types.js';

/** Starts the span of one attempt of step `spec` of run `runId`. */
export function startStepSpan(
  tracing: Tracing,
  parent: SpanParent,
  runId: string,
  spec: StepSpec,
  spanId: string,
): Span {
  return tracing.startSpan(spec.span?.name ?? `${spec.kind} ${spec.name}`, {
    parent,
    spanId,
    kind: spec.span?.kind ?? SpanKind.INTERNAL,
    attributes: {
      ...spec.span?.attributes,
      'skillplane.run.id': runId,
      'skillplane.step.key': spec.key,
      'skillplane.step.kind': spec.kind,
      'skillplane.step.branch': spec.branch,
    },
  });
}

/** Ends the span of a completed attempt. */
export function endStepSpan(
  span: Span,
  begun: { seq: number; attempt: number },
  outcome: Pick<StepOutcome<unknown>, 'usage' | 'attributes'>,
): void {
  span.setAttribute('skillplane.step.seq', begun.seq);
  span.setAttribute('skillplane.step.attempt', begun.attempt);
  if (outcome.usage !== undefined)
    span.setAttributes({
      'gen_ai.usage.input_tokens': outcome.usage.input_tokens,
      'gen_ai.usage.output_tokens': outcome.usage.output_tokens,
    });
  if (outcome.attributes !== undefined) span.setAttributes(outcome.attributes);
  span.end();
}

/** Ends the span of a failed (or cancelled) attempt. */
export function failStepSpan(span: Span, attempt: number, err: SkillplaneError): void {
  span.setAttribute('skillplane.step.attempt', attempt);
  recordSpanError(span, err.code, err.message);
  span.end();
}
