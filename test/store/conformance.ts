/**
 * The ONE conformance suite every {@link RunStore} driver must pass. Each test gets a fresh store
 * from the driver's factory, on a {@link FakeClock}: leases, expiries and retention are tested by
 * advancing the clock, never by sleeping.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../src/testing/index.js';
import { approvalTests } from './conformance/approvals.js';
import { auditTests } from './conformance/audit.js';
import { expectCode, type StoreHarness, type Suite } from './conformance/helpers.js';
import { leaseTests } from './conformance/leases.js';
import { runTests } from './conformance/runs.js';
import { stepTests } from './conformance/steps.js';

export { expectCode } from './conformance/helpers.js';
export type { StoreHarness } from './conformance/helpers.js';

/**
 * A driver failure the harness can provoke: `provoke` returns the `call` that must fail with
 * `code`, the raw driver error kept as its `cause` with `causeCode`.
 */
export interface FaultCase {
  name: string;
  code: string;
  causeCode: string;
  provoke(suite: Suite): Promise<{ call: Promise<unknown> }>;
}

/** Registers the conformance tests for one driver. */
export function runStoreConformance(
  name: string,
  factory: (clock: FakeClock) => Promise<StoreHarness>,
  extras: { faults?: FaultCase[] } = {},
): void {
  describe(`RunStore conformance: ${name}`, () => {
    const t = {} as Suite;
    beforeEach(async () => {
      t.clock = new FakeClock();
      t.h = await factory(t.clock);
      t.s = t.h.store;
    });
    afterEach(async () => {
      await t.h.dispose();
    });

    runTests(t);
    stepTests(t);
    approvalTests(t);
    auditTests(t);
    leaseTests(t);

    it('reports health, and store_closed once closed', async () => {
      expect(await t.s.health()).toEqual({ ok: true });
      expect(t.s.clock).toBe(t.clock);
      await t.s.close();
      await t.s.close();
      expect(await t.s.health()).toMatchObject({ ok: false });
      await expectCode(t.s.getRun('run_x'), 'store_closed');
      await expectCode(t.s.appendAudit({ principal: null, action: 'x' }), 'store_closed');
    });

    for (const f of extras.faults ?? []) {
      it(`maps ${f.name} to ${f.code}, keeping the driver error as cause`, async () => {
        const { call } = await f.provoke(t);
        const err = (await call.then(
          () => undefined,
          (e: unknown) => e,
        )) as (Error & { code: string; cause?: unknown }) | undefined;
        expect(err, 'the provoked call should fail').toBeDefined();
        expect(err?.code).toBe(f.code);
        expect(err?.cause).toMatchObject({ code: f.causeCode });
      });
    }
  });
}
