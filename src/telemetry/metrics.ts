import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { PHASES, type CanaryReleaseStatus } from '../api/canary-release.js';

/** The controller's own metrics, on /metrics. Names follow Prometheus conventions. */
export class ControllerMetrics {
  readonly registry = new Registry();
  readonly releaseWeight = new Gauge({
    name: 'canaria_release_weight',
    help: 'Desired canary weight of a release, in percent',
    labelNames: ['namespace', 'name'],
    registers: [this.registry],
  });
  readonly releaseActualWeight = new Gauge({
    name: 'canaria_release_actual_weight',
    help: 'Canary weight read back from the VirtualService, in percent',
    labelNames: ['namespace', 'name'],
    registers: [this.registry],
  });
  readonly releasePhase = new Gauge({
    name: 'canaria_release_phase',
    help: 'Phase of a release: 1 for the current phase, 0 for the others',
    labelNames: ['namespace', 'name', 'phase'],
    registers: [this.registry],
  });
  readonly analyses = new Counter({
    name: 'canaria_analysis_total',
    help: 'Analyses run, by verdict',
    labelNames: ['result'],
    registers: [this.registry],
  });
  readonly decisions = new Counter({
    name: 'canaria_decision_total',
    help: 'Decisions taken, by action',
    labelNames: ['action'],
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: 'canaria_reconcile_duration_seconds',
    help: 'Time one reconcile took, by outcome',
    labelNames: ['result'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: 'canaria_queue_depth',
    help: 'Releases waiting in the work queue',
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'canaria_' });
  }

  /** Updates the per-release series and counts what is new since the previous status. */
  observe(
    namespace: string,
    name: string,
    before: CanaryReleaseStatus | undefined,
    after: CanaryReleaseStatus,
  ): void {
    this.releaseWeight.set({ namespace, name }, after.canaryWeight ?? 0);
    if (after.actualCanaryWeight !== undefined) {
      this.releaseActualWeight.set({ namespace, name }, after.actualCanaryWeight);
    }
    for (const phase of PHASES)
      this.releasePhase.set({ namespace, name, phase }, after.phase === phase ? 1 : 0);
    const last = after.lastAnalysis;
    if (last && last.time !== before?.lastAnalysis?.time) this.analyses.inc({ result: last.verdict });
    const seen = new Set((before?.decisions ?? []).map((d) => `${d.time}|${d.message}`));
    for (const d of after.decisions ?? []) {
      if (!seen.has(`${d.time}|${d.message}`)) this.decisions.inc({ action: d.action });
    }
  }

  forget(namespace: string, name: string): void {
    this.releaseWeight.remove({ namespace, name });
    this.releaseActualWeight.remove({ namespace, name });
    for (const phase of PHASES) this.releasePhase.remove({ namespace, name, phase });
  }
}
