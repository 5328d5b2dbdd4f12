/** W3C trace context helpers shared by the API, the runtime, model requests and skills. */
export {
  parseTraceparent,
  formatTraceparent,
  normaliseTracestate,
  childContext,
  newTraceId,
  newSpanId,
} from './trace-context.js';
export type { TraceContext } from './trace-context.js';
