import {
  DEFAULT_ERROR_RULES,
  mergeErrorRules,
  type CompleteErrorRules,
  type ErrorRules,
} from '../api/analysis-template.js';
import { LIMITS, truncate } from '../api/limits.js';
import type { Measurement, MeasurementError, ResolvedMetric } from '../analysis/types.js';
import { customMeasurement } from './custom-query.js';
import { toMeasurementError } from './errors.js';
import type { PrometheusApi } from './prometheus-client.js';
import {
  windowStartOf,
  type MeasurementRequest,
  type Measurements,
  type MetricsProvider,
} from './provider.js';
import {
  cellKey,
  compileErrorRule,
  describeErrorRule,
  errorLabels,
  familyOf,
  indexSamples,
  needKey,
  planQueries,
  quantileValue,
  requestCounts,
  slowCounts,
  statsExpression,
  windowSeconds,
  type ErrorRule,
  type PlannedQuery,
  type StatsFamily,
  type StatsIndex,
  type StatsNeed,
  type StatsScope,
} from './request-stats.js';

export interface PrometheusProviderOptions {
  /** Which requests count as errors unless a release or a metric says otherwise (the --error-* flags). */
  errors?: ErrorRules;
  /** Windows are rounded down to a multiple of this (whole seconds); keep it <= the shortest analysis interval. */
  windowGranularityMs?: number;
  /** Queries in flight at once against the backend. */
  maxConcurrentQueries?: number;
}

export const DEFAULT_WINDOW_GRANULARITY_MS = 60_000;
const DEFAULT_CONCURRENCY = 4;

type QueryOutcome = { ok: true; index: StatsIndex } | { ok: false; error: MeasurementError };

/** Measures releases on Prometheus: built-in metrics batched per namespace, custom PromQL per release. */
export class PrometheusProvider implements MetricsProvider {
  private readonly granularityMs: number;
  private readonly concurrency: number;
  private readonly defaultRules: CompleteErrorRules;
  private readonly rules = new Map<string, ErrorRule>();

  constructor(
    private readonly api: PrometheusApi,
    options: PrometheusProviderOptions = {},
  ) {
    this.granularityMs = options.windowGranularityMs ?? DEFAULT_WINDOW_GRANULARITY_MS;
    if (this.granularityMs < 1000 || this.granularityMs % 1000 !== 0) {
      throw new Error(`windowGranularityMs must be a whole number of seconds, got ${this.granularityMs}`);
    }
    this.concurrency = options.maxConcurrentQueries ?? DEFAULT_CONCURRENCY;
    this.defaultRules = mergeErrorRules(DEFAULT_ERROR_RULES, options.errors);
  }

  /** The metric's error rule: its own lists (already over the release's), then the controller's. */
  private ruleOf(metric: ResolvedMetric): ErrorRule {
    const rules = mergeErrorRules(this.defaultRules, metric.errors);
    const key = JSON.stringify(rules);
    let rule = this.rules.get(key);
    if (!rule) {
      rule = compileErrorRule(rules);
      this.rules.set(key, rule);
    }
    return rule;
  }

  async measure(requests: readonly MeasurementRequest[], signal?: AbortSignal): Promise<Measurements> {
    const needs: StatsNeed[] = [];
    const custom: { request: MeasurementRequest; metric: ResolvedMetric }[] = [];
    for (const request of requests) {
      for (const metric of request.metrics) {
        const family = familyOf(metric);
        if (!family) custom.push({ request, metric });
        else
          needs.push({
            ...this.locate(request, metric, family),
            service: request.service,
            rule: this.ruleOf(metric),
          });
      }
    }
    const plan = planQueries(needs.filter((n) => n.window > 0));

    const limit = limiter(this.concurrency);
    const [statsOutcomes, customResults] = await Promise.all([
      Promise.all(plan.queries.map((query) => limit(() => this.runStatsQuery(query, signal)))),
      Promise.all(
        custom.map(({ request, metric }) =>
          limit(() => customMeasurement(this.api, request, metric, signal)),
        ),
      ),
    ]);

    const out: Measurements = new Map();
    const put = (request: MeasurementRequest, metric: ResolvedMetric, measurement: Measurement) => {
      let byMetric = out.get(request.key);
      if (!byMetric) {
        byMetric = new Map();
        out.set(request.key, byMetric);
      }
      byMetric.set(metric.name, measurement);
    };
    custom.forEach(({ request, metric }, i) => {
      const measurement = customResults[i];
      if (measurement) put(request, metric, measurement);
    });
    for (const request of requests) {
      for (const metric of request.metrics) {
        const family = familyOf(metric);
        if (!family) continue;
        const where = this.locate(request, metric, family);
        const queryIndex = plan.queryOf.get(needKey(where));
        const outcome = queryIndex === undefined ? undefined : statsOutcomes[queryIndex];
        put(request, metric, this.builtInMeasurement(request, where, this.ruleOf(metric), outcome));
      }
    }
    return out;
  }

  private async runStatsQuery(query: PlannedQuery, signal: AbortSignal | undefined): Promise<QueryOutcome> {
    try {
      const result = await this.api.query(query.text, new Date(query.scope.time), signal);
      if (result.type !== 'vector') {
        const message = `a batched query answered a ${result.type}, not a vector`;
        return { ok: false, error: { code: 'Malformed', message, retryable: false } };
      }
      return { ok: true, index: indexSamples(query.family, query.scope, result.samples) };
    } catch (err) {
      return { ok: false, error: toMeasurementError(err) };
    }
  }

  private locate(request: MeasurementRequest, metric: ResolvedMetric, family: StatsFamily) {
    const scope: StatsScope = {
      namespace: request.namespace,
      reporter: request.reporter,
      revisionLabel: request.revisionLabel,
      time: request.now.getTime(),
    };
    const start = windowStartOf(request, metric);
    return { family, scope, window: windowSeconds(start, request.now, this.granularityMs) };
  }

  private builtInMeasurement(
    request: MeasurementRequest,
    { family, scope, window }: { family: StatsFamily; scope: StatsScope; window: number },
    rule: ErrorRule,
    // Undefined when the window is shorter than one granule: nothing was asked, nothing was seen.
    outcome: QueryOutcome | undefined,
  ): Measurement {
    // the evidence query of this release alone; a comment says which outcomes it counted as errors
    const query =
      window > 0
        ? family.kind === 'quantile'
          ? statsExpression(family, scope, window, [request.service])
          : `${statsExpression(family, scope, window, [request.service], errorLabels(rule))} # ${describeErrorRule(rule)}`
        : undefined;
    const withQuery = <M extends Measurement>(m: M): M =>
      query === undefined ? m : { ...m, query: truncate(query, LIMITS.evidenceQuery) };
    if (outcome && !outcome.ok) return withQuery({ kind: 'error', error: outcome.error });
    const cell = (revision: string) =>
      outcome?.ok ? outcome.index.get(cellKey(window, request.service, revision)) : undefined;
    const canary = cell(request.canaryRevision);
    const stable = cell(request.stableRevision);
    switch (family.kind) {
      case 'requests':
        return withQuery({
          kind: 'requests',
          canary: requestCounts(canary, rule),
          stable: requestCounts(stable, rule),
        });
      case 'quantile':
        return withQuery({ kind: 'scalar', canary: quantileValue(canary), stable: quantileValue(stable) });
      case 'slowRequests': {
        const threshold = family.thresholdMs;
        const notABound = (message: string) =>
          withQuery({ kind: 'error', error: { code: 'BadQuery', message, retryable: false } } as const);
        const canaryCounts = slowCounts(canary, threshold, rule);
        if (!canaryCounts.ok) return notABound(canaryCounts.message);
        const stableCounts = slowCounts(stable, threshold, rule);
        if (!stableCounts.ok) return notABound(stableCounts.message);
        return withQuery({ kind: 'requests', canary: canaryCounts.counts, stable: stableCounts.counts });
      }
    }
  }
}

/** Runs at most `n` tasks at once, in the order they were submitted. */
function limiter(n: number): <T>(task: () => Promise<T>) => Promise<T> {
  let active = 0;
  const waiting: (() => void)[] = [];
  return async <T>(task: () => Promise<T>): Promise<T> => {
    // A finishing task hands its slot straight to the next waiter, so `active` never overshoots.
    if (active >= n) await new Promise<void>((resolve) => waiting.push(resolve));
    else active++;
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else active--;
    }
  };
}
