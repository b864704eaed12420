import {
  DEFAULT_ERROR_RULES,
  mergeErrorRules,
  type CompleteErrorRules,
  type ErrorRules,
} from '../api/analysis-template.js';
import { LIMITS, truncate } from '../api/limits.js';
import type { Measurement, MeasurementError, ResolvedMetric } from '../analysis/types.js';
import { customMeasurement } from './custom-query.js';
import { diagnoseReporters, ofService, reporterProbeQueries } from './reporters.js';
import { toMeasurementError } from './errors.js';
import type { InstantSample, PrometheusApi } from './prometheus-client.js';
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
/** How long a Service's reporter probe stands before it is asked again. */
const PROBE_EVERY_MS = 5 * 60_000;

interface Probe {
  at: number;
  service: string;
  requests: InstantSample[];
  tcp: InstantSample[];
}

type QueryOutcome = { ok: true; index: StatsIndex } | { ok: false; error: MeasurementError };

/** Measures releases on Prometheus: built-in metrics batched per namespace, custom PromQL per release. */
export class PrometheusProvider implements MetricsProvider {
  private readonly granularityMs: number;
  private readonly concurrency: number;
  private readonly defaultRules: CompleteErrorRules;
  /** The last reporter probe of each namespace/Service that saw no requests. */
  private readonly probed = new Map<string, Probe>();
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
          for (const service of servicesOf(request)) {
            needs.push({ ...this.locate(request, metric, family), service, rule: this.ruleOf(metric) });
          }
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
    await this.explainSilence(requests, out, limit, signal);
    return out;
  }

  /**
   * For releases whose built-in metrics saw no request at all: asks who reports the Services' traffic,
   * and notes on their measurements when no proxy reports requests (ambient mode without a waypoint)
   * or only another reporter does. Two queries per namespace with such releases, at most once per
   * Service every PROBE_EVERY_MS; none while requests are seen.
   */
  private async explainSilence(
    requests: readonly MeasurementRequest[],
    out: Measurements,
    limit: <T>(task: () => Promise<T>) => Promise<T>,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    const builtIn = (request: MeasurementRequest) =>
      request.metrics.filter((m) => familyOf(m) !== undefined).map((m) => out.get(request.key)?.get(m.name));
    const silent = requests.filter((request) => {
      const measured = builtIn(request);
      return measured.length > 0 && measured.every((m) => m !== undefined && isSilent(m));
    });
    const due = new Map<string, { services: Set<string>; window: number; time: Date }>();
    for (const request of silent) {
      const seconds = Math.max(
        ...request.metrics.map((m) =>
          windowSeconds(windowStartOf(request, m), request.now, this.granularityMs),
        ),
      );
      for (const service of servicesOf(request)) {
        const known = this.probed.get(`${request.namespace}/${service}`);
        if (seconds <= 0 || (known && request.now.getTime() - known.at < PROBE_EVERY_MS)) continue;
        const group = due.get(request.namespace) ?? { services: new Set(), window: 0, time: request.now };
        group.services.add(service);
        group.window = Math.max(group.window, seconds);
        due.set(request.namespace, group);
      }
    }
    await Promise.all(
      [...due].map(async ([namespace, group]) => {
        const services = [...group.services].sort();
        const q = reporterProbeQueries(namespace, services, group.window);
        const [seen, tcp] = await Promise.all([
          limit(() => this.api.query(q.requests, group.time, signal)).catch(() => undefined),
          limit(() => this.api.query(q.tcp, group.time, signal)).catch(() => undefined),
        ]);
        if (seen?.type !== 'vector' || tcp?.type !== 'vector') return; // a courtesy: try again next time
        for (const service of services) {
          this.probed.set(`${namespace}/${service}`, {
            at: group.time.getTime(),
            service,
            requests: ofService(seen.samples, service),
            tcp: ofService(tcp.samples, service),
          });
        }
      }),
    );
    for (const request of silent) {
      const notes = servicesOf(request).flatMap((service) => {
        const known = this.probed.get(`${request.namespace}/${service}`);
        if (!known) return [];
        const d = diagnoseReporters(service, request.reporter, known.requests, known.tcp);
        return d.kind === 'no-l7-reporter' || d.kind === 'other-reporter' ? [d.message] : [];
      });
      if (!notes.length) continue;
      const byMetric = out.get(request.key);
      for (const metric of request.metrics) {
        const m = byMetric?.get(metric.name);
        if (familyOf(metric) && m && m.kind !== 'error')
          byMetric?.set(metric.name, { ...m, note: notes.join('; ') });
      }
    }
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
          ? statsExpression(family, scope, window, servicesOf(request))
          : `${statsExpression(family, scope, window, servicesOf(request), errorLabels(rule))} # ${describeErrorRule(rule)}`
        : undefined;
    const withQuery = <M extends Measurement>(m: M): M =>
      query === undefined ? m : { ...m, query: truncate(query, LIMITS.evidenceQuery) };
    if (outcome && !outcome.ok) return withQuery({ kind: 'error', error: outcome.error });
    const cell = (service: string, revision: string) =>
      outcome?.ok ? outcome.index.get(cellKey(window, service, revision)) : undefined;
    const canary = cell(request.service, request.canaryRevision);
    const stable = cell(request.stableService ?? request.service, request.stableRevision);
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

/** No request on either side (or no value of a quantile): what a Service nobody reports looks like. */
function isSilent(m: Measurement): boolean {
  if (m.kind === 'requests') return m.canary.total === 0 && m.stable.total === 0;
  if (m.kind === 'scalar') return m.canary === null && m.stable === null;
  return false;
}

/** The Services a request's two sides are measured under: one, or the canary's and the stable's. */
const servicesOf = (request: MeasurementRequest): string[] =>
  request.stableService === undefined || request.stableService === request.service
    ? [request.service]
    : [request.service, request.stableService].sort();

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
