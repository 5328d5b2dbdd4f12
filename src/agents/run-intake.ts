// Taking a run in: a valid request reserves a queue place, is stored (idempotently, with its
// approval gate when it needs one, and its audit entry), then scheduled.
import type { Config } from '../config/index.js';
import { newRunId, type Run, type RunStore } from '../store/index.js';
import type { RunSpans } from '../tracing/index.js';
import type { Clock } from '../vocabulary/index.js';
import type { ApprovalDesk } from './approvals.js';
import type { RunNotifier } from './notifier.js';
import { requestFingerprint, type RunRequest, type RunRequestInput } from './request.js';
import { ShutdownError, type RunExecutor } from './run-executor.js';
import type { CallerContext } from './runtime-options.js';
import type { Scheduler } from './scheduler.js';
import { newRunFor, runApprovalRequired } from './submission.js';

const IDEMPOTENCY_TTL_SEC = 24 * 3600;

/** What taking a run in needs of the runtime. */
export interface RunIntakePort {
  config: Config;
  store: RunStore;
  scheduler: Scheduler;
  approvals: ApprovalDesk;
  executor: RunExecutor;
  notifier: RunNotifier;
  runSpans: RunSpans | undefined;
  clock: Clock;
  nodeId: string;
  leaseMs: number;
  closing(): boolean;
  parseRequest(input: unknown): RunRequest;
  /** The runtime's `admit` check (a no-op without one). */
  admit(request: RunRequest): void | Promise<void>;
}

/** Takes the runs of one runtime in. */
export class RunIntake {
  constructor(private readonly port: RunIntakePort) {}

  /**
   * Creates a run: validates, reserves a queue place (a full queue throws `queue_full` and stores
   * nothing), stores it (an idempotency key returns the existing run for the same request and a
   * `idempotency_conflict` for another) with its `run.create` audit entry, then schedules it.
   */
  async submit(
    input: RunRequestInput | RunRequest,
    caller: CallerContext = {},
  ): Promise<{ run: Run; created: boolean }> {
    if (this.port.closing()) throw new ShutdownError();
    const req = this.port.parseRequest(input);
    await this.port.admit(req);
    const id = newRunId(this.port.clock.now());
    this.port.scheduler.admit({ id, priority: req.priority });
    let admittedUsed = false;
    // A run to approve first is stored waiting, with its approval, and scheduled once approved.
    const gate = runApprovalRequired(req) ? this.port.approvals.runGate(id, req) : undefined;
    try {
      const fresh = newRunFor(id, req, caller, {
        config: this.port.config,
        nodeId: this.port.nodeId,
        leaseMs: this.port.leaseMs,
        clock: this.port.clock,
      });
      const { run, created } = await this.port.store.createRun(fresh, {
        ...(gate === undefined ? {} : { approval: gate }),
        ...(caller.idempotencyKey === undefined
          ? {}
          : {
              idempotency: {
                key: caller.idempotencyKey,
                fingerprint: requestFingerprint(req),
                ttlSec: IDEMPOTENCY_TTL_SEC,
              },
            }),
        event: {
          type: 'run.created',
          data: { agent: req.agent ?? null, strategy: req.strategy, priority: req.priority },
        },
        // The creation's audit entry is written with the run, in the same transaction.
        audit: {
          principal: caller.principal ?? null,
          action: 'run.create',
          target: id,
          data: {
            agent: fresh.agent,
            strategy: fresh.strategy,
            ...(gate === undefined ? {} : { approval_id: gate.approval.id }),
          },
        },
      });
      if (created) {
        this.port.runSpans?.created(run, caller);
        this.port.notifier.emit('lifecycle', { move: 'create', run });
        admittedUsed = gate === undefined;
        if (gate === undefined) this.port.executor.schedule(run, false, true);
        else this.port.notifier.notify(run.id, run.status);
      }
      return { run, created };
    } finally {
      if (!admittedUsed) this.port.scheduler.cancel(id);
    }
  }
}
