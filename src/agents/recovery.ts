/**
 * Crash recovery and run ownership across nodes: the lease keeper (renews the leases of every run
 * this node holds and fences runs whose lease it could not keep), the reclaim loop (claims runs
 * whose owner died, i.e. whose lease expired, and hands them to the runtime exactly once — the
 * store's claim is atomic, `FOR UPDATE SKIP LOCKED` on PostgreSQL) and the retention job.
 *
 * The runtime owns execution; this module only decides which runs this node may execute.
 */
import type { Logger } from 'pino';
import { SkillplaneError, toSkillplaneError } from '../errors/index.js';
import type { Run, RunStore } from '../store/index.js';

/**
 * The reason a run's local execution is aborted when this node no longer holds its lease
 * (another node may own it now). The run is NOT settled: its new owner finishes it.
 */
export class LeaseLostError extends SkillplaneError {
  constructor(runId: string, why: 'not_renewed' | 'expired') {
    super(
      'lease_lost',
      why === 'not_renewed'
        ? `run ${runId} is no longer owned by this node`
        : `the lease of run ${runId} expired before it could be renewed`,
      { data: { run_id: runId, reason: why } },
    );
  }
}

/**
 * Error codes meaning "the database is out of reach", not "the run is wrong". The drivers map
 * their own codes (SQLITE_FULL, PostgreSQL 53300, …) to these.
 */
const OUTAGE_CODES = new Set(['store_unavailable', 'store_busy', 'store_full', 'store_closed']);

/**
 * True when `err` says the store could not be written (connection lost, locked, disk full,
 * closed). A run failing that way is not settled: it stays with its journal and is reclaimed
 * (by this node or another) once its lease expires and the store answers again.
 */
export function isStoreOutage(err: unknown): boolean {
  for (let e = err, depth = 0; e instanceof Error && depth < 4; e = e.cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    if (OUTAGE_CODES.has(code)) return true;
  }
  return false;
}

/** What the recovery loops need from the runtime. */
export interface RecoveryHost {
  /** Schedules a run this node just claimed; returns false when it was already held locally. */
  resume(run: Run): boolean;
  /** Aborts a run's local execution without settling it (its lease is lost). */
  abandon(runId: string, reason: LeaseLostError): void;
  /** Queue places free for claimed runs (the reclaim loop never claims more). */
  freePlaces(): number;
}

/** Options of {@link RunRecovery}. */
export interface RunRecoveryOptions {
  store: RunStore;
  nodeId: string;
  /** Length of a run's ownership lease. */
  leaseMs: number;
  /** Finished runs older than this many days are pruned. */
  retentionDays: number;
  logger?: Logger | undefined;
  /** Reclaim period (default `leaseMs / 2`, ±20 % jitter so nodes do not claim in lockstep). */
  reclaimIntervalMs?: number;
  /** Retention period (default one hour). */
  retentionIntervalMs?: number;
  /** Runs claimed per store call (default 500). */
  claimBatch?: number;
  /** Random source for the jitter (tests). */
  random?: () => number;
  /**
   * `false`: this node only keeps the leases of the runs it creates itself (an in-process CLI
   * run): it never adopts, claims or resumes another node's runs, nor prunes (default `true`).
   */
  reclaim?: boolean;
}

/**
 * Keeps this node's runs owned and recovers the runs of dead nodes. Call {@link hold} when a run
 * is scheduled here and {@link drop} when its execution ends; {@link start} performs the first
 * reclaim pass (restart recovery) and starts the loops; {@link stopClaiming} then {@link stop}
 * shut them down (renewal goes on until `stop`, so runs finishing during a graceful shutdown keep
 * their leases).
 */
export class RunRecovery {
  /** Held run id → local lease deadline (ms since epoch), measured before the store call. */
  private readonly leases = new Map<string, number>();
  private readonly store: RunStore;
  private readonly nodeId: string;
  private readonly leaseMs: number;
  /** Fence margin: a run is abandoned this long before its lease would expire in the store. */
  private readonly marginMs: number;
  private readonly random: () => number;
  private host: RecoveryHost | undefined;
  private leaseTimer: NodeJS.Timeout | undefined;
  private reclaimTimer: NodeJS.Timeout | undefined;
  private retentionTimer: NodeJS.Timeout | undefined;
  private lastRenewAt = 0;
  /** Background work in flight (renewal, reclaim, prune), awaited by `stop()`. */
  private readonly pending = new Set<Promise<unknown>>();
  private renewing: Promise<void> | undefined;
  private reclaiming: Promise<number> | undefined;

  constructor(private readonly opts: RunRecoveryOptions) {
    this.store = opts.store;
    this.nodeId = opts.nodeId;
    this.leaseMs = opts.leaseMs;
    this.marginMs = Math.min(Math.floor(opts.leaseMs / 5), 5_000);
    this.random = opts.random ?? Math.random;
  }

  /** Number of runs whose lease this node keeps. */
  get held(): number {
    return this.leases.size;
  }

  /** Starts keeping the lease of a run scheduled on this node. */
  hold(run: Pick<Run, 'id' | 'lease_expires_at'>): void {
    const stored = run.lease_expires_at === null ? NaN : Date.parse(run.lease_expires_at);
    // Trust the store's deadline only if it is not later than what we asked for.
    const deadline = Math.min(Number.isNaN(stored) ? Infinity : stored, Date.now() + this.leaseMs);
    this.leases.set(run.id, deadline);
  }

  /** Stops keeping a run's lease (its execution ended here). */
  drop(runId: string): void {
    this.leases.delete(runId);
  }

  /**
   * Restart recovery and loop start: claims every `queued`/`running` run without a live owner
   * (`waiting_approval` runs keep waiting), then starts lease renewal, the reclaim loop and the
   * retention job (which also runs once now, in the background).
   */
  async start(host: RecoveryHost): Promise<{ resumed: number }> {
    this.host = host;
    const reclaiming = this.opts.reclaim ?? true;
    let resumed = 0;
    if (reclaiming) {
      await this.adoptOwnRuns();
      resumed = await this.reclaim();
    }
    this.lastRenewAt = Date.now();
    // The fence needs a finer tick than the renewal period.
    const tick = Math.max(50, Math.floor(this.leaseMs / 10));
    this.leaseTimer = setInterval(() => this.onLeaseTick(), tick);
    this.leaseTimer.unref();
    if (!reclaiming) return { resumed };
    this.scheduleReclaim();
    const retentionMs = this.opts.retentionIntervalMs ?? 3_600_000;
    this.retentionTimer = setInterval(() => this.track(this.prune()), retentionMs);
    this.retentionTimer.unref();
    this.track(this.prune());
    return { resumed };
  }

  /**
   * Runs still owned by this node id belong to a previous incarnation of this node (a crash, a
   * SIGKILL): nobody executes them, so their leases are released at once instead of waiting for
   * them to expire, and the first reclaim pass takes them. Needs a node id that is stable across
   * restarts (with a random one, the runs are reclaimed when their leases expire).
   */
  private async adoptOwnRuns(): Promise<number> {
    let cursor: string | undefined;
    let released = 0;
    for (;;) {
      const page = await this.store.listRuns({
        status: ['queued', 'running'],
        limit: 500,
        ...(cursor === undefined ? {} : { cursor }),
      });
      const mine = page.runs.filter((r) => r.owner === this.nodeId);
      const done = await Promise.all(mine.map((r) => this.store.releaseRun(r.id, this.nodeId)));
      released += done.filter(Boolean).length;
      if (page.next_cursor === null) break;
      cursor = page.next_cursor;
    }
    if (released > 0)
      this.opts.logger?.info({ released, node: this.nodeId }, 'released runs of a previous incarnation');
    return released;
  }

  /** Stops the reclaim loop and the retention job (leases are still renewed). */
  stopClaiming(): void {
    clearTimeout(this.reclaimTimer);
    clearInterval(this.retentionTimer);
    this.reclaimTimer = undefined;
    this.retentionTimer = undefined;
  }

  /** Stops every loop and waits for the background work in flight. */
  async stop(): Promise<void> {
    this.stopClaiming();
    clearInterval(this.leaseTimer);
    this.leaseTimer = undefined;
    await Promise.allSettled([...this.pending]);
  }

  /**
   * One reclaim pass: claims runs in `queued`/`running` that have no owner or an expired lease, up
   * to the free queue places, and resumes them. Returns how many were resumed.
   */
  reclaim(): Promise<number> {
    if (this.opts.reclaim === false) return Promise.resolve(0);
    // One pass at a time: a slow store must not make passes pile up.
    if (this.reclaiming !== undefined) return this.reclaiming;
    const p = this.reclaimPass().finally(() => {
      this.reclaiming = undefined;
    });
    this.reclaiming = p;
    return p;
  }

  private async reclaimPass(): Promise<number> {
    const host = this.host;
    if (host === undefined) return 0;
    const batch = this.opts.claimBatch ?? 500;
    let resumed = 0;
    for (;;) {
      const limit = Math.min(batch, host.freePlaces());
      if (limit <= 0) break;
      const claimed = await this.store.claimRuns(this.nodeId, {
        statuses: ['queued', 'running'],
        leaseMs: this.leaseMs,
        limit,
      });
      for (const run of claimed) if (this.host?.resume(run) === true) resumed++;
      if (claimed.length < limit) break;
    }
    if (resumed > 0)
      this.opts.logger?.info({ resumed, node: this.nodeId }, 'claimed runs without a live owner');
    return resumed;
  }

  /** Renews the lease of every held run; runs it could not renew are abandoned. */
  renew(): Promise<void> {
    if (this.renewing !== undefined) return this.renewing;
    const p = this.renewPass().finally(() => {
      this.renewing = undefined;
    });
    this.renewing = p;
    return p;
  }

  private async renewPass(): Promise<void> {
    const ids = [...this.leases.keys()];
    this.lastRenewAt = Date.now();
    if (ids.length === 0) return;
    // The deadline counts from before the call: the store's lease cannot end earlier than this.
    const deadline = Date.now() + this.leaseMs;
    let renewed: string[];
    try {
      renewed = await this.store.renewLeases(this.nodeId, ids, this.leaseMs);
    } catch (err) {
      // Store unreachable: keep the old deadlines; the fence abandons runs when they pass.
      this.opts.logger?.warn({ err: toSkillplaneError(err).message }, 'lease renewal failed');
      return;
    }
    const ok = new Set(renewed);
    for (const id of ids) {
      if (!this.leases.has(id)) continue; // finished meanwhile
      if (ok.has(id)) this.leases.set(id, deadline);
      else this.lose(id, 'not_renewed');
    }
  }

  /**
   * The fence: a run whose lease will expire within the margin is abandoned here before another
   * node may claim it, so two nodes never execute the same step at once.
   */
  fence(now = Date.now()): void {
    for (const [id, deadline] of this.leases) {
      if (deadline - this.marginMs <= now) this.lose(id, 'expired');
    }
  }

  private lose(runId: string, why: 'not_renewed' | 'expired'): void {
    this.leases.delete(runId);
    // Info, not warn: a run that settles while a renewal is in flight also lands here, harmlessly.
    this.opts.logger?.info({ run: runId, node: this.nodeId, why }, 'run lease lost, execution abandoned');
    this.host?.abandon(runId, new LeaseLostError(runId, why));
  }

  private onLeaseTick(): void {
    this.fence();
    if (Date.now() - this.lastRenewAt >= this.leaseMs / 3) this.track(this.renew());
  }

  private scheduleReclaim(): void {
    const base = this.opts.reclaimIntervalMs ?? Math.max(50, Math.floor(this.leaseMs / 2));
    const delay = Math.round(base * (0.8 + 0.4 * this.random()));
    this.reclaimTimer = setTimeout(() => {
      this.track(
        this.reclaim()
          .catch((err: unknown) => {
            this.opts.logger?.warn({ err: toSkillplaneError(err).message }, 'reclaim pass failed');
          })
          .finally(() => {
            if (this.reclaimTimer !== undefined) this.scheduleReclaim();
          }),
      );
    }, delay);
    this.reclaimTimer.unref();
  }

  /** Deletes finished runs older than the retention period; returns how many. */
  async prune(now = new Date()): Promise<number> {
    if (this.opts.reclaim === false) return 0;
    const cut = new Date(now.getTime() - this.opts.retentionDays * 86_400_000);
    try {
      const n = await this.store.pruneFinished(cut);
      if (n > 0) this.opts.logger?.info({ pruned: n, before: cut.toISOString() }, 'pruned finished runs');
      return n;
    } catch (err) {
      this.opts.logger?.warn({ err: toSkillplaneError(err).message }, 'retention prune failed');
      return 0;
    }
  }

  private track(p: Promise<unknown>): void {
    const q = p.catch(() => undefined).finally(() => this.pending.delete(q));
    this.pending.add(q);
  }
}
