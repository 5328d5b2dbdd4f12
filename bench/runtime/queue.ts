/**
 * The queue-wait scenario: a backlog of batch fan-out runs submitted at once, then interactive
 * fan-out runs arriving while it drains; the queue wait of each class and the scheduler's own p95.
 */
import { performance } from 'node:perf_hooks';
import type { RunRequestInput } from '../../src/agents/index.js';
import type { Run } from '../../src/store/index.js';
import type { ScriptedModelServer } from '../../src/testing/index.js';
import { closedLoop, gc, pct, Sampler } from '../lib/measure.js';
import { request, runtimeJob, runtimeOne, startApp, type Settings, type StoreKind } from './workloads.js';

/** Sizes of the scenario. */
export interface QueueSettings extends Settings {
  backlog: number;
  interactive: number;
  warmup: number;
}

export interface QueueResult {
  store: string;
  backlog: number;
  interactive: number;
  backlogAtArrivalMin: number;
  interactiveWait: { p50: number; p95: number; max: number };
  arrivalSpanMs: number;
  byArrival: {
    beforeAging: { runs: number; p50: number; p95: number; max: number };
    afterTwoAging: { runs: number; p50: number; p95: number; max: number };
  };
  batchWait: { p50: number; p95: number; max: number };
  scheduler: { interactiveP95: number; batchP95: number; samples: { interactive: number; batch: number } };
  interactiveLatencyP95: number;
  seconds: number;
  peakRssMb: number;
  ok: number;
}

export async function queueScenario(
  settings: QueueSettings,
  dir: string,
  server: ScriptedModelServer,
  kind: StoreKind,
): Promise<QueueResult> {
  const h = await startApp(
    settings,
    dir,
    server,
    kind,
    settings.backlog + settings.interactive + settings.window,
  );
  try {
    await closedLoop(settings.warmup, settings.window, runtimeJob(h.app, 'fanout'));
    gc();
    const sampler = new Sampler(() => (server.requests.length = 0));
    const t0 = performance.now();
    const submitted: Promise<{ run: Run; latency: number }>[] = [];
    const track = (req: RunRequestInput) => {
      const s = performance.now();
      submitted.push(runtimeOne(h.app, req).then((r) => ({ run: r, latency: performance.now() - s })));
    };
    for (let i = 0; i < settings.backlog; i++) track(request('fanout', i, 'batch'));
    // Interactive runs arrive one at a time, spread over the first part of the backlog's drain.
    let backlogMin = Number.POSITIVE_INFINITY;
    const interactive: Promise<{ run: Run; latency: number; arrivedMs: number }>[] = [];
    for (let i = 0; i < settings.interactive; i++) {
      await new Promise((r) => setTimeout(r, 10));
      backlogMin = Math.min(backlogMin, h.app.runtime.scheduler.stats().queued.batch);
      const s = performance.now();
      interactive.push(
        runtimeOne(h.app, request('fanout', i, 'interactive')).then((r) => ({
          run: r,
          latency: performance.now() - s,
          arrivedMs: s - t0,
        })),
      );
    }
    const inter = await Promise.all(interactive);
    const batch = await Promise.all(submitted);
    const seconds = (performance.now() - t0) / 1000;
    const stats = h.app.runtime.scheduler.stats();
    const s = sampler.stop();
    const wait = (r: Run) => Date.parse(r.started_at ?? r.created_at) - Date.parse(r.created_at);
    const summary = (runs: Run[]) => {
      const w = Float64Array.from(runs.map(wait)).sort();
      return { p50: pct(w, 0.5), p95: pct(w, 0.95), max: w[w.length - 1] ?? 0 };
    };
    const lat = Float64Array.from(inter.map((x) => x.latency)).sort();
    // The scheduler promotes a waiting ticket one class per agingMs (2 s): split the interactive
    // runs by arrival time to show how the batch backlog's age affects them.
    const agingMs = h.app.runtime.scheduler.agingMs;
    const early = inter.filter((x) => x.arrivedMs < agingMs).map((x) => x.run);
    const late = inter.filter((x) => x.arrivedMs >= 2 * agingMs).map((x) => x.run);
    const all = [...inter, ...batch];
    return {
      store: kind,
      backlog: settings.backlog,
      interactive: settings.interactive,
      backlogAtArrivalMin: backlogMin,
      interactiveWait: summary(inter.map((x) => x.run)),
      arrivalSpanMs: Math.round(Math.max(0, ...inter.map((x) => x.arrivedMs))),
      byArrival: {
        beforeAging: { runs: early.length, ...summary(early) },
        afterTwoAging: { runs: late.length, ...summary(late) },
      },
      batchWait: summary(batch.map((x) => x.run)),
      scheduler: {
        interactiveP95: Math.round(stats.queueWaitMs.interactive.p95),
        batchP95: Math.round(stats.queueWaitMs.batch.p95),
        samples: {
          interactive: stats.queueWaitMs.interactive.samples,
          batch: stats.queueWaitMs.batch.samples,
        },
      },
      interactiveLatencyP95: Math.round(pct(lat, 0.95)),
      seconds: Math.round(seconds * 10) / 10,
      peakRssMb: s.peakRssMb,
      ok: all.filter((x) => x.run.status === 'completed').length,
    };
  } finally {
    await h.close();
  }
}
