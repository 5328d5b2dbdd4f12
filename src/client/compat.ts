// A server with `api.compat: opta-lmx` (or a run created with an Opta-LMX body) answers runs in
// Opta-LMX's shapes: `error` as text and `result` as Opta reads it, ours kept in `error_detail` and
// `result_detail`. The client hands its callers our shapes whatever the server's setting.
import type { ApiRun, ApiStep } from './types.js';

type Detailed = { error?: unknown; error_detail?: unknown; result?: unknown; result_detail?: unknown };

function restore<T>(record: T): T {
  const r = record as T & Detailed;
  if (!('error_detail' in r) && !('result_detail' in r)) return record;
  const { error_detail, result_detail, ...rest } = r;
  return {
    ...rest,
    ...('error_detail' in r ? { error: error_detail } : {}),
    ...('result_detail' in r ? { result: result_detail } : {}),
  } as T;
}

/** A run (and its steps) in our shapes: Opta-LMX's `error`/`result` replaced by our details. */
export function ourRun(run: ApiRun): ApiRun {
  const out = restore(run);
  return out.steps === undefined ? out : { ...out, steps: out.steps.map((s: ApiStep) => restore(s)) };
}
