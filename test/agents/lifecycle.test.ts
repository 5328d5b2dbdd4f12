import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { RunLifecycle, type MoveArgs } from '../../src/agents/index.js';
import { SkillplaneError } from '../../src/errors/index.js';
import { newRunId, openRunStore, type RunStore } from '../../src/store/index.js';
import { FakeClock } from '../../src/testing/index.js';
import {
  RUN_MOVES,
  RUN_MOVE_NAMES,
  RUN_STATUSES,
  isTerminal,
  moveAllowed,
  type RunMoveName,
  type RunStatus,
} from '../../src/vocabulary/index.js';

/*
 * The run state machine, derived from its table: for every status and every named move, the move
 * works exactly when the table allows it (status, fields and event written in one go), and is
 * refused otherwise — on every store driver.
 */

const pgUrl = process.env.SKILLPLANE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const pgSchema = `sp_lifecycle_${randomBytes(5).toString('hex')}`;
const dir = mkdtempSync(join(tmpdir(), 'sp-lifecycle-'));

const drivers: Record<string, (clock: FakeClock) => Promise<RunStore>> = {
  memory: (clock) => openRunStore({ driver: 'memory', clock }),
  sqlite: (clock) =>
    openRunStore({ driver: 'sqlite', path: join(dir, `${randomBytes(4).toString('hex')}.db`), clock }),
  postgres: (clock) => openRunStore({ driver: 'postgres', url: pgUrl, schema: pgSchema, clock }),
};

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  const c = new pg.Client({ connectionString: pgUrl });
  await c.connect();
  await c.query(`DROP SCHEMA IF EXISTS "${pgSchema}" CASCADE`);
  await c.end();
});

const NODE = 'node-a';
const usage = { steps: 1, input_tokens: 2, output_tokens: 3, cost_usd: 0 };

function argsOf(move: RunMoveName): MoveArgs[RunMoveName] {
  switch (move) {
    case 'start':
    case 'resume':
      return { node: NODE, leaseMs: 30_000, startedAt: null };
    case 'suspend':
      return { node: NODE, usage, approvalId: 'apr_x' };
    case 'requeue':
      return { node: NODE, leaseMs: 30_000 };
    case 'complete':
      return { node: NODE, result: { output: 'done' }, usage };
    case 'fail':
    case 'cancel':
      return { error: new SkillplaneError('boom', 'it broke'), node: NODE };
  }
}

describe.each(Object.keys(drivers))('the run state machine on %s', (driver) => {
  it('allows exactly the moves of the transition table, from every status', async () => {
    const clock = new FakeClock(Date.parse('2026-01-01T00:00:00.000Z'));
    const store = await drivers[driver]!(clock);
    const notified: [string, RunStatus | undefined][] = [];
    const lifecycle = new RunLifecycle(store, clock, (id, status) => notified.push([id, status]));
    try {
      for (const status of RUN_STATUSES) {
        for (const move of RUN_MOVE_NAMES) {
          const id = newRunId(clock.now());
          await store.createRun(
            {
              id,
              agent: 'a',
              strategy: 'single',
              input: null,
              status,
              owner: isTerminal(status) ? null : NODE,
            },
            { event: { type: 'run.created', data: { agent: 'a', strategy: 'single', priority: 'normal' } } },
          );
          const before = await store.listEvents(id);
          const attempt = lifecycle.move(id, move, argsOf(move) as never);
          const spec = RUN_MOVES[move];
          if (moveAllowed(move, status)) {
            const run = await attempt;
            expect(run.status, `${status} --${move}--> ${spec.to}`).toBe(spec.to);
            const events = await store.listEvents(id);
            expect(
              events.slice(before.length).map((e) => e.type),
              `${status} --${move}`,
            ).toEqual([spec.event]);
            expect(notified.at(-1)).toEqual([id, spec.to]);
            if (isTerminal(spec.to)) {
              expect(run.finished_at).toBe(new Date(clock.now()).toISOString());
              expect([run.owner, run.lease_expires_at]).toEqual([null, null]);
            }
            if (move === 'start' || move === 'resume') {
              expect(run.owner).toBe(NODE);
              expect(run.lease_expires_at).toBe(new Date(clock.now() + 30_000).toISOString());
            }
          } else {
            await expect(attempt, `${status} --${move}-- must be refused`).rejects.toMatchObject({
              code: isTerminal(status) ? 'already_terminal' : 'invalid_transition',
            });
            expect((await store.getRun(id))?.status).toBe(status);
            expect(await store.listEvents(id)).toHaveLength(before.length);
          }
        }
      }
    } finally {
      await store.close();
    }
  });

  it('refuses a node-bound move on a run another node owns (not_owner), and tryMove leaves it be', async () => {
    const clock = new FakeClock(Date.now());
    const store = await drivers[driver]!(clock);
    const lifecycle = new RunLifecycle(store, clock, () => undefined);
    try {
      const id = newRunId(clock.now());
      await store.createRun(
        { id, agent: 'a', strategy: 'single', input: null, status: 'running', owner: 'node-b' },
        { event: { type: 'run.created', data: { agent: 'a', strategy: 'single', priority: 'normal' } } },
      );
      await expect(lifecycle.move(id, 'complete', argsOf('complete') as never)).rejects.toMatchObject({
        code: 'not_owner',
      });
      expect(await lifecycle.tryMove(id, 'complete', argsOf('complete') as never)).toBeUndefined();
      expect((await store.getRun(id))?.status).toBe('running');
    } finally {
      await store.close();
    }
  });
});
