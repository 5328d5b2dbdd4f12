/**
 * The ONE conformance suite every {@link RunStore} driver must pass. Each test gets a fresh store
 * from the driver's factory.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { NewRun, RunStore } from '../../src/store/index.js';

/** What a driver's test file hands the suite. */
export interface StoreHarness {
  store: RunStore;
  /** A second, independent store on the same data (another connection/pool). */
  openPeer(): Promise<RunStore>;
  /** Overwrites a stored run's schema_version (back door for the version guard). */
  forceSchemaVersion(runId: string, version: number): Promise<void>;
  /** Closes everything the harness opened. */
  dispose(): Promise<void>;
}

/** Asserts that `p` rejects with a SkillplaneError of `code`. */
export async function expectCode(p: Promise<unknown>, code: string): Promise<void> {
  await expect(p).rejects.toMatchObject({ code });
}

const newRun = (over: Partial<NewRun> = {}): NewRun => ({
  agent: 'a1',
  strategy: 'single',
  input: { q: 1 },
  ...over,
});

/** Registers the conformance tests for one driver. */
export function runStoreConformance(name: string, factory: () => Promise<StoreHarness>): void {
  describe(`RunStore conformance: ${name}`, () => {
    let h: StoreHarness;
    let s: RunStore;
    beforeEach(async () => {
      h = await factory();
      s = h.store;
    });
    afterEach(async () => {
      await h.dispose();
    });

    it('creates a run with defaults and a first event', async () => {
      const { run, created } = await s.createRun(newRun({ priority: 'interactive', metadata: { k: 'v' } }));
      expect(created).toBe(true);
      expect(run.id).toMatch(/^run_[0-9a-f]{28}$/);
      expect(run).toMatchObject({
        status: 'queued',
        priority: 'interactive',
        checkpoint: 0,
        schema_version: 1,
      });
      expect(run.usage).toEqual({ steps: 0, input_tokens: 0, output_tokens: 0, cost_usd: 0 });
      expect(run.trace_id).toMatch(/^[0-9a-f]{32}$/);
      expect(new Date(run.created_at).toISOString()).toBe(run.created_at);
      expect(await s.getRun(run.id)).toEqual(run);
      expect(await s.getRun('run_missing')).toBeUndefined();
      const events = await s.listEvents(run.id);
      expect(events.map((e) => [e.seq, e.type])).toEqual([[1, 'run.created']]);
      const second = await s.createRun(newRun(), { event: { type: 'custom.created', data: { x: 1 } } });
      expect(second.run.id > run.id).toBe(true);
      expect((await s.listEvents(second.run.id))[0]).toMatchObject({
        type: 'custom.created',
        data: { x: 1 },
      });
    });

    it('idempotency: same fingerprint returns the run, another conflicts, expiry forgets', async () => {
      const idem = { key: 'k1', fingerprint: 'f1', ttlSec: 0.3 };
      const a = await s.createRun(newRun(), { idempotency: idem });
      const b = await s.createRun(newRun(), { idempotency: idem });
      expect(b.created).toBe(false);
      expect(b.run.id).toBe(a.run.id);
      expect(a.run.idempotency_key).toBe('k1');
      await expectCode(
        s.createRun(newRun(), { idempotency: { ...idem, fingerprint: 'f2' } }),
        'idempotency_conflict',
      );
      await sleep(350);
      const c = await s.createRun(newRun(), { idempotency: { ...idem, fingerprint: 'f2' } });
      expect(c.created).toBe(true);
      expect(c.run.id).not.toBe(a.run.id);
      const many = await Promise.all(
        Array.from({ length: 10 }, () =>
          s.createRun(newRun(), { idempotency: { key: 'k2', fingerprint: 'f', ttlSec: 60 } }),
        ),
      );
      expect(many.filter((r) => r.created)).toHaveLength(1);
      expect(new Set(many.map((r) => r.run.id)).size).toBe(1);
    });

    it('transitions: timestamps, from guard, terminal immutability, metadata merge', async () => {
      const { run } = await s.createRun(newRun({ metadata: { a: 1 } }));
      await expectCode(
        s.transitionRun(run.id, { status: 'completed' }, undefined, { from: ['running'] }),
        'invalid_transition',
      );
      const running = await s.transitionRun(
        run.id,
        { status: 'running', owner: 'n1', metadata: { b: 2 } },
        { type: 'run.started', data: {} },
        { from: ['queued'] },
      );
      expect(running.started_at).not.toBeNull();
      expect(running.metadata).toEqual({ a: 1, b: 2 });
      await expectCode(s.transitionRun(run.id, { checkpoint: 3 }, undefined, { owner: 'n2' }), 'not_owner');
      const done = await s.transitionRun(
        run.id,
        { status: 'completed', result: { answer: 42 } },
        { type: 'run.completed', data: {} },
      );
      expect(done).toMatchObject({
        status: 'completed',
        result: { answer: 42 },
        owner: null,
        lease_expires_at: null,
      });
      expect(done.finished_at).not.toBeNull();
      await expectCode(s.transitionRun(run.id, { status: 'running' }), 'already_terminal');
      await expectCode(s.transitionRun(run.id, { metadata: { c: 3 } }), 'already_terminal');
      expect(await s.getRun(run.id)).toEqual(done);
      expect((await s.listEvents(run.id)).map((e) => e.type)).toEqual([
        'run.created',
        'run.started',
        'run.completed',
      ]);
      await expectCode(s.transitionRun('run_missing', { status: 'running' }), 'not_found');
    });

    it('steps: begin/finish durability, replay by key, retry attempts', async () => {
      const { run } = await s.createRun(newRun({ status: 'running' }));
      const s1 = await s.beginStep(
        { run_id: run.id, key: 'model:0', kind: 'model', name: 'gpt', input: { m: 1 } },
        { type: 'step.started', data: { seq: 1 } },
      );
      expect(s1).toMatchObject({ seq: 1, status: 'running', attempt: 1, branch: 'main', parent_seq: null });
      const s2 = await s.beginStep({
        run_id: run.id,
        key: 'skill:0',
        kind: 'skill',
        name: 'x/y',
        input: null,
        parent_seq: 1,
        branch: 'b1',
      });
      expect(s2.seq).toBe(2);
      const f1 = await s.finishStep(
        run.id,
        1,
        { status: 'completed', output: { text: 'hi' } },
        { usage: { steps: 1, input_tokens: 5, output_tokens: 7, cost_usd: 0.01 }, checkpoint: 1 },
        { type: 'step.completed', data: { seq: 1 } },
      );
      expect(f1).toMatchObject({ status: 'completed', output: { text: 'hi' } });
      expect(f1.finished_at).not.toBeNull();
      const r1 = await s.getRun(run.id);
      expect(r1?.usage).toEqual({ steps: 1, input_tokens: 5, output_tokens: 7, cost_usd: 0.01 });
      expect(r1?.checkpoint).toBe(1);
      // replay: same key returns the completed step unchanged, no event, no new seq
      const eventsBefore = (await s.listEvents(run.id)).length;
      const replay = await s.beginStep(
        { run_id: run.id, key: 'model:0', kind: 'model', name: 'gpt', input: { m: 2 } },
        { type: 'step.started', data: {} },
      );
      expect(replay).toEqual(f1);
      expect((await s.listEvents(run.id)).length).toBe(eventsBefore);
      expect(await s.getStepByKey(run.id, 'model:0')).toEqual(f1);
      expect(await s.getStepByKey(run.id, 'nope')).toBeUndefined();
      await expectCode(s.finishStep(run.id, 1, { status: 'failed' }), 'step_not_running');
      await expectCode(s.finishStep(run.id, 99, { status: 'failed' }), 'not_found');
      // failed step is retried under the same seq with attempt + 1
      await s.finishStep(run.id, 2, { status: 'failed', error: { code: 'boom', message: 'x' } });
      const retry = await s.beginStep({
        run_id: run.id,
        key: 'skill:0',
        kind: 'skill',
        name: 'x/y',
        input: { again: true },
      });
      expect(retry).toMatchObject({
        seq: 2,
        attempt: 2,
        status: 'running',
        error: null,
        input: { again: true },
      });
      const s3 = await s.beginStep({ run_id: run.id, key: 'route:0', kind: 'route', name: 'r', input: null });
      expect(s3.seq).toBe(3);
      expect((await s.getSteps(run.id)).map((x) => [x.seq, x.key, x.status])).toEqual([
        [1, 'model:0', 'completed'],
        [2, 'skill:0', 'running'],
        [3, 'route:0', 'running'],
      ]);
      // a failed finish changes nothing (same transaction)
      await expectCode(
        s.finishStep(run.id, 1, { status: 'completed' }, { checkpoint: 9 }),
        'step_not_running',
      );
      expect((await s.getRun(run.id))?.checkpoint).toBe(1);
      // terminal run: no new steps, but completed ones still replay and running ones may finish
      await s.transitionRun(run.id, { status: 'cancelled' });
      await expectCode(
        s.beginStep({ run_id: run.id, key: 'new', kind: 'model', name: 'm', input: null }),
        'already_terminal',
      );
      expect(
        (await s.beginStep({ run_id: run.id, key: 'model:0', kind: 'model', name: 'gpt', input: null }))
          .status,
      ).toBe('completed');
      const late = await s.finishStep(run.id, 3, { status: 'cancelled' }, { checkpoint: 3 });
      expect(late.status).toBe('cancelled');
      expect((await s.getRun(run.id))?.checkpoint).toBe(1);
      await expectCode(
        s.beginStep({ run_id: 'run_missing', key: 'k', kind: 'model', name: 'm', input: null }),
        'not_found',
      );
    });

    it('usage_delta and checkpoint are exact under concurrent step finishes', async () => {
      const { run } = await s.createRun(newRun({ status: 'running' }));
      const steps = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          s.beginStep({ run_id: run.id, key: `map:${i}`, kind: 'map', name: 'm', input: i, branch: `b${i}` }),
        ),
      );
      expect(new Set(steps.map((x) => x.seq)).size).toBe(20);
      await Promise.all(
        steps.map((st) =>
          s.finishStep(
            run.id,
            st.seq,
            { status: 'completed', output: st.seq },
            { usage_delta: { steps: 1, input_tokens: 10, cost_usd: 0.5 }, checkpoint: st.seq },
            { type: 'step.completed', data: { seq: st.seq } },
          ),
        ),
      );
      const r = await s.getRun(run.id);
      expect(r?.usage).toEqual({ steps: 20, input_tokens: 200, output_tokens: 0, cost_usd: 10 });
      expect(r?.checkpoint).toBe(20);
    });

    it('event seq is monotonic and gap-free under 50 concurrent appends', async () => {
      const { run } = await s.createRun(newRun());
      const got = await Promise.all(
        Array.from({ length: 50 }, (_, i) => s.appendEvent(run.id, 'tick', { i })),
      );
      expect(got.map((e) => e.seq).sort((a, b) => a - b)).toEqual(
        Array.from({ length: 50 }, (_, i) => i + 2),
      );
      const all = await s.listEvents(run.id);
      expect(all.map((e) => e.seq)).toEqual(Array.from({ length: 51 }, (_, i) => i + 1));
      expect((await s.listEvents(run.id, { afterSeq: 48, limit: 2 })).map((e) => e.seq)).toEqual([49, 50]);
      expect(await s.listEvents(run.id, { afterSeq: 51 })).toEqual([]);
      await expectCode(s.appendEvent('run_missing', 'x', null), 'not_found');
    });

    it('listRuns: filters and cursor pagination stable under concurrent inserts', async () => {
      const ids: string[] = [];
      for (let i = 0; i < 25; i++) {
        const { run } = await s.createRun(
          newRun({ agent: i % 2 ? 'odd' : 'even', priority: i % 5 === 0 ? 'batch' : 'normal' }),
        );
        ids.push(run.id);
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await s.listRuns({ limit: 10, ...(cursor ? { cursor } : {}) });
        seen.push(...page.runs.map((r) => r.id));
        cursor = page.next_cursor ?? undefined;
        pages++;
        await s.createRun(newRun({ agent: 'late' })); // inserted between pages, newer than every cursor
      } while (cursor);
      expect(pages).toBe(3);
      expect(seen).toEqual([...ids].reverse());
      const odd = await s.listRuns({ agent: 'odd' });
      expect(odd.runs).toHaveLength(12);
      expect(odd.next_cursor).toBeNull();
      expect((await s.listRuns({ priority: 'batch' })).runs).toHaveLength(5);
      await s.transitionRun(ids[3] as string, { status: 'running' });
      await s.transitionRun(ids[4] as string, { status: 'failed' });
      expect((await s.listRuns({ status: 'running' })).runs.map((r) => r.id)).toEqual([ids[3]]);
      expect(
        (await s.listRuns({ status: ['running', 'failed'], agent: 'even' })).runs.map((r) => r.id),
      ).toEqual([ids[4]]);
      const ref = (await s.getRun(ids[19] as string))?.created_at as string;
      const after = await s.listRuns({ created_after: ref, agent: 'odd', limit: 500 });
      expect(after.runs.every((r) => r.created_at > ref)).toBe(true);
      expect((await s.listRuns({ limit: 100000 })).runs.length).toBeLessThanOrEqual(500);
      await expectCode(s.listRuns({ cursor: 'garbage!' }), 'invalid_cursor');
    });

    it('listRuns and listApprovals filter by principal (approvals through their run)', async () => {
      const alice = [
        (await s.createRun(newRun({ principal: 'alice', status: 'running' }))).run,
        (await s.createRun(newRun({ principal: 'alice' }))).run,
      ];
      const bob = (await s.createRun(newRun({ principal: 'bob', status: 'running' }))).run;
      const nobody = (await s.createRun(newRun())).run;
      const mine = await s.listRuns({ principal: 'alice', limit: 1 });
      expect(mine.runs.map((r) => r.id)).toEqual([alice[1]!.id]);
      const rest = await s.listRuns({ principal: 'alice', cursor: mine.next_cursor! });
      expect(rest.runs.map((r) => r.id)).toEqual([alice[0]!.id]);
      expect(rest.next_cursor).toBeNull();
      expect((await s.listRuns({ principal: 'bob', status: 'running' })).runs.map((r) => r.id)).toEqual([
        bob.id,
      ]);
      expect((await s.listRuns({ principal: 'carol' })).runs).toEqual([]);
      expect((await s.listRuns()).runs.map((r) => r.id)).toContain(nobody.id);
      const ask = (run_id: string, step_key: string) =>
        s.createApproval({ run_id, step_key, skill_id: 'acme/rm', args: {}, risk_tags: [] });
      const forAlice = (await ask(alice[0]!.id, 'skill:1')).approval;
      const forBob = (await ask(bob.id, 'skill:1')).approval;
      expect((await s.listApprovals({ principal: 'alice' })).map((a) => a.id)).toEqual([forAlice.id]);
      expect((await s.listApprovals({ principal: 'bob', status: 'pending' })).map((a) => a.id)).toEqual([
        forBob.id,
      ]);
      expect(await s.listApprovals({ principal: 'alice', run_id: bob.id })).toEqual([]);
      expect(await s.listApprovals({ principal: 'carol' })).toEqual([]);
      expect((await s.listApprovals()).map((a) => a.id)).toEqual([forBob.id, forAlice.id]);
    });

    it('approvals: request, decide with run change, already_decided', async () => {
      const { run } = await s.createRun(newRun({ status: 'running' }));
      const { approval, run: waiting } = await s.createApproval({
        run_id: run.id,
        step_key: 'skill:1',
        step_seq: 1,
        skill_id: 'acme/rm',
        args: { path: '/x' },
        risk_tags: ['destructive'],
      });
      expect(approval).toMatchObject({
        status: 'pending',
        decided_by: null,
        risk_tags: ['destructive'],
        args: { path: '/x' },
      });
      expect(waiting.status).toBe('waiting_approval');
      const evs = await s.listEvents(run.id);
      expect(evs[evs.length - 1]).toMatchObject({
        type: 'approval.requested',
        data: { approval_id: approval.id },
      });
      expect(await s.getApproval(approval.id)).toEqual(approval);
      expect((await s.listApprovals({ status: 'pending' })).map((a) => a.id)).toEqual([approval.id]);
      expect((await s.listApprovals({ run_id: 'run_other' })).length).toBe(0);
      expect(await s.getApprovalForStep(run.id, 'skill:1')).toEqual(approval);
      expect(await s.getApprovalForStep(run.id, 'skill:2')).toBeUndefined();
      const decided = await s.decideApproval(
        approval.id,
        { status: 'approved', decided_by: 'alice', reason: 'ok' },
        {
          patch: { status: 'running' },
          event: { type: 'approval.decided', data: { status: 'approved' } },
          from: ['waiting_approval'],
        },
      );
      expect(decided).toMatchObject({ status: 'approved', decided_by: 'alice', reason: 'ok' });
      expect(decided.decided_at).not.toBeNull();
      expect((await s.getRun(run.id))?.status).toBe('running');
      await expectCode(
        s.decideApproval(approval.id, { status: 'denied', decided_by: 'bob' }),
        'already_decided',
      );
      await expectCode(s.decideApproval('apr_missing', { status: 'denied', decided_by: 'bob' }), 'not_found');
      expect((await s.listApprovals({ status: 'pending' })).length).toBe(0);
      // a failed run change rolls the decision back
      const second = await s.createApproval({
        run_id: run.id,
        step_key: 'skill:2',
        skill_id: 'acme/rm',
        args: {},
        risk_tags: [],
      });
      await expectCode(
        s.decideApproval(
          second.approval.id,
          { status: 'denied', decided_by: 'bob' },
          { patch: { status: 'failed' }, from: ['running'] },
        ),
        'invalid_transition',
      );
      expect((await s.getApproval(second.approval.id))?.status).toBe('pending');
      await s.transitionRun(run.id, { status: 'failed' });
      await expectCode(
        s.createApproval({ run_id: run.id, step_key: 's', skill_id: 'x', args: {}, risk_tags: [] }),
        'already_terminal',
      );
    });

    it('audit: append and list newest first with filters', async () => {
      await s.appendAudit({
        principal: 'alice',
        action: 'run.create',
        target: 'run_1',
        trace_id: 't1',
        data: { a: 1 },
      });
      await s.appendAudit({ principal: 'bob', action: 'approval.decide', target: 'run_1' });
      const e3 = await s.appendAudit({ principal: null, action: 'run.create', target: 'run_2' });
      expect(e3).toMatchObject({ principal: null, target: 'run_2', trace_id: null, data: null });
      expect((await s.listAudit()).map((e) => e.principal)).toEqual([null, 'bob', 'alice']);
      expect((await s.listAudit({ target: 'run_1' })).map((e) => e.action)).toEqual([
        'approval.decide',
        'run.create',
      ]);
      const creates = await s.listAudit({ action: 'run.create', limit: 1 });
      expect(creates).toHaveLength(1);
      expect(creates[0]?.id).toBe(e3.id);
      expect((await s.listAudit({ target: 'run_1', action: 'run.create' }))[0]).toMatchObject({
        data: { a: 1 },
        trace_id: 't1',
      });
    });

    it('claimRuns: two concurrent claimers get disjoint sets', async () => {
      const peer = await h.openPeer();
      const ids = new Set<string>();
      for (let i = 0; i < 40; i++) ids.add((await s.createRun(newRun())).run.id);
      await s.createRun(newRun({ status: 'completed' }));
      const a: string[] = [];
      const b: string[] = [];
      for (let round = 0; round < 5; round++) {
        const [ra, rb] = await Promise.all([
          s.claimRuns('node-a', { statuses: ['queued', 'running'], leaseMs: 60_000, limit: 7 }),
          peer.claimRuns('node-b', { statuses: ['queued', 'running'], leaseMs: 60_000, limit: 7 }),
        ]);
        a.push(...ra.map((r) => r.id));
        b.push(...rb.map((r) => r.id));
        expect(ra.every((r) => r.owner === 'node-a' && r.lease_expires_at !== null)).toBe(true);
      }
      expect(a.filter((id) => b.includes(id))).toEqual([]);
      expect(new Set([...a, ...b])).toEqual(ids);
      expect(a.length + b.length).toBe(40);
      expect(await s.claimRuns('node-c', { statuses: ['queued'], leaseMs: 1000, limit: 10 })).toEqual([]);
    });

    it('lease expiry lets another owner claim; renew and release', async () => {
      const peer = await h.openPeer();
      const { run } = await s.createRun(newRun({ status: 'running' }));
      const first = await s.claimRuns('node-a', { statuses: ['running'], leaseMs: 150, limit: 10 });
      expect(first.map((r) => r.id)).toEqual([run.id]);
      expect(await peer.claimRuns('node-b', { statuses: ['running'], leaseMs: 150, limit: 10 })).toEqual([]);
      expect(await s.renewLeases('node-a', [run.id, 'run_missing'], 150)).toEqual([run.id]);
      await sleep(250);
      const stolen = await peer.claimRuns('node-b', { statuses: ['running'], leaseMs: 60_000, limit: 10 });
      expect(stolen.map((r) => [r.id, r.owner])).toEqual([[run.id, 'node-b']]);
      expect(await s.renewLeases('node-a', [run.id], 1000)).toEqual([]);
      expect(await s.releaseRun(run.id, 'node-a')).toBe(false);
      expect(await peer.releaseRun(run.id, 'node-b')).toBe(true);
      expect(await s.getRun(run.id)).toMatchObject({ owner: null, lease_expires_at: null });
      expect((await s.claimRuns('node-a', { statuses: ['running'], leaseMs: 1000, limit: 1 })).length).toBe(
        1,
      );
    });

    it('a run created with an owner and a live lease is not claimable by another node', async () => {
      const leased = new Date(Date.now() + 60_000).toISOString();
      const { run } = await s.createRun(newRun({ owner: 'node-a', lease_expires_at: leased }));
      expect(run).toMatchObject({ owner: 'node-a', lease_expires_at: leased });
      expect(await s.getRun(run.id)).toMatchObject({ owner: 'node-a', lease_expires_at: leased });
      expect(await s.claimRuns('node-b', { statuses: ['queued'], leaseMs: 1000, limit: 10 })).toEqual([]);
    });

    it('pruneFinished removes old terminal runs with their records', async () => {
      const done: string[] = [];
      for (let i = 0; i < 3; i++) {
        const { run } = await s.createRun(newRun({ status: 'running' }));
        await s.beginStep({ run_id: run.id, key: 'k', kind: 'model', name: 'm', input: null });
        await s.createApproval({ run_id: run.id, step_key: 'k', skill_id: 'x', args: {}, risk_tags: [] });
        await s.transitionRun(run.id, { status: i === 0 ? 'failed' : 'completed' });
        done.push(run.id);
      }
      const keyed = await s.createRun(newRun(), {
        idempotency: { key: 'kp', fingerprint: 'f', ttlSec: 3600 },
      });
      await s.transitionRun(keyed.run.id, { status: 'cancelled' });
      const live = (await s.createRun(newRun({ status: 'running' }))).run;
      expect(await s.pruneFinished(new Date(Date.now() - 60_000))).toBe(0);
      expect(await s.pruneFinished(new Date(Date.now() + 1000))).toBe(4);
      for (const id of done) {
        expect(await s.getRun(id)).toBeUndefined();
        expect(await s.getSteps(id)).toEqual([]);
        expect(await s.listEvents(id)).toEqual([]);
        expect(await s.listApprovals({ run_id: id })).toEqual([]);
      }
      expect(await s.getRun(live.id)).toBeDefined();
      const again = await s.createRun(newRun(), {
        idempotency: { key: 'kp', fingerprint: 'other', ttlSec: 3600 },
      });
      expect(again.created).toBe(true);
    });

    it('refuses runs written with a newer schema_version', async () => {
      const { run } = await s.createRun(newRun());
      const ok = (await s.createRun(newRun())).run;
      await h.forceSchemaVersion(run.id, 99);
      await expectCode(s.getRun(run.id), 'unsupported_schema_version');
      await expectCode(s.transitionRun(run.id, { status: 'running' }), 'unsupported_schema_version');
      const claimed = await s.claimRuns('n', { statuses: ['queued'], leaseMs: 1000, limit: 10 });
      expect(claimed.map((r) => r.id)).toEqual([ok.id]);
    });

    it('reports health', async () => {
      expect(await s.health()).toEqual({ ok: true });
    });
  });
}
