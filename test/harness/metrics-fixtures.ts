/** Fixture builders shared by the metrics tests. */
import { resolvedMetric as metric } from '../builders/metrics.js';
import type { PrometheusApi, QueryResult } from '../../src/metrics/prometheus-client.js';
import type { MeasurementRequest } from '../../src/metrics/provider.js';

export const NOW = new Date('2024-05-01T12:00:00Z');

export { metric };

export function release(over: Partial<MeasurementRequest> = {}): MeasurementRequest {
  const namespace = over.namespace ?? 'shop';
  const name = over.name ?? 'reviews';
  return {
    key: `${namespace}/${name}`,
    name,
    namespace,
    service: name,
    canaryRevision: 'v2',
    stableRevision: 'v1',
    windowStart: new Date(NOW.getTime() - 300_000),
    now: NOW,
    metrics: [metric({ name: 'error-ratio', type: 'errorRatio' })],
    revisionLabel: 'destination_canonical_revision',
    reporter: 'destination',
    ...over,
  };
}

/** A PrometheusApi that records queries and answers from a function. */
export function fakeApi(
  answer: (query: string) => QueryResult | Error,
): PrometheusApi & { queries: string[] } {
  const queries: string[] = [];
  return {
    queries,
    query(expr) {
      queries.push(expr);
      const result = answer(expr);
      return result instanceof Error ? Promise.reject(result) : Promise.resolve(result);
    },
    queryRange() {
      return Promise.reject(new Error('not used'));
    },
  };
}

/** Counts the queries a tick sends. */
export function counting(api: PrometheusApi): PrometheusApi & { count: number } {
  const counter = {
    count: 0,
    query: (...args: Parameters<PrometheusApi['query']>) => {
      counter.count++;
      return api.query(...args);
    },
    queryRange: api.queryRange.bind(api),
  };
  return counter;
}
