import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
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

/**
 * What the reconciler saw of a release besides its status: the Service Istio reports its requests
 * under, and the revision label values of its two sides. Undefined when the spec does not parse.
 */
export interface ReleaseSighting {
  /** The Kubernetes Service whose requests are measured (Istio's `destination_service_name`). */
  service: string;
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
const ROLES = ['canary', 'stable'] as const;

type Labels = Record<string, string>;
interface Sample {
  gauge: Gauge;
  labels: Labels;
  value: number;
}

/**
 * The controller's own metrics, on /metrics. Names follow Prometheus conventions: base units,
 * `_total` for counters, `_info` with value 1 for labels to join on.
 *
 * Cardinality stays bounded by what exists now, never by history: per release one info series, one
 * decision-time series per action it took (13 at most), 3 weight and 7 phase series, 13 + 4
 * counters; per metric of its latest analysis at most 2 values, 1 bound, 4 verdicts, 6 counts and
 * 5 sequential numbers. The gauges that mirror the status are rebuilt on every reconcile: a series
 * whose labels changed (a new revision, a new reason for an action) replaces the old one, a metric
 * that left the analysis takes its series with it, and a deleted release takes all of its own.
 */
export class ControllerMetrics {
  readonly registry = new Registry();
  readonly releaseInfo = new Gauge({
    name: 'canaria_release_info',
    help:
      'A release and what it routes, always 1: the Service, the router, the revision label values Istio ' +
      'reports for the stable and the canary side (join them with istio_requests_total), the revision ' +
      'label and the reporter the analysis counts',
    labelNames: [
      'namespace',
      'name',
      'service',
      'router',
      'stable_revision',
      'canary_revision',
      'revision_label',
      'reporter',
    ],
    registers: [this.registry],
  });
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
  readonly decisionTime = new Gauge({
    name: 'canaria_release_decision_timestamp_seconds',
    help: 'When a release last took a decision of each action, in seconds since the epoch, with its reason',
    labelNames: ['namespace', 'name', 'action', 'reason'],
    registers: [this.registry],
  });
  readonly metricValue = new Gauge({
    name: 'canaria_analysis_metric_value',
    help: "A metric's value in the latest analysis, per side (role canary or stable), in the metric's own unit",
    labelNames: ['namespace', 'name', 'metric', 'role'],
    registers: [this.registry],
  });
  readonly metricBound = new Gauge({
    name: 'canaria_analysis_metric_bound',
    help: 'The bound the judge held the canary to in the latest analysis, in the unit of the value',
    labelNames: ['namespace', 'name', 'metric'],
    registers: [this.registry],
  });
  readonly metricVerdict = new Gauge({
    name: 'canaria_analysis_metric_verdict',
    help: "A metric's verdict in the latest analysis: 1 for the verdict given, 0 for the others",
    labelNames: ['namespace', 'name', 'metric', 'verdict'],
    registers: [this.registry],
  });
  readonly metricRequests = new Gauge({
    name: 'canaria_analysis_metric_requests',
    help: 'Requests the judge counted in the window of the latest analysis, per side',
    labelNames: ['namespace', 'name', 'metric', 'role'],
    registers: [this.registry],
  });
  readonly metricErrors = new Gauge({
    name: 'canaria_analysis_metric_errors',
    help: 'Failed requests the judge counted in the window of the latest analysis, per side',
    labelNames: ['namespace', 'name', 'metric', 'role'],
    registers: [this.registry],
  });
  readonly metricSlow = new Gauge({
    name: 'canaria_analysis_metric_slow_requests',
    help: 'Requests over the latency bound the judge counted in the window of the latest analysis, per side',
    labelNames: ['namespace', 'name', 'metric', 'role'],
    registers: [this.registry],
  });
  readonly metricEValue = new Gauge({
    name: 'canaria_analysis_metric_e_value',
    help: 'Sequential judge: evidence against "the canary is as good as stable"; it fails at the threshold',
    labelNames: ['namespace', 'name', 'metric'],
    registers: [this.registry],
  });
  readonly metricEValueThreshold = new Gauge({
    name: 'canaria_analysis_metric_e_value_threshold',
    help: 'Sequential judge: the e-value at which the canary fails (1/alpha)',
    labelNames: ['namespace', 'name', 'metric'],
    registers: [this.registry],
  });
  readonly metricRateRatio = new Gauge({
    name: 'canaria_analysis_metric_rate_ratio',
    help: "Sequential judge: the canary's rate over the stable's",
    labelNames: ['namespace', 'name', 'metric'],
    registers: [this.registry],
  });
  readonly metricRateRatioLow = new Gauge({
    name: 'canaria_analysis_metric_rate_ratio_low',
    help: 'Sequential judge: lower end of the always-valid confidence interval of the rate ratio',
    labelNames: ['namespace', 'name', 'metric'],
    registers: [this.registry],
  });
  readonly metricRateRatioHigh = new Gauge({
    name: 'canaria_analysis_metric_rate_ratio_high',
    help: 'Sequential judge: upper end of the always-valid confidence interval of the rate ratio',
    labelNames: ['namespace', 'name', 'metric'],
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

  /** Releases whose decision and analysis series exist, `namespace/name`. */
  private readonly counted = new Set<string>();
  /** The gauges each release set in its latest reconcile, by series, to remove what it no longer has. */
  private readonly mirrored = new Map<string, Map<string, Sample>>();
  /** The info labels each release had when last sighted: kept while its spec does not parse. */
  private readonly sightings = new Map<string, Labels>();

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'canaria_' });
    // increase() and rate() need a sample before the first event to count it; the labels are closed sets
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

  /** Updates the per-release series and counts what is new since the previous status. */
  observe(
    namespace: string,
    name: string,
    before: CanaryReleaseStatus | undefined,
    after: CanaryReleaseStatus,
    sighting?: ReleaseSighting,
  ): void {
    const key = `${namespace}/${name}`;
    const release = { namespace, name };
    const samples: Sample[] = [
      { gauge: this.releaseInfo, labels: this.infoLabels(key, release, sighting), value: 1 },
      { gauge: this.releaseWeight, labels: release, value: after.canaryWeight ?? 0 },
      ...PHASES.map((phase) => ({
        gauge: this.releasePhase,
        labels: { ...release, phase },
        value: after.phase === phase ? 1 : 0,
      })),
    ];
    if (after.actualCanaryWeight !== undefined) {
      samples.push({ gauge: this.releaseActualWeight, labels: release, value: after.actualCanaryWeight });
    }
    // the latest decision of each action: a mark on the time axis at its own time, however soon the
    // next decision follows, and at most one series per action
    const latestOf = new Map((after.decisions ?? []).map((d) => [d.action, d]));
    for (const [action, d] of latestOf) {
      const decidedAt = Date.parse(d.time);
      if (Number.isNaN(decidedAt)) continue;
      samples.push({
        gauge: this.decisionTime,
        labels: { ...release, action, reason: d.reason },
        value: decidedAt / 1000,
      });
    }
    for (const evidence of latestEvidence(after)) samples.push(...this.metricSamples(release, evidence));
    this.mirror(key, samples);

    this.startCounters(namespace, name);
    const seen = new Set((before?.decisions ?? []).map((d) => `${d.time}|${d.message}`));
    const fresh = (after.decisions ?? []).filter((d) => !seen.has(`${d.time}|${d.message}`));
    for (const d of fresh) this.decisions.inc({ namespace, name, action: d.action });
    for (const verdict of newAnalyses(before, after, fresh))
      this.analyses.inc({ namespace, name, result: verdict });
  }

  /** The info series' labels: what this reconcile saw, else what an earlier one saw. */
  private infoLabels(key: string, release: Labels, sighting: ReleaseSighting | undefined): Labels {
    if (!sighting) return this.sightings.get(key) ?? { ...release, router: ROUTER };
    const labels: Labels = {
      ...release,
      service: sighting.service,
      router: ROUTER,
      // Prometheus drops a label whose value is empty: a side not yet deployed has no revision label
      stable_revision: sighting.reported.stable ?? '',
      canary_revision: sighting.reported.canary ?? '',
      revision_label: sighting.analysis?.revisionLabel ?? REVISION_LABELS[0],
      reporter: sighting.analysis?.reporter ?? 'destination',
    };
    this.sightings.set(key, labels);
    return labels;
  }

  private metricSamples(release: Labels, evidence: MetricEvidence): Sample[] {
    const labels = { ...release, metric: evidence.metric };
    const samples: Sample[] = VERDICTS.map((verdict) => ({
      gauge: this.metricVerdict,
      labels: { ...labels, verdict },
      value: evidence.verdict === verdict ? 1 : 0,
    }));
    const add = (gauge: Gauge, extra: Labels, value: number | null | undefined) => {
      if (value !== undefined && value !== null && !Number.isNaN(value))
        samples.push({ gauge, labels: { ...labels, ...extra }, value });
    };
    add(this.metricBound, {}, evidence.bound);
    for (const role of ROLES) {
      const side = evidence[role];
      add(this.metricValue, { role }, side?.value);
      add(this.metricRequests, { role }, side?.total);
      add(this.metricErrors, { role }, side?.errors);
      add(this.metricSlow, { role }, side?.slow);
    }
    const { sequential } = evidence;
    if (sequential) {
      add(this.metricEValue, {}, sequential.eValue);
      add(this.metricEValueThreshold, {}, sequential.threshold);
      add(this.metricRateRatio, {}, sequential.ratio);
      add(this.metricRateRatioLow, {}, sequential.ratioLow);
      add(this.metricRateRatioHigh, {}, sequential.ratioHigh);
    }
    return samples;
  }

  /** Sets a release's gauges to `samples` and removes the series it set before and no longer has. */
  private mirror(key: string, samples: readonly Sample[]): void {
    const previous = this.mirrored.get(key) ?? new Map<string, Sample>();
    const next = new Map<string, Sample>();
    for (const sample of samples) {
      sample.gauge.set(sample.labels, sample.value);
      next.set(seriesId(sample), sample);
    }
    for (const [id, old] of previous) if (!next.has(id)) old.gauge.remove(old.labels);
    if (next.size) this.mirrored.set(key, next);
    else this.mirrored.delete(key);
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
    const key = `${namespace}/${name}`;
    this.mirror(key, []);
    this.sightings.delete(key);
    for (const action of DECISION_ACTIONS) this.decisions.remove({ namespace, name, action });
    for (const result of VERDICTS) this.analyses.remove({ namespace, name, result });
    this.counted.delete(key);
  }
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

/** Identifies a series by its gauge and labels (label order as set, which a release keeps stable). */
function seriesId(sample: Sample): string {
  return `${(sample.gauge as unknown as { name: string }).name}${JSON.stringify(sample.labels)}`;
}
