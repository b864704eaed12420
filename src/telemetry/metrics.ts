import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { DECISION_ACTIONS, PHASES, VERDICTS, type CanaryReleaseStatus } from '../api/canary-release.js';

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
    help: 'Analyses run per release, by verdict',
    labelNames: ['namespace', 'name', 'result'],
    registers: [this.registry],
  });
  readonly decisions = new Counter({
    name: 'canaria_decision_total',
    help: 'Decisions taken per release, by action',
    labelNames: ['namespace', 'name', 'action'],
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

  /** Releases whose decision and analysis series exist, `namespace/name`. */
  private readonly counted = new Set<string>();

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'canaria_' });
    // increase() and rate() need a sample before the first reconcile to count it
    for (const result of ['ok', 'error']) this.reconcileDuration.zero({ result });
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
    this.startCounters(namespace, name);
    const last = after.lastAnalysis;
    if (last && last.time !== before?.lastAnalysis?.time) {
      this.analyses.inc({ namespace, name, result: last.verdict });
    }
    const seen = new Set((before?.decisions ?? []).map((d) => `${d.time}|${d.message}`));
    for (const d of after.decisions ?? []) {
      if (!seen.has(`${d.time}|${d.message}`)) this.decisions.inc({ namespace, name, action: d.action });
    }
  }

  /**
   * Creates every action and verdict series of a release at 0, so that increase() sees its first
   * rollback rather than a series that appears already at 1 (what the release's first reconcile in
   * this process counts still lands in the scrape that first sees the series). The labels are closed
   * enums: 13 actions and 4 verdicts, 17 series per release however long it runs.
   */
  private startCounters(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    if (this.counted.has(key)) return;
    this.counted.add(key);
    for (const action of DECISION_ACTIONS) this.decisions.inc({ namespace, name, action }, 0);
    for (const result of VERDICTS) this.analyses.inc({ namespace, name, result }, 0);
  }

  forget(namespace: string, name: string): void {
    this.releaseWeight.remove({ namespace, name });
    this.releaseActualWeight.remove({ namespace, name });
    for (const phase of PHASES) this.releasePhase.remove({ namespace, name, phase });
    for (const action of DECISION_ACTIONS) this.decisions.remove({ namespace, name, action });
    for (const result of VERDICTS) this.analyses.remove({ namespace, name, result });
    this.counted.delete(`${namespace}/${name}`);
  }
}
