/** Inputs and events shared by the conformance sections. */
import { expect } from 'vitest';
import {
  newId,
  newRunId,
  type CreateRunResult,
  type EventInput,
  type IdempotencyOptions,
  type NewApproval,
  type NewRun,
  type NewStep,
  type RunStore,
  type StepKind,
} from '../../../src/store/index.js';
import type { FakeClock } from '../../../src/testing/index.js';

/** What a driver's test file hands the suite. */
export interface StoreHarness {
  store: RunStore;
  /** A second, independent store on the same data (another connection/pool), on the same clock. */
  openPeer(): Promise<RunStore>;
  /** Overwrites a stored run's schema_version (back door for the version guard). */
  forceSchemaVersion(runId: string, version: number): Promise<void>;
  /** Closes everything the harness opened. */
  dispose(): Promise<void>;
}

/** The state of the running test: a fresh store per test, on a fake clock. */
export interface Suite {
  h: StoreHarness;
  s: RunStore;
  clock: FakeClock;
}

/** Asserts that `p` rejects with a SkillplaneError of `code`; returns the error. */
export async function expectCode(p: Promise<unknown>, code: string): Promise<Error & { code: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as Error & { code: string },
  );
  expect(err, `expected a rejection with code ${code}`).toBeDefined();
  expect(err).toMatchObject({ code });
  return err as Error & { code: string };
}

/** A new run's input with a fresh id. */
export const newRun = (over: Partial<NewRun> = {}): NewRun => ({
  id: newRunId(),
  agent: 'a1',
  strategy: 'single',
  input: { q: 1 },
  ...over,
});

/** Events of the vocabulary, as the lifecycle writes them. */
export const ev = {
  created: (agent = 'a1'): EventInput => ({
    type: 'run.created',
    data: { agent, strategy: 'single', priority: 'normal' },
  }),
  started: (node = 'n1'): EventInput => ({ type: 'run.started', data: { node } }),
  completed: (): EventInput => ({ type: 'run.completed', data: {} }),
  failed: (): EventInput => ({ type: 'run.failed', data: { error: { code: 'boom', message: 'x' } } }),
  cancelled: (): EventInput => ({ type: 'run.cancelled', data: {} }),
  stepStarted: (key: string, kind: StepKind = 'model'): EventInput => ({
    type: 'step.started',
    data: { key, kind, name: 'm', branch: 'main' },
  }),
  stepCompleted: (key: string, seq: number): EventInput => ({
    type: 'step.completed',
    data: {
      key,
      kind: 'model',
      name: 'm',
      branch: 'main',
      seq,
      usage: { steps: 1, input_tokens: 0, output_tokens: 0, cost_usd: 0 },
    },
  }),
  stepFailed: (key: string, seq: number): EventInput => ({
    type: 'step.failed',
    data: {
      key,
      kind: 'skill',
      name: 'm',
      branch: 'main',
      seq,
      attempt: 1,
      error: { code: 'e', message: 'm' },
    },
  }),
  requested: (approvalId: string, stepKey = 'skill:1'): EventInput => ({
    type: 'approval.requested',
    data: { approval_id: approvalId, step_key: stepKey, skill_id: 'acme/rm', risk_tags: [] },
  }),
  decided: (approvalId: string, status: 'approved' | 'denied' = 'approved'): EventInput => ({
    type: 'approval.decided',
    data: { approval_id: approvalId, status, decided_by: 'alice' },
  }),
};

/** Creates a run with its `run.created` event. */
export function create(
  s: RunStore,
  over: Partial<NewRun> = {},
  idempotency?: IdempotencyOptions,
): Promise<CreateRunResult> {
  return s.createRun(newRun(over), {
    event: ev.created(over.agent),
    ...(idempotency ? { idempotency } : {}),
  });
}

/** A step input of run `runId`. */
export const newStep = (runId: string, key: string, over: Partial<NewStep> = {}): NewStep => ({
  run_id: runId,
  key,
  kind: 'model',
  name: 'm',
  input: null,
  ...over,
});

/** An approval input with a fresh id. */
export const newApproval = (runId: string, over: Partial<NewApproval> = {}): NewApproval => ({
  id: newId('apr_'),
  run_id: runId,
  step_key: 'skill:1',
  skill_id: 'acme/rm',
  args: {},
  risk_tags: [],
  ...over,
});

/** Asks for an approval with its `approval.requested` event. */
export function ask(s: RunStore, runId: string, over: Partial<NewApproval> = {}) {
  const a = newApproval(runId, over);
  return s.createApproval(a, ev.requested(a.id, a.step_key));
}
