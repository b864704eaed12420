import { LIMITS, truncate } from '../api/limits.js';
import type { Measurement, MeasurementError, ResolvedMetric } from '../analysis/types.js';
import { toMeasurementError } from './errors.js';
import type { PrometheusApi, QueryResult } from './prometheus-client.js';
import { windowStartOf, type MeasurementRequest } from './provider.js';
import { renderTemplate, type PlaceholderValue, type RenderResult } from './promql.js';

const REVISION_PLACEHOLDER = /\{\{\s*revision\s*\}\}/;

/** Whether the query is per revision; one without `{{ revision }}` measures the canary only. */
export function usesRevision(query: string): boolean {
  return REVISION_PLACEHOLDER.test(query);
}

/**
 * Renders a custom metric's query for one revision. Placeholders: `{{ revision }}`, `{{ namespace }}`,
 * `{{ service }}`, `{{ name }}`, `{{ reporter }}`, `{{ window }}` (the step's window as whole seconds,
 * e.g. `300s`), `{{ revisionLabel }}` (a label name, usable outside quotes) and `{{ args.NAME }}`.
 */
export function renderCustomQuery(
  request: MeasurementRequest,
  metric: ResolvedMetric,
  revision: string,
): RenderResult {
  const windowSeconds = Math.max(
    1,
    Math.floor((request.now.getTime() - windowStartOf(request, metric).getTime()) / 1000),
  );
  const values = new Map<string, PlaceholderValue>([
    ['revision', { value: revision }],
    ['namespace', { value: request.namespace }],
    ['service', { value: request.service }],
    ['name', { value: request.name }],
    // a label matcher takes one value; a custom query that must count waypoints sets reporter: waypoint
    ['reporter', { value: request.reporter === 'auto' ? 'destination' : request.reporter }],
    ['window', { value: `${windowSeconds}s` }],
    ['revisionLabel', { value: request.revisionLabel, labelName: true }],
  ]);
  for (const [name, value] of Object.entries(metric.args)) values.set(`args.${name}`, { value });
  return renderTemplate(metric.query ?? '', values);
}

export type ScalarOutcome = { ok: true; value: number | null } | { ok: false; error: MeasurementError };

/**
 * A custom query must yield one number. An empty vector or NaN is no data (null); several series
 * are ambiguous, because picking one would judge the wrong thing.
 */
export function scalarFromResult(result: QueryResult): ScalarOutcome {
  switch (result.type) {
    case 'scalar':
      return { ok: true, value: Number.isNaN(result.value) ? null : result.value };
    case 'vector': {
      const [first, ...rest] = result.samples;
      if (!first) return { ok: true, value: null };
      if (rest.length === 0) return { ok: true, value: Number.isNaN(first.value) ? null : first.value };
      const shown = result.samples.slice(0, 3).map((s) => describeLabels(s.labels));
      return {
        ok: false,
        error: {
          code: 'Ambiguous',
          message: `the query returned ${result.samples.length} series (${shown.join(', ')}${result.samples.length > 3 ? ', ...' : ''}) where one was expected; aggregate it, e.g. sum(...), or select one series`,
          retryable: false,
        },
      };
    }
    case 'matrix':
    case 'string':
      return {
        ok: false,
        error: {
          code: 'BadQuery',
          message: `the query returned a ${result.type === 'matrix' ? 'range vector' : 'string'}; a metric needs one number, e.g. sum(rate(x[{{ window }}]))`,
          retryable: false,
        },
      };
  }
}

function describeLabels(labels: Record<string, string>): string {
  return `{${Object.entries(labels)
    .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
    .join(', ')}}`;
}

/** Runs a custom metric for the canary and, when the query is per revision, for the stable revision. */
export async function customMeasurement(
  api: PrometheusApi,
  request: MeasurementRequest,
  metric: ResolvedMetric,
  signal?: AbortSignal,
): Promise<Measurement> {
  const canaryQuery = renderCustomQuery(request, metric, request.canaryRevision);
  if (!canaryQuery.ok) return badTemplate(metric, canaryQuery.message);
  const perRevision = usesRevision(metric.query ?? '');
  const stableQuery = perRevision ? renderCustomQuery(request, metric, request.stableRevision) : undefined;
  if (stableQuery && !stableQuery.ok) return badTemplate(metric, stableQuery.message);
  // the evidence keeps the query as far as a status can hold it; the full text is what was sent
  const query = truncate(canaryQuery.query, LIMITS.evidenceQuery);
  try {
    // One after the other, so a caller's concurrency limit counts queries, not metrics.
    const canaryResult = await api.query(canaryQuery.query, request.now, signal);
    const stableResult = stableQuery?.ok
      ? await api.query(stableQuery.query, request.now, signal)
      : undefined;
    const canary = scalarFromResult(canaryResult);
    if (!canary.ok) return { kind: 'error', error: canary.error, query };
    const stable = stableResult ? scalarFromResult(stableResult) : { ok: true as const, value: null };
    if (!stable.ok) return { kind: 'error', error: stable.error, query };
    return { kind: 'scalar', canary: canary.value, stable: stable.value, query };
  } catch (err) {
    return { kind: 'error', error: toMeasurementError(err), query };
  }
}

function badTemplate(metric: ResolvedMetric, message: string): Measurement {
  return {
    kind: 'error',
    error: {
      code: 'BadQuery',
      message: truncate(`metric ${metric.name} (${metric.source}): ${message}`, LIMITS.issue),
      retryable: false,
    },
  };
}
