import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  MAX_MESSAGE_BYTES,
  PgRunBus,
  RedisRunBus,
  decodeMessage,
  openRunBus,
  pgChannelFor,
  type RunBus,
  type RunBusDelivery,
} from '../../src/bus/index.js';
import { RunNotifier } from '../../src/agents/index.js';
import { loadConfig } from '../../src/config/index.js';
import { until } from '../../src/testing/index.js';

const pgUrl = process.env.SKILLPLANE_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const redisUrl = process.env.SKILLPLANE_TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const tag = randomBytes(4).toString('hex');

const cleanups: (() => Promise<unknown> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

let admin: pg.Client | undefined;
async function pgAdmin(): Promise<pg.Client> {
  if (admin === undefined) {
    admin = new pg.Client({ connectionString: pgUrl });
    await admin.connect();
  }
  return admin;
}
let redisAdmin: Redis | undefined;
function redis(): Redis {
  redisAdmin ??= new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  return redisAdmin;
}
afterAll(async () => {
  await admin?.end();
  await redisAdmin?.quit();
});

/** A bus with everything it delivered. */
interface Probe {
  bus: RunBus;
  got: RunBusDelivery[];
}

function probe(bus: RunBus): Probe {
  const got: RunBusDelivery[] = [];
  bus.subscribe((d) => got.push(d));
  cleanups.push(() => bus.close());
  return { bus, got };
}

const runs = (p: Probe) => p.got.filter((d) => d.type !== 'resync');

interface Transport {
  name: string;
  /** A started bus of node `node` on the shared channel `space` (a schema or a prefix). */
  open(node: string, space: string): Promise<RunBus>;
  /** Publishes a raw payload on the channel of `space`, as anyone with access could. */
  raw(space: string, payload: string): Promise<void>;
  /** Drops the listening connection of node `node` from the server side. */
  kill(node: string): Promise<void>;
}

const transports: Transport[] = [
  {
    name: 'PostgreSQL LISTEN/NOTIFY',
    async open(node, space) {
      const bus = new PgRunBus({ url: pgUrl, schema: space, node });
      await bus.start();
      return bus;
    },
    async raw(space, payload) {
      await (await pgAdmin()).query('SELECT pg_notify($1, $2)', [pgChannelFor(space), payload]);
    },
    async kill(node) {
      const r = await (
        await pgAdmin()
      ).query('SELECT pg_terminate_backend(pid) AS ok FROM pg_stat_activity WHERE application_name = $1', [
        `skillplane-bus ${node}`,
      ]);
      expect(r.rowCount).toBe(1);
    },
  },
  {
    name: 'Redis pub/sub',
    async open(node, space) {
      const bus = new RedisRunBus({ url: redisUrl, prefix: space, node });
      await bus.start();
      return bus;
    },
    async raw(space, payload) {
      await redis().publish(`${space}:runs`, payload);
    },
    async kill(node) {
      const list = (await redis().call('CLIENT', 'LIST', 'TYPE', 'pubsub')) as string;
      const line = list.split('\n').find((l) => l.includes(`name=skillplane-bus:${node}:sub`));
      const id = /\bid=(\d+)/.exec(line ?? '')?.[1];
      expect(id).toBeDefined();
      await redis().call('CLIENT', 'KILL', 'ID', id!);
    },
  },
];

let n = 0;
const space = () => `sp_bus_${tag}_${n++}`;

describe.each(transports)('$name', (t) => {
  it('delivers messages between two nodes and never to their sender', async () => {
    const s = space();
    const a = probe(await t.open(`a-${s}`, s));
    const b = probe(await t.open(`b-${s}`, s));
    expect(a.bus.health().listening).toBe(true);
    a.bus.publish({ type: 'run', runId: 'run_1', status: 'completed' });
    await until(() => b.got.length === 1, 5_000, 'b to hear a');
    b.bus.publish({ type: 'cancel', runId: 'run_2', principal: 'alice' });
    await until(() => a.got.length === 1, 5_000, 'a to hear b');
    expect(b.got).toEqual([{ type: 'run', node: `a-${s}`, runId: 'run_1', status: 'completed' }]);
    // a's own message came back on the channel before b's, and was dropped.
    expect(a.got).toEqual([{ type: 'cancel', node: `b-${s}`, runId: 'run_2', principal: 'alice' }]);
    expect(a.bus.health()).toMatchObject({ published: 1, received: 1, invalid: 0 });
  });

  it('drops and counts malformed, oversized and unknown messages', async () => {
    const s = space();
    const b = probe(await t.open(`b-${s}`, s));
    const ok = { type: 'run', node: 'x', runId: 'run_ok' };
    for (const payload of [
      'not json',
      JSON.stringify({ type: 'shutdown', node: 'x' }),
      JSON.stringify({ type: 'run', node: 'x', runId: '../../etc' }),
      JSON.stringify({ type: 'run', node: 'x', runId: 'run_1', status: 'exploded' }),
      JSON.stringify({ type: 'cancel', node: 'x', runId: 'run_1' }),
      JSON.stringify({ ...ok, pad: 'p'.repeat(MAX_MESSAGE_BYTES) }),
    ])
      await t.raw(s, payload);
    await t.raw(s, JSON.stringify({ ...ok, extra: 'ignored' }));
    await until(() => b.got.length === 1, 5_000, 'the valid message');
    expect(b.got).toEqual([{ type: 'run', node: 'x', runId: 'run_ok' }]);
    expect(b.bus.health()).toMatchObject({ received: 1, invalid: 6 });
  });

  it('refuses to send a message over the size cap', async () => {
    const s = space();
    const a = probe(await t.open(`a-${s}`, s));
    a.bus.publish({ type: 'run', runId: `run_${'x'.repeat(MAX_MESSAGE_BYTES)}` });
    expect(a.bus.health().publishFailed).toBe(1);
  });

  it('keeps nodes on different channels apart', async () => {
    const s1 = space();
    const s2 = space();
    const a = probe(await t.open(`a-${s1}`, s1));
    const b = probe(await t.open(`b-${s1}`, s1));
    const other = probe(await t.open(`c-${s2}`, s2));
    a.bus.publish({ type: 'run', runId: 'run_1' });
    other.bus.publish({ type: 'run', runId: 'run_2' });
    await until(() => b.got.length === 1, 5_000, 'b to hear a');
    // The other channel's message went out before the one b heard; a channel of s1 never sees it.
    await until(() => other.bus.health().published === 1, 5_000, 'the other node to publish');
    a.bus.publish({ type: 'run', runId: 'run_3' });
    await until(() => b.got.length === 2, 5_000, 'b to hear a again');
    expect(runs(b).map((d) => (d as { runId: string }).runId)).toEqual(['run_1', 'run_3']);
    expect(other.got).toEqual([]);
  });

  it('reconnects after its connection is killed, resyncs its listeners and delivers again', async () => {
    const s = space();
    const a = probe(await t.open(`a-${s}`, s));
    const b = probe(await t.open(`b-${s}`, s));
    await t.kill(`b-${s}`);
    // Sent while b's connection may still be down: held in b's outbox when it could not go out.
    b.bus.publish({ type: 'run', runId: 'run_during', status: 'running' });
    await until(() => b.got.some((d) => d.type === 'resync'), 10_000, 'b to reconnect and resync');
    expect(b.bus.health().listening).toBe(true);
    await until(() => a.got.length === 1, 5_000, "a to get b's message");
    a.bus.publish({ type: 'run', runId: 'run_after', status: 'completed' });
    await until(() => runs(b).length === 1, 5_000, 'b to hear a after reconnecting');
    expect(runs(b)).toEqual([{ type: 'run', node: `a-${s}`, runId: 'run_after', status: 'completed' }]);
    expect(a.got).toEqual([{ type: 'run', node: `b-${s}`, runId: 'run_during', status: 'running' }]);
  });
});

describe('PostgreSQL channel names', () => {
  it('derives a channel from the schema, hashed when it would pass 63 bytes', () => {
    expect(pgChannelFor('public')).toBe('skillplane_runs_public');
    const long = 'a'.repeat(63);
    const other = `${'a'.repeat(62)}b`;
    expect(Buffer.byteLength(pgChannelFor(long))).toBeLessThanOrEqual(63);
    expect(pgChannelFor(long)).not.toBe(pgChannelFor(other));
    expect(pgChannelFor(long)).toMatch(/^skillplane_runs_[0-9a-f]{16}$/);
  });

  it('a bus whose server is unreachable starts, says it is not listening and never throws', async () => {
    const bus = new PgRunBus({ url: 'postgres://postgres@127.0.0.1:1/test', schema: 'x', node: 'lonely' });
    cleanups.push(() => bus.close());
    await bus.start();
    bus.publish({ type: 'run', runId: 'run_1' });
    expect(bus.health()).toMatchObject({ listening: false, published: 0 });
    expect(bus.health().detail).toMatch(/connection lost/);
  });
});

describe('openRunBus', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sp-bus-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const config = (overrides: Record<string, unknown>) => loadConfig({ cwd: dir, env: {}, overrides }).config;

  it('opens nothing for one node, PostgreSQL for a shared store, Redis with the worker plane', async () => {
    expect(await openRunBus(config({ store: { driver: 'sqlite' } }), { node: 'n' })).toBeUndefined();
    const pgBus = await openRunBus(
      config({ store: { driver: 'postgres', url: pgUrl, schema: `sp_bus_${tag}` } }),
      { node: 'n' },
    );
    cleanups.push(() => pgBus?.close());
    expect(pgBus?.health()).toMatchObject({
      driver: 'postgres',
      listening: true,
      channel: `skillplane_runs_sp_bus_${tag}`,
    });
    const redisBus = await openRunBus(
      config({
        store: { driver: 'postgres', url: pgUrl },
        workers: { enabled: true, broker_url: redisUrl, prefix: `sp${tag}` },
      }),
      { node: 'n' },
    );
    cleanups.push(() => redisBus?.close());
    expect(redisBus?.health()).toMatchObject({ driver: 'redis', listening: true, channel: `sp${tag}:runs` });
  });
});

describe('message decoding', () => {
  it('keeps the known fields of a message and drops the rest', () => {
    expect(
      decodeMessage(JSON.stringify({ type: 'cancel', node: 'a', runId: 'r', principal: null, x: 1 })),
    ).toEqual({
      type: 'cancel',
      node: 'a',
      runId: 'r',
      principal: null,
    });
  });
});

describe('Redis unreachable', () => {
  it('starts, says it is not listening, holds what it publishes and emits no unhandled error', async () => {
    const bus = new RedisRunBus({ url: 'redis://127.0.0.1:1', prefix: `sp${tag}`, node: 'lonely' });
    const errors: Error[] = [];
    const onUnhandled = (err: Error) => errors.push(err);
    process.on('uncaughtException', onUnhandled);
    cleanups.push(() => void process.off('uncaughtException', onUnhandled));
    cleanups.push(() => bus.close());
    await bus.start(300);
    bus.publish({ type: 'run', runId: 'run_1' });
    expect(bus.health()).toMatchObject({ listening: false, published: 0, publishFailed: 0 });
    expect(errors).toEqual([]);
  });
});

/** A bus double that records what it is given and lets the test deliver. */
function fakeBus(): RunBus & { sent: unknown[]; deliver(d: RunBusDelivery): void } {
  const listeners = new Set<(d: RunBusDelivery) => void>();
  return {
    node: 'me',
    sent: [],
    publish(m) {
      this.sent.push(m);
    },
    subscribe(l) {
      listeners.add(l);
      return () => listeners.delete(l);
    },
    deliver(d) {
      for (const l of listeners) l(d);
    },
    health: () => ({
      driver: 'postgres',
      listening: true,
      channel: 'c',
      published: 0,
      publishFailed: 0,
      received: 0,
      invalid: 0,
    }),
    close: async () => undefined,
  };
}

describe('RunNotifier on a bus', () => {
  it('sends a status change at once and a burst of step notifications as one message', async () => {
    const notifier = new RunNotifier();
    const bus = fakeBus();
    notifier.attach(bus, { onCancel: () => undefined, coalesceMs: 20 });
    notifier.notify('run_1', 'running');
    for (let i = 0; i < 50; i++) notifier.notify('run_1');
    notifier.notify('run_2');
    expect(bus.sent).toEqual([{ type: 'run', runId: 'run_1', status: 'running' }]);
    await until(() => bus.sent.length === 3, 2_000, 'the gathered notifications');
    expect(bus.sent.slice(1)).toEqual([
      { type: 'run', runId: 'run_1' },
      { type: 'run', runId: 'run_2' },
    ]);
    // A status change replaces gathered step notifications of its run.
    notifier.notify('run_1');
    notifier.notify('run_1', 'completed');
    notifier.detach();
    expect(bus.sent.slice(3)).toEqual([{ type: 'run', runId: 'run_1', status: 'completed' }]);
  });

  it("hands other nodes' messages to per-run listeners only, never back to the bus", () => {
    const notifier = new RunNotifier();
    const bus = fakeBus();
    const cancels: string[] = [];
    notifier.attach(bus, { onCancel: (runId) => cancels.push(runId) });
    const perRun: unknown[] = [];
    const all: unknown[] = [];
    notifier.subscribe('run_1', (n) => perRun.push(n));
    notifier.on('run', (n) => all.push(n));
    bus.deliver({ type: 'run', node: 'other', runId: 'run_1', status: 'completed' });
    bus.deliver({ type: 'run', node: 'other', runId: 'run_9' });
    bus.deliver({ type: 'cancel', node: 'other', runId: 'run_1', principal: null });
    bus.deliver({ type: 'resync' });
    expect(perRun).toEqual([
      { runId: 'run_1', status: 'completed' },
      { runId: 'run_1', resync: true },
    ]);
    expect(all).toEqual([]);
    expect(cancels).toEqual(['run_1']);
    notifier.detach();
    expect(bus.sent).toEqual([]);
  });
});
