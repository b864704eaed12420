import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import {
  DECISION_ACTIONS,
  PHASES,
  REVISION_LABELS,
  VERDICTS,
  type CanaryReleaseStatus,
  type DecisionAction,
  type DecisionRecord,
  type MetricEvidence,
  type VerdictKind,
} from '../api/canary-release.js';
import {
  formatRelease,
  numbersOf,
  releaseFamilies,
  renderSliced,
  SLICE,
  type Decided,
  type Labels,
  type ReleaseRecord,
} from './release-series.js';

/**
 * What the reconciler saw of a release besides its status: the Service Istio reports its requests
 * under, and the revision label values of its two sides. Undefined when the spec does not parse.
 */
export interface ReleaseSighting {
  /**
   * The Kubernetes Services whose requests are measured (Istio's `destination_service_name`): one for
   * a router that splits between subsets of a Service, the stable's and the canary's for one that
   * splits between Services.
   */
  services: { stable: string; canary: string };
  /** The release's traffic router: istio, gatewayAPI. */
  router?: string;
  /** The revision label values Istio reports for each side, as in `istio_requests_total`. */
  reported: { canary?: string | undefined; stable?: string | undefined };
  analysis?: { revisionLabel: string; reporter: string } | undefined;
}

/** One call to the Kubernetes API server, as the adapter saw it. */
export interface KubeCallRecord {
  method: string;
  /** `ok`, or why it failed (the KubeError code). */
  result: string;
  seconds: number;
}

/** One query to a Prometheus-compatible API, retries included. */
export interface PrometheusQueryRecord {
  /** `query` or `query_range`. */
  endpoint: string;
  /** `ok`, or why it failed (the MetricsBackendError code). */
  result: string;
  seconds: number;
}

const KUBE_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
const KUBE_RESULTS = [
  'ok',
  'Conflict',
  'NotFound',
  'Forbidden',
  'Invalid',
  'Unavailable',
  'Timeout',
] as const;
const PROMETHEUS_ENDPOINTS = ['query', 'query_range'] as const;
const PROMETHEUS_RESULTS = ['ok', 'Unreachable', 'Timeout', 'BadQuery', 'Malformed', 'Ambiguous'] as const;
const CALL_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The router every release uses today; the label is there so that a second one joins the same way. */
const ROUTER = 'istio';

/**
 * The controller's own metrics, on /metrics. Names follow Prometheus conventions: base units,
 * `_total` for counters, `_info` with value 1 for labels to join on.
 *
 * Cardinality stays bounded by what exists now, never by history, and a release pays only for what
 * it has: one info, one weight, one read-back weight and one phase series (the current phase only:
 * a series at 0 for each other phase would be 6 more per release), one decision-time series per
 * action it took, 4 analysis counters; per metric of its latest analysis one verdict series (the
 * verdict given), at most 1 bound, 8 per-side values and counts and 5 sequential numbers. Decisions
 * are counted per action for the whole controller: a release's own decisions are its decision-time
 * series, which change with each one. A series whose labels changed (a new revision, phase, verdict
 * or reason) replaces the old one, a metric that left the analysis takes its series with it, and a
 * deleted release takes all of its own. Those series live in release-series.ts, which renders them
 * without blocking the event loop; /metrics serves `exposition()`.
 */
export class ControllerMetrics {
  readonly registry = new Registry();
  /** Each release's series, by `namespace/name`. */
  private readonly records = new Map<string, ReleaseRecord>();
  private readonly releases = new Gauge({
    name: 'canaria_releases',
    help: 'Releases this replica reconciles, by phase',
    labelNames: ['phase'],
    registers: [this.registry],
    collect: () => {
      const counts = new Map<string, number>(PHASES.map((phase) => [phase, 0]));
      for (const { phase } of this.records.values())
        if (phase !== undefined) counts.set(phase, (counts.get(phase) ?? 0) + 1);
      for (const [phase, count] of counts) this.releases.set({ phase }, count);
    },
  });
  private readonly decisions = new Counter({
    name: 'canaria_decision_total',
    help: 'Decisions taken, by action, over every release',
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
  readonly kubeRequests = new Counter({
    name: 'canaria_kube_requests_total',
    help: 'Calls to the Kubernetes API server (watches aside), by HTTP method and result (ok or why they failed)',
    labelNames: ['method', 'result'],
    registers: [this.registry],
  });
  readonly kubeRequestDuration = new Histogram({
    name: 'canaria_kube_request_duration_seconds',
    help: 'Time one call to the Kubernetes API server took, by HTTP method',
    labelNames: ['method'],
    buckets: CALL_BUCKETS,
    registers: [this.registry],
  });
  readonly prometheusQueries = new Counter({
    name: 'canaria_prometheus_queries_total',
    help: 'Queries to the metrics backend, retries included, by endpoint and result (ok or why they failed)',
    labelNames: ['endpoint', 'result'],
    registers: [this.registry],
  });
  readonly prometheusQueryDuration = new Histogram({
    name: 'canaria_prometheus_query_duration_seconds',
    help: 'Time one query to the metrics backend took, retries included, by endpoint',
    labelNames: ['endpoint'],
    buckets: CALL_BUCKETS,
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    // prom-client takes any object with a metric's shape; the families are collectors, not its classes
    for (const family of releaseFamilies(() => this.records.values()))
      this.registry.registerMetric(family as unknown as Metric);
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'canaria_' });
    // increase() and rate() need a sample before the first event to count it; the labels are closed sets
    for (const action of DECISION_ACTIONS) this.decisions.inc({ action }, 0);
    for (const result of ['ok', 'error']) this.reconcileDuration.zero({ result });
    for (const method of KUBE_METHODS) {
      this.kubeRequestDuration.zero({ method });
      for (const result of KUBE_RESULTS) this.kubeRequests.inc({ method, result }, 0);
    }
    for (const endpoint of PROMETHEUS_ENDPOINTS) {
      this.prometheusQueryDuration.zero({ endpoint });
      for (const result of PROMETHEUS_RESULTS) this.prometheusQueries.inc({ endpoint, result }, 0);
    }
  }

  /**
   * The exposition /metrics serves, in slices with a turn of the event loop between two, of the
   * releases as they are now.
   */
  exposition(slice = SLICE): AsyncGenerator<string> {
    return renderSliced(this.registry, [...this.records.values()], slice);
  }

  /** Counts one call to the API server; the Kubernetes adapter calls it. */
  kubeRequest(call: KubeCallRecord): void {
    this.kubeRequests.inc({ method: call.method, result: call.result });
    this.kubeRequestDuration.observe({ method: call.method }, call.seconds);
  }

  /** Counts one query to the metrics backend; the Prometheus client calls it. */
  prometheusQuery(query: PrometheusQueryRecord): void {
    this.prometheusQueries.inc({ endpoint: query.endpoint, result: query.result });
    this.prometheusQueryDuration.observe({ endpoint: query.endpoint }, query.seconds);
  }

  /** Replaces a release's series with those of `after`, and counts what is new since `before`. */
  observe(
    namespace: string,
    name: string,
    before: CanaryReleaseStatus | undefined,
    after: CanaryReleaseStatus,
    sighting?: ReleaseSighting,
  ): void {
    const key = `${namespace}/${name}`;
    const previous = this.records.get(key);
    const release = { namespace, name };
    // the latest decision of each action: a mark on the time axis at its own time, however soon the
    // next decision follows, and at most one series per action
    const decided: Decided[] = [];
    for (const d of new Map((after.decisions ?? []).map((d) => [d.action, d])).values()) {
      const decidedAt = Date.parse(d.time);
      if (!Number.isNaN(decidedAt))
        decided.push({ action: d.action, reason: d.reason, seconds: decidedAt / 1000 });
    }
    const seen = new Set((before?.decisions ?? []).map((d) => `${d.time}|${d.message}`));
    const fresh = (after.decisions ?? []).filter((d) => !seen.has(`${d.time}|${d.message}`));
    for (const d of fresh) this.decisions.inc({ action: d.action });
    // every verdict's counter exists from the release's first reconcile in this process, so that
    // increase() sees its first Fail rather than a series that appears already at 1
    const analyses = [...(previous?.analyses ?? VERDICTS.map(() => 0))];
    for (const verdict of newAnalyses(before, after, fresh)) {
      const i = VERDICTS.indexOf(verdict);
      analyses[i] = (analyses[i] ?? 0) + 1;
    }
    this.records.set(key, {
      release,
      releaseLabels: previous?.releaseLabels ?? formatRelease(release),
      info: infoLabels(previous, sighting),
      weight: after.canaryWeight ?? 0,
      actualWeight: after.actualCanaryWeight,
      phase: after.phase,
      decided,
      metrics: latestEvidence(after).map(numbersOf),
      analyses,
    });
  }

  /** Drops every series of a deleted release. */
  forget(namespace: string, name: string): void {
    this.records.delete(`${namespace}/${name}`);
  }
}

/** The info series' labels: what this reconcile saw, else what an earlier one saw. */
function infoLabels(previous: ReleaseRecord | undefined, sighting: ReleaseSighting | undefined): Labels {
  if (!sighting) return previous?.info ?? { router: ROUTER };
  return {
    // a regular expression for the dashboards' destination_service_name=~"$service"
    service: [...new Set([sighting.services.stable, sighting.services.canary])].join('|'),
    router: sighting.router ?? ROUTER,
    // Prometheus drops a label whose value is empty: a side not yet deployed has no revision label
    stable_revision: sighting.reported.stable ?? '',
    canary_revision: sighting.reported.canary ?? '',
    revision_label: sighting.analysis?.revisionLabel ?? REVISION_LABELS[0],
    // the dashboards select istio_requests_total{reporter="$reporter"}: one value, so under auto the
    // sidecars' (a waypoint-only Service's panels stay empty until the dashboards learn auto)
    reporter:
      sighting.analysis?.reporter === undefined || sighting.analysis.reporter === 'auto'
        ? 'destination'
        : sighting.analysis.reporter,
  };
}

/** A new rollout starts from no analysis: the evidence of an earlier one is no longer current. */
const STARTS: ReadonlySet<DecisionAction> = new Set(['Start', 'Restart', 'Initialize']);

/**
 * The metrics of the release's latest analysis. An analysis that moves the weight (advances, rolls
 * back) clears `lastAnalysis` in the same reconcile, as the new weight opens a new window; its
 * evidence then lives on in the decision it led to.
 */
function latestEvidence(status: CanaryReleaseStatus): MetricEvidence[] {
  if (status.lastAnalysis) return status.lastAnalysis.metrics;
  for (const d of [...(status.decisions ?? [])].reverse()) {
    if (d.metrics?.length) return d.metrics;
    if (STARTS.has(d.action)) return [];
  }
  return [];
}

/**
 * The verdicts of the analyses this reconcile ran: a new `lastAnalysis`, and a new decision's evidence
 * unless it is that of an analysis already counted (a decision carries the evidence of the analysis
 * that led to it, which may be an earlier reconcile's, or one whose record this reconcile cleared
 * by moving the weight).
 */
function newAnalyses(
  before: CanaryReleaseStatus | undefined,
  after: CanaryReleaseStatus,
  fresh: readonly DecisionRecord[],
): VerdictKind[] {
  const verdicts: VerdictKind[] = [];
  const counted: string[] = [];
  if (before?.lastAnalysis) counted.push(JSON.stringify(before.lastAnalysis.metrics));
  const last = after.lastAnalysis;
  if (last && last.time !== before?.lastAnalysis?.time) {
    verdicts.push(last.verdict);
    counted.push(JSON.stringify(last.metrics));
  }
  for (const d of fresh) {
    if (!d.verdict || !d.metrics?.length) continue;
    const evidence = JSON.stringify(d.metrics);
    if (counted.includes(evidence)) continue;
    verdicts.push(d.verdict);
    counted.push(evidence);
  }
  return verdicts;
}
