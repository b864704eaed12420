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

/** Which requests count as errors: `response_code` matching `codes`, or `response_flags` matching `flags`. */
export interface ErrorRule {
  codes: RegExp;
  flags?: RegExp;
}

export interface ErrorRuleSpec {
  /** An anchored regular expression on `response_code`; `5..` by default. */
  errorCodes?: string;
  /** An anchored regular expression on Envoy's `response_flags`, e.g. `UF|UO|URX|NR`. */
  errorResponseFlags?: string;
}

export function compileErrorRule(spec: ErrorRuleSpec): ErrorRule {
  const compile = (field: string, source: string) => {
    try {
      return new RegExp(`^(?:${source})$`);
    } catch (err) {
      throw new Error(`${field} "${source}" is not a valid regular expression: ${(err as Error).message}`);
    }
  };
  const codes = compile('errorCodes', spec.errorCodes ?? '5..');
  return spec.errorResponseFlags === undefined
    ? { codes }
    : { codes, flags: compile('errorResponseFlags', spec.errorResponseFlags) };
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

function groupingLabels(family: StatsFamily, scope: StatsScope, rule: ErrorRule): string[] {
  const labels = [SERVICE_LABEL, scope.revisionLabel];
  if (family.kind === 'quantile') return [...labels, 'le'];
  // Errors are told apart here, from the codes, so one series set gives totals and errors alike.
  const byError = rule.flags ? ['response_code', 'response_flags'] : ['response_code'];
  return family.kind === 'slowRequests' ? [...labels, 'le', ...byError] : [...labels, ...byError];
}

/** The PromQL for one window and the given services; also the evidence query of a single release. */
export function statsExpression(
  family: StatsFamily,
  scope: StatsScope,
  window: number,
  services: readonly string[],
  rule: ErrorRule,
): string {
  const metric = family.kind === 'requests' ? REQUESTS_TOTAL : DURATION_BUCKET;
  const series = selector(metric, [
    { label: 'reporter', op: '=', value: scope.reporter },
    { label: NAMESPACE_LABEL, op: '=', value: scope.namespace },
    oneOf(SERVICE_LABEL, services),
    // Only the bucket at the bound and the count: a tenth of the series, which is most of the cost.
    ...(family.kind === 'slowRequests' ? [oneOf('le', [...boundLabels(family.thresholdMs), '+Inf'])] : []),
  ]);
  const sum = `sum by (${groupingLabels(family, scope, rule).join(', ')}) (increase(${series}[${window}s]))`;
  return family.kind === 'quantile' ? `histogram_quantile(${family.quantile}, ${sum})` : sum;
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
}

export function needKey(need: Omit<StatsNeed, 'service'>): string {
  return `${familyKey(need.family)} ${scopeKey(need.scope)} ${need.window}`;
}

/**
 * Groups needs into batched queries. `queryOf` maps each need's key to the index of the query that
 * answers it.
 */
export function planQueries(
  needs: readonly StatsNeed[],
  rule: ErrorRule,
): { queries: PlannedQuery[]; queryOf: Map<string, number> } {
  const groups = new Map<
    string,
    { family: StatsFamily; scope: StatsScope; windows: Map<number, Set<string>> }
  >();
  for (const need of needs) {
    const key = `${familyKey(need.family)} ${scopeKey(need.scope)}`;
    let group = groups.get(key);
    if (!group) {
      group = { family: need.family, scope: need.scope, windows: new Map() };
      groups.set(key, group);
    }
    let services = group.windows.get(need.window);
    if (!services) {
      services = new Set();
      group.windows.set(need.window, services);
    }
    services.add(need.service);
  }
  const queries: PlannedQuery[] = [];
  const queryOf = new Map<string, number>();
  for (const { family, scope, windows } of groups.values()) {
    const arms = [...windows.entries()]
      .sort(([a], [b]) => a - b)
      .map(([window, services]) => ({ window, services: [...services].sort() }));
    for (let start = 0; start < arms.length; start += MAX_WINDOWS_PER_QUERY) {
      const chunk = arms.slice(start, start + MAX_WINDOWS_PER_QUERY);
      const text = chunk
        .map(
          (arm) =>
            `label_replace(${statsExpression(family, scope, arm.window, arm.services, rule)}, ${quote(WINDOW_LABEL)}, ${quote(String(arm.window))}, "", "")`,
        )
        .join(' or ');
      for (const arm of chunk) queryOf.set(needKey({ family, scope, window: arm.window }), queries.length);
      queries.push({ family, scope, arms: chunk, text });
    }
  }
  return { queries, queryOf };
}

/** Raw sums for one (window, service, revision) cell of a batched answer. */
export interface StatsCell {
  total: number;
  errors: number;
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
  rule: ErrorRule,
): StatsIndex {
  const index: StatsIndex = new Map();
  for (const { labels, value } of samples) {
    const window = Number(labels[WINDOW_LABEL]);
    const key = cellKey(window, labels[SERVICE_LABEL] ?? '', labels[scope.revisionLabel] ?? '');
    let cell = index.get(key);
    if (!cell) {
      cell = { total: 0, errors: 0, fast: undefined, value: Number.NaN };
      index.set(key, cell);
    }
    if (family.kind === 'quantile') {
      cell.value = value;
      continue;
    }
    const error = isError(labels, rule);
    if (family.kind === 'requests') {
      cell.total += value;
      if (error) cell.errors += value;
      continue;
    }
    if (labels.le === '+Inf') {
      cell.total += value;
      if (error) cell.errors += value;
    } else if (Number(labels.le) === family.thresholdMs) {
      cell.fast = (cell.fast ?? 0) + value;
    }
  }
  return index;
}

function isError(labels: Record<string, string>, rule: ErrorRule): boolean {
  return (
    rule.codes.test(labels.response_code ?? '') || (rule.flags?.test(labels.response_flags ?? '') ?? false)
  );
}

/** `increase` extrapolates, so counts arrive as floats; a request is whole. */
export function requestCounts(cell: StatsCell | undefined): RequestCounts {
  if (!cell) return { total: 0, errors: 0 };
  const total = Math.max(0, Math.round(cell.total));
  return { total, errors: Math.min(total, Math.max(0, Math.round(cell.errors))) };
}

export type SlowCounts = { ok: true; counts: RequestCounts } | { ok: false; message: string };

/** Slow requests are the count minus the bucket at the bound, so the bound must be a bucket bound. */
export function slowCounts(cell: StatsCell | undefined, thresholdMs: number): SlowCounts {
  if (!cell) return { ok: true, counts: { total: 0, errors: 0, slow: 0 } };
  if (cell.fast === undefined) {
    return {
      ok: false,
      message: `latencyThresholdMs ${thresholdMs} is not a bucket bound of ${DURATION_BUCKET}; Istio's default bounds are ${ISTIO_DEFAULT_BOUNDS.join(', ')}`,
    };
  }
  const { total, errors } = requestCounts(cell);
  return {
    ok: true,
    counts: { total, errors, slow: Math.min(total, Math.max(0, Math.round(cell.total - cell.fast))) },
  };
}

/** NaN means histogram_quantile had nothing to rank: no data, not a number to judge. */
export function quantileValue(cell: StatsCell | undefined): number | null {
  return cell === undefined || Number.isNaN(cell.value) ? null : cell.value;
}
