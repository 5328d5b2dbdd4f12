import type { RunLifecycleChange, RunStepChange } from '../agents/index.js';
import type { ModelObservation } from '../models/index.js';

/** A skill call finished, through any door (`code` null when it succeeded). */
export interface SkillCallObservation {
  type: 'skill_call';
  /** The skill's id (`acme/search`), or `unresolved` when the reference named no loaded skill. */
  skill: string;
  door: string;
  code: string | null;
  durationMs: number;
}

/**
 * What the runtime, the model clients and the skill invoker report for metrics: run lifecycle
 * moves and steps (from the run notifier), model calls and limiter waits, skill calls. Labels
 * drawn from these are bounded by the config (skills, backends) or by a fixed vocabulary (codes,
 * kinds, statuses); run ids are carried but never meant as labels.
 */
export type Observation =
  | { type: 'run'; change: RunLifecycleChange }
  | { type: 'step'; change: RunStepChange }
  | ModelObservation
  | SkillCallObservation;

/** A listener of {@link Observations}. */
export type ObservationListener = (o: Observation) => void;

/**
 * The fan-out of an application's observations: producers {@link emit}, edges (metrics)
 * {@link subscribe}. A listener that throws is skipped, never the producer: telemetry never fails
 * a run or a call.
 */
export class Observations {
  private readonly listeners = new Set<ObservationListener>();

  /** Hands `o` to every listener. */
  emit(o: Observation): void {
    for (const l of this.listeners) {
      try {
        l(o);
      } catch {
        // A broken metric must not break the producer.
      }
    }
  }

  /** Calls `listener` for every observation; returns the unsubscribe function. */
  subscribe(listener: ObservationListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Whether anyone listens (producers may skip work otherwise). */
  get observed(): boolean {
    return this.listeners.size > 0;
  }
}
