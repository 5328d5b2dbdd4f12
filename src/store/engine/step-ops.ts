/**
 * Step and event operations: begin/finish a step (replay by key, retries), append and list events.
 */
import { NotFoundError } from '../../errors/index.js';
import { clampLimit, encodeJson } from '../common.js';
import type {
  EventInput,
  ListEventsQuery,
  StepResult,
  StepRunPatch,
  StepWriteOptions,
} from '../run-store.js';
import { isTerminal, type NewStep, type RunEvent, type Step } from '../types.js';
import { nothing, plan, readOp, writeOp, type Change, type StoreOp } from './port.js';
import {
  applyStepRunPatch,
  buildStep,
  checkNotTerminal,
  checkOwner,
  checkStepRunning,
  eventChange,
  iso,
  mustExist,
  retryStep,
} from './records.js';
import { stepRow, type RunHead } from './rows.js';

/**
 * The fence of step writes: a live run owned by another node than `opts.owner` refuses them
 * (`not_owner`). A finished run keeps its old rules (a late result is still recorded; no new
 * step starts: `already_terminal`).
 */
function checkStepOwner(run: RunHead, opts: StepWriteOptions | undefined): void {
  if (!isTerminal(run.status)) checkOwner(run, opts?.owner);
}

/**
 * Starts a step and appends its event. A completed step with the same key is returned unchanged;
 * another one with that key restarts under the same seq with `attempt + 1`.
 */
export function beginStep(step: NewStep, event: EventInput, opts?: StepWriteOptions): StoreOp<Step> {
  const runId = step.run_id;
  return writeOp(runId, (now) =>
    plan(
      { cur: { kind: 'head', id: runId, lock: true }, prev: { kind: 'stepByKey', runId, key: step.key } },
      ({ cur, prev }) => {
        const run = mustExist(cur, runId);
        checkStepOwner(run, opts);
        if (prev?.status === 'completed') return nothing(prev);
        checkNotTerminal(run);
        const at = iso(now);
        const eventSeq = run.last_event_seq + 1;
        const appended = eventChange(runId, eventSeq, event, at).change;
        if (prev) {
          const s = retryStep(prev, step, at);
          const set = {
            input: encodeJson(s.input),
            span_id: s.span_id,
            agent: s.agent,
            status: s.status,
            attempt: s.attempt,
            output: encodeJson(null),
            error: encodeJson(null),
            started_at: at,
            finished_at: null,
          };
          const changes: Change[] = [
            { kind: 'updateStep', runId, seq: s.seq, set },
            { kind: 'updateRun', id: runId, set: { last_event_seq: eventSeq } },
            appended,
          ];
          return { value: s, changes };
        }
        const s = buildStep(step, run.last_step_seq + 1, at);
        const changes: Change[] = [
          { kind: 'insertStep', row: stepRow(s) },
          { kind: 'updateRun', id: runId, set: { last_step_seq: s.seq, last_event_seq: eventSeq } },
          appended,
        ];
        return { value: s, changes };
      },
    ),
  );
}

/**
 * Records a running step's outcome, the run's usage and checkpoint (unless the run is terminal)
 * and an event, together.
 */
export function finishStep(
  runId: string,
  seq: number,
  result: StepResult,
  runPatch: StepRunPatch | undefined,
  event: EventInput,
  opts?: StepWriteOptions,
): StoreOp<Step> {
  return writeOp(runId, (now) =>
    plan(
      { cur: { kind: 'head', id: runId, lock: true }, prev: { kind: 'stepBySeq', runId, seq } },
      ({ cur, prev }) => {
        const run = mustExist(cur, runId);
        checkStepOwner(run, opts);
        if (!prev) throw new NotFoundError('step', `${runId}#${seq}`);
        checkStepRunning(prev);
        const at = iso(now);
        const s: Step = {
          ...prev,
          status: result.status,
          output: result.output ?? null,
          error: result.error ?? null,
          finished_at: at,
        };
        const stepSet = {
          status: s.status,
          output: encodeJson(s.output),
          error: encodeJson(s.error),
          finished_at: at,
        };
        const eventSeq = run.last_event_seq + 1;
        const applied = applyStepRunPatch(run, runPatch);
        const runSet = applied
          ? {
              usage: encodeJson(applied.usage),
              checkpoint: applied.checkpoint,
              updated_at: at,
              last_event_seq: eventSeq,
            }
          : { last_event_seq: eventSeq };
        const changes: Change[] = [
          { kind: 'updateStep', runId, seq, set: stepSet },
          { kind: 'updateRun', id: runId, set: runSet },
          eventChange(runId, eventSeq, event, at).change,
        ];
        return { value: s, changes };
      },
    ),
  );
}

/** Steps of a run ordered by seq. */
export function getSteps(runId: string): StoreOp<Step[]> {
  return readOp(() => plan({ steps: { kind: 'steps', runId } }, ({ steps }) => nothing(steps)));
}

/** The step with this replay key, or `undefined`. */
export function getStepByKey(runId: string, key: string): StoreOp<Step | undefined> {
  return readOp(() => plan({ step: { kind: 'stepByKey', runId, key } }, ({ step }) => nothing(step)));
}

/** Appends an event with the run's next seq. */
export function appendEvent(runId: string, event: EventInput): StoreOp<RunEvent> {
  return writeOp(runId, (now) =>
    plan({ cur: { kind: 'head', id: runId, lock: true } }, ({ cur }) => {
      const seq = mustExist(cur, runId).last_event_seq + 1;
      const appended = eventChange(runId, seq, event, iso(now));
      const changes: Change[] = [
        { kind: 'updateRun', id: runId, set: { last_event_seq: seq } },
        appended.change,
      ];
      return { value: appended.event, changes };
    }),
  );
}

/** Events of a run in seq order, after `afterSeq`. */
export function listEvents(runId: string, q: ListEventsQuery): StoreOp<RunEvent[]> {
  return readOp(() =>
    plan(
      {
        events: {
          kind: 'events',
          runId,
          afterSeq: q.afterSeq ?? 0,
          limit: clampLimit(q.limit, 1000, 10_000),
        },
      },
      ({ events }) => nothing(events),
    ),
  );
}
