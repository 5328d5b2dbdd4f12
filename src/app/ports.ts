import type { EdgePorts } from '../ports/index.js';
import type { App } from './create-app.js';

/** The narrow ports the edges get of an application (see src/ports). */
export function edgePorts(app: Omit<App, 'ports' | 'close'>): EdgePorts {
  const { runtime, skills, store } = app;
  const plane = app.workers;
  return {
    config: app.config,
    runs: {
      nodeId: runtime.nodeId,
      submit: (input, caller) => runtime.submit(input, caller),
      getRun: (id) => runtime.getRun(id),
      listRuns: (q) => runtime.listRuns(q),
      getSteps: (id) => runtime.getSteps(id),
      listEvents: (id, after, limit) => runtime.listEvents(id, after, limit),
      cancel: (id, principal) => runtime.cancel(id, principal),
      wait: (id, opts) => runtime.wait(id, opts),
      subscribe: (id, listener) => runtime.subscribe(id, listener),
      stats: () => runtime.scheduler.stats(),
      active: () => runtime.activeRuns,
      onAny: (listener) => {
        runtime.notifier.on('run', listener);
        return () => runtime.notifier.off('run', listener);
      },
      agents: () => app.agents.list(),
    },
    approvals: {
      list: (q) => runtime.approvals.list(q),
      get: (id) => runtime.approvals.get(id),
      decide: (id, d) => runtime.decide(id, d),
    },
    skills: {
      registry: skills.registry,
      policy: skills.policy,
      invoker: skills.invoker,
      loadErrors: () => skills.loadErrors,
      reload: (opts) => skills.reload(opts),
      confinement: skills.confinement,
    },
    health: {
      store: () => store.health(),
      models: () => app.models.health(),
      bus: () => runtime.busHealth(),
    },
    audit: {
      append: (e) =>
        runtime.audit({
          principal: e.principal,
          action: e.action,
          target: e.target ?? '',
          runId: e.runId ?? null,
          traceId: e.traceId ?? null,
          ...(e.data === undefined || e.data === null ? {} : { data: e.data }),
        }),
      list: (q) => store.listAudit(q),
    },
    models: { stats: () => app.models.stats() },
    observe: (listener) => app.observations.subscribe(listener),
    workers:
      plane === undefined
        ? undefined
        : {
            health: () => plane.health.state,
            status: () => plane.status(),
            listDeadLetters: (q) => plane.listDeadLetters(q),
            redrive: (id, principal) => plane.redrive(id, principal),
          },
  };
}
