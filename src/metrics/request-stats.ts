/**
 * Per-revision request statistics from Istio's standard metrics, batched: one PromQL query serves
 * every release of a namespace, grouped by service and revision.
 *
 * Windows. A release's window runs from its step's start to now, so releases differ in window length,
 * and `increase(x[L])` takes one length per selector. Each window is rounded DOWN to a whole multiple
 * of the window granularity (default 1m), so it never reaches back before its step started (into
 * traffic at another weight), at the price of ignoring up to one granularity of the step's oldest
 * requests. Releases with the same rounded window share one arm of the query; the arms of a namespace
 * are joined with `or` into ONE query, each arm tagged with its window by `label_replace`, at most
 * MAX_WINDOWS_PER_QUERY arms per query. One analysis tick therefore issues, per (namespace, reporter,
 * revision label, evaluation time) and per family (requests; slow requests per distinct latency bound;
 * latency per distinct quantile), ceil(distinct windows / MAX_WINDOWS_PER_QUERY) queries: with the
 * default granularity and steps of up to 16 minutes, one query per family per namespace, whatever the
 * number of releases.
 *
 * Known limit, shared with every `increase`-based tool: a series born inside the window (the first
 * 503 of a pod, say) is first seen already counting, and `increase` cannot count that first sample.
 * The loss is at most one scrape interval's worth per new series.
 */
import { DEFAULT_ERROR_RULES, GRPC_CODES, type CompleteErrorRules } from '../api/analysis-template.js';
import type { AnalysisSpec } from '../api/canary-release.js';
import type { RequestCounts, ResolvedMetric } from '../analysis/types.js';
import type { InstantSample } from './prometheus-client.js';
import { oneOf, quote, selector } from './promql.js';

export const REQUESTS_TOTAL = 'istio_requests_total';
export const DURATION_BUCKET = 'istio_request_duration_milliseconds_bucket';
export const SERVICE_LABEL = 'destination_service_name';
export const NAMESPACE_LABEL = 'destination_service_namespace';
const WINDOW_LABEL = 'canaria_window';
export const MAX_WINDOWS_PER_QUERY = 16;
export const ISTIO_DEFAULT_BOUNDS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];

export type RevisionLabel = AnalysisSpec['revisionLabel'];
export type Reporter = AnalysisSpec['reporter'];

/** A kind of batched query; several metrics may read the same family. */
export type StatsFamily =
  | { kind: 'requests' }
  | { kind: 'slowRequests'; thresholdMs: number }
  | { kind: 'quantile'; quantile: number };

/** What all releases in one batched query share. */
export interface StatsScope {
  namespace: string;
  reporter: Reporter;
  revisionLabel: RevisionLabel;
  /** Evaluation time, epoch milliseconds. */
  time: number;
}

export const GRPC_STATUS_LABEL = 'grpc_response_status';

/**
 * Which requests count as errors, compiled for the client-side classification of grouped series: an
 * HTTP code or class, any Envoy response flag, or a gRPC status that is listed. The rules never enter
 * PromQL (only the fixed label names they group by do), so a release's rules cannot change a query.
 */
export interface ErrorRule {
  /** Exact codes (`429`) and classes by their first digit (`5` for `5xx`). */
  httpCodes: ReadonlySet<string>;
  httpClasses: ReadonlySet<string>;
  responseFlags: ReadonlySet<string>;
  /** gRPC statuses as the numbers Istio reports in grpc_response_status. */
  grpcCodes: ReadonlySet<string>;
  /** The rule as written, for evidence. */
  source: CompleteErrorRules;
}

export function compileErrorRule(rules: CompleteErrorRules = DEFAULT_ERROR_RULES): ErrorRule {
  const classes = rules.httpCodes.filter((c) => c.endsWith('xx')).map((c) => c.charAt(0));
  return {
    httpCodes: new Set(rules.httpCodes.filter((c) => !c.endsWith('xx'))),
    httpClasses: new Set(classes),
    responseFlags: new Set(rules.responseFlags),
    grpcCodes: new Set(rules.grpcCodes.map((name) => String(GRPC_CODES[name]))),
    source: rules,
  };
}

/** The labels a query must group by so that `rule` can tell errors apart in its answer. */
export function errorLabels(rule: ErrorRule): string[] {
  return [
    'response_code',
    ...(rule.responseFlags.size ? ['response_flags'] : []),
    ...(rule.grpcCodes.size ? [GRPC_STATUS_LABEL] : []),
  ];
}

/** The rule in a line, for the evidence: `response_code 5xx, 429; grpc UNAVAILABLE (14)`. */
export function describeErrorRule(rule: ErrorRule): string {
  const { httpCodes, responseFlags, grpcCodes } = rule.source;
  const parts = [`response_code ${httpCodes.length ? httpCodes.join(', ') : 'none'}`];
  if (responseFlags.length) parts.push(`response_flags ${responseFlags.join(', ')}`);
  if (grpcCodes.length) {
    parts.push(`${GRPC_STATUS_LABEL} ${grpcCodes.map((n) => `${n} (${GRPC_CODES[n]})`).join(', ')}`);
  }
  return `errors: ${parts.join('; ')}`;
}

/** The batched family a built-in metric reads; undefined for custom PromQL. */
export function familyOf(metric: ResolvedMetric): StatsFamily | undefined {
  switch (metric.type) {
    case 'errorRatio':
    case 'successRate':
      return { kind: 'requests' };
    case 'slowRatio':
      return { kind: 'slowRequests', thresholdMs: metric.latencyThresholdMs ?? Number.NaN };
    case 'latencyQuantile':
      return { kind: 'quantile', quantile: metric.quantile ?? 0.99 };
    case 'promql':
      return undefined;
  }
}

/** The release's window rounded down to whole granules, in seconds; 0 means no full granule yet. */
export function windowSeconds(windowStart: Date, now: Date, granularityMs: number): number {
  const elapsed = now.getTime() - windowStart.getTime();
  if (elapsed < granularityMs) return 0;
  return (Math.floor(elapsed / granularityMs) * granularityMs) / 1000;
}

export function familyKey(family: StatsFamily): string {
  switch (family.kind) {
    case 'requests':
      return family.kind;
    case 'slowRequests':
      return `${family.kind}:${family.thresholdMs}`;
    case 'quantile':
      return `${family.kind}:${family.quantile}`;
  }
}

function scopeKey(scope: StatsScope): string {
  return JSON.stringify([scope.namespace, scope.reporter, scope.revisionLabel, scope.time]);
}

function groupingLabels(family: StatsFamily, scope: StatsScope, byError: readonly string[]): string[] {
  const labels = [SERVICE_LABEL, scope.revisionLabel];
  if (family.kind === 'quantile') return [...labels, 'le'];
  // Errors are told apart here, from the codes, so one series set gives totals and errors alike.
  return family.kind === 'slowRequests' ? [...labels, 'le', ...byError] : [...labels, ...byError];
}

/**
 * The PromQL for one window and the given services, grouped by `byError` (see errorLabels); also the
 * evidence query of a single release.
 */
export function statsExpression(
  family: StatsFamily,
  scope: StatsScope,
  window: number,
  services: readonly string[],
  byError: readonly string[] = ['response_code'],
): string {
  const metric = family.kind === 'requests' ? REQUESTS_TOTAL : DURATION_BUCKET;
  const grouping = groupingLabels(family, scope, byError).join(', ');
  const reported = (reporter: string) => {
    const series = selector(metric, [
      { label: 'reporter', op: '=', value: reporter },
      { label: NAMESPACE_LABEL, op: '=', value: scope.namespace },
      oneOf(SERVICE_LABEL, services),
      // Only the bucket at the bound and the count: a tenth of the series, which is most of the cost.
      ...(family.kind === 'slowRequests' ? [oneOf('le', [...boundLabels(family.thresholdMs), '+Inf'])] : []),
    ]);
    return `sum by (${grouping}) (increase(${series}[${window}s]))`;
  };
  const sum = scope.reporter === 'auto' ? autoReported(reported, scope) : reported(scope.reporter);
  return family.kind === 'quantile' ? `histogram_quantile(${family.quantile}, ${sum})` : sum;
}

/**
 * `reporter: auto`, the default: each request once, from the proxy that serves its destination. A
 * pod with a sidecar reports `destination`; in ambient mode a sidecar-less pod has no proxy of its
 * own and its Service's waypoint reports `waypoint` (ztunnel reports TCP only). A request through a
 * waypoint to a pod that also has a sidecar is reported by both, so waypoint reports count only for
 * a (service, revision) that has no destination reports: the sidecar, nearest to the pod, wins.
 */
function autoReported(reported: (reporter: string) => string, scope: StatsScope): string {
  const destination = reported('destination');
  return `(${destination} or (${reported('waypoint')} unless on (${SERVICE_LABEL}, ${scope.revisionLabel}) ${destination}))`;
}

/** `le` as Prometheus 2 stores it (`500`, as exposed) and as Prometheus 3 normalises it (`500.0`). */
function boundLabels(thresholdMs: number): string[] {
  const plain = String(thresholdMs);
  return Number.isInteger(thresholdMs) ? [plain, `${plain}.0`] : [plain];
}

/** One window's releases inside a batched query. */
export interface QueryArm {
  window: number;
  services: string[];
}

export interface PlannedQuery {
  family: StatsFamily;
  scope: StatsScope;
  arms: QueryArm[];
  text: string;
}

/** One release's need for one family over its rounded window. */
export interface StatsNeed {
  family: StatsFamily;
  scope: StatsScope;
  window: number;
  service: string;
  /** The error rule of the metric; the query groups by what every rule of its batch needs. */
  rule: ErrorRule;
}

export function needKey(need: Omit<StatsNeed, 'service' | 'rule'>): string {
  return `${familyKey(need.family)} ${scopeKey(need.scope)} ${need.window}`;
}

/**
 * Groups needs into batched queries. `queryOf` maps each need's key to the index of the query that
 * answers it.
 */
export function planQueries(needs: readonly StatsNeed[]): {
  queries: PlannedQuery[];
  queryOf: Map<string, number>;
} {
  const groups = new Map<
    string,
    { family: StatsFamily; scope: StatsScope; windows: Map<number, Set<string>>; byError: Set<string> }
  >();
  for (const need of needs) {
    const key = `${familyKey(need.family)} ${scopeKey(need.scope)}`;
    let group = groups.get(key);
    if (!group) {
      group = { family: need.family, scope: need.scope, windows: new Map(), byError: new Set() };
      groups.set(key, group);
    }
    // releases with different rules share the query: it groups by the union of what they need
    for (const label of errorLabels(need.rule)) group.byError.add(label);
    let services = group.windows.get(need.window);
    if (!services) {
      services = new Set();
      group.windows.set(need.window, services);
    }
    services.add(need.service);
  }
  const queries: PlannedQuery[] = [];
  const queryOf = new Map<string, number>();
  for (const { family, scope, windows, byError } of groups.values()) {
    const labels = [...byError];
    const arms = [...windows.entries()]
      .sort(([a], [b]) => a - b)
      .map(([window, services]) => ({ window, services: [...services].sort() }));
    for (let start = 0; start < arms.length; start += MAX_WINDOWS_PER_QUERY) {
      const chunk = arms.slice(start, start + MAX_WINDOWS_PER_QUERY);
      const text = chunk
        .map(
          (arm) =>
            `label_replace(${statsExpression(family, scope, arm.window, arm.services, labels)}, ${quote(WINDOW_LABEL)}, ${quote(String(arm.window))}, "", "")`,
        )
        .join(' or ');
      for (const arm of chunk) queryOf.set(needKey({ family, scope, window: arm.window }), queries.length);
      queries.push({ family, scope, arms: chunk, text });
    }
  }
  return { queries, queryOf };
}

/** The requests of one grouped series: how they ended, and how many there were. */
export interface Outcome {
  code: string;
  flags: string;
  grpc: string;
  count: number;
}

/** Raw sums for one (window, service, revision) cell of a batched answer. */
export interface StatsCell {
  total: number;
  /** The requests by outcome, so that each release's rule classifies the same answer its own way. */
  outcomes: Outcome[];
  /** slowRequests: requests no slower than the bound (the bucket at the bound); undefined if not a bound. */
  fast: number | undefined;
  /** quantile: the value; NaN when there was nothing to rank. */
  value: number;
}

export type StatsIndex = Map<string, StatsCell>;

export function cellKey(window: number, service: string, revision: string): string {
  return JSON.stringify([window, service, revision]);
}

/** Folds a batched answer into cells by window, service and revision. */
export function indexSamples(
  family: StatsFamily,
  scope: StatsScope,
  samples: readonly InstantSample[],
): StatsIndex {
  const index: StatsIndex = new Map();
  for (const { labels, value } of samples) {
    const window = Number(labels[WINDOW_LABEL]);
    const key = cellKey(window, labels[SERVICE_LABEL] ?? '', labels[scope.revisionLabel] ?? '');
    let cell = index.get(key);
    if (!cell) {
      cell = { total: 0, outcomes: [], fast: undefined, value: Number.NaN };
      index.set(key, cell);
    }
    if (family.kind === 'quantile') {
      cell.value = value;
      continue;
    }
    if (family.kind === 'slowRequests' && labels.le !== '+Inf') {
      if (Number(labels.le) === family.thresholdMs) cell.fast = (cell.fast ?? 0) + value;
      continue;
    }
    cell.total += value;
    cell.outcomes.push({
      code: labels.response_code ?? '',
      flags: labels.response_flags ?? '',
      grpc: labels[GRPC_STATUS_LABEL] ?? '',
      count: value,
    });
  }
  return index;
}

/** An error by its HTTP code, any of its response flags (Istio joins them with commas), or its gRPC status. */
export function isError(outcome: Omit<Outcome, 'count'>, rule: ErrorRule): boolean {
  if (rule.httpCodes.has(outcome.code) || rule.httpClasses.has(httpClass(outcome.code))) return true;
  if (rule.grpcCodes.size && outcome.grpc !== '' && rule.grpcCodes.has(outcome.grpc)) return true;
  return (
    rule.responseFlags.size > 0 && outcome.flags.split(',').some((f) => rule.responseFlags.has(f.trim()))
  );
}

const httpClass = (code: string): string => (/^[1-5][0-9]{2}$/.test(code) ? code.charAt(0) : '');

/** `increase` extrapolates, so counts arrive as floats; a request is whole. */
export function requestCounts(cell: StatsCell | undefined, rule: ErrorRule): RequestCounts {
  if (!cell) return { total: 0, errors: 0 };
  const errors = cell.outcomes.reduce((sum, o) => (isError(o, rule) ? sum + o.count : sum), 0);
  const total = Math.max(0, Math.round(cell.total));
  return { total, errors: Math.min(total, Math.max(0, Math.round(errors))) };
}

export type SlowCounts = { ok: true; counts: RequestCounts } | { ok: false; message: string };

/** Slow requests are the count minus the bucket at the bound, so the bound must be a bucket bound. */
export function slowCounts(cell: StatsCell | undefined, thresholdMs: number, rule: ErrorRule): SlowCounts {
  if (!cell) return { ok: true, counts: { total: 0, errors: 0, slow: 0 } };
  if (cell.fast === undefined) {
    return {
      ok: false,
      message: `latencyThresholdMs ${thresholdMs} is not a bucket bound of ${DURATION_BUCKET}; Istio's default bounds are ${ISTIO_DEFAULT_BOUNDS.join(', ')}`,
    };
  }
  const { total, errors } = requestCounts(cell, rule);
  return {
    ok: true,
    counts: { total, errors, slow: Math.min(total, Math.max(0, Math.round(cell.total - cell.fast))) },
  };
}

/** NaN means histogram_quantile had nothing to rank: no data, not a number to judge. */
export function quantileValue(cell: StatsCell | undefined): number | null {
  return cell === undefined || Number.isNaN(cell.value) ? null : cell.value;
}
