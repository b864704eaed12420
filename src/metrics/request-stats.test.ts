import { describe, expect, it } from 'vitest';
import { nodesNamed, parsePromql } from '../../test/harness/promql-grammar.js';
import { DEFAULT_ERROR_RULES, GRPC_CODE_NAMES, type CompleteErrorRules } from '../api/analysis-template.js';
import type { InstantSample } from './prometheus-client.js';
import {
  MAX_WINDOWS_PER_QUERY,
  cellKey,
  compileErrorRule,
  describeErrorRule,
  errorLabels,
  indexSamples,
  planQueries,
  quantileValue,
  requestCounts,
  slowCounts,
  statsExpression,
  windowSeconds,
  type StatsFamily,
  type StatsNeed,
  type StatsScope,
} from './request-stats.js';

const scope = (over: Partial<StatsScope> = {}): StatsScope => ({
  namespace: 'shop',
  reporter: 'destination',
  revisionLabel: 'destination_canonical_revision',
  time: 1_700_000_000_000,
  ...over,
});
const requests: StatsFamily = { kind: 'requests' };
const slow500: StatsFamily = { kind: 'slowRequests', thresholdMs: 500 };
const rule = compileErrorRule();
const HTTP_ONLY = compileErrorRule({ httpCodes: ['5xx'], responseFlags: [], grpcCodes: [] });
const need = (service: string, window: number, over: Partial<StatsNeed> = {}): StatsNeed => ({
  family: requests,
  scope: scope(),
  window,
  service,
  rule,
  ...over,
});

describe('windowSeconds', () => {
  const start = new Date('2024-01-01T00:00:00Z');
  const at = (ms: number) => new Date(start.getTime() + ms);

  it('rounds down to whole granules so the window never reaches before the step', () => {
    expect(windowSeconds(start, at(59_999), 60_000)).toBe(0);
    expect(windowSeconds(start, at(60_000), 60_000)).toBe(60);
    expect(windowSeconds(start, at(179_000), 60_000)).toBe(120);
    expect(windowSeconds(start, at(12_345), 1000)).toBe(12);
  });

  it('gives no window when now is before the start', () => {
    expect(windowSeconds(start, at(-5000), 1000)).toBe(0);
  });
});

describe('planQueries', () => {
  it('serves every release of a namespace with one query per family', () => {
    const needs = [
      ...Array.from({ length: 100 }, (_, i) => need(`svc-${i}`, 60 * (1 + (i % 5)))),
      ...Array.from({ length: 100 }, (_, i) => need(`svc-${i}`, 60 * (1 + (i % 5)), { family: slow500 })),
      ...Array.from({ length: 100 }, (_, i) =>
        need(`svc-${i}`, 60, { scope: scope({ namespace: 'other' }) }),
      ),
    ];
    const { queries, queryOf } = planQueries(needs);
    expect(queries).toHaveLength(3);
    expect(queries.map((q) => q.arms.length).sort()).toEqual([1, 5, 5]);
    expect(new Set(queryOf.values())).toEqual(new Set([0, 1, 2]));
  });

  it('splits by revision label, reporter and evaluation time, which a query cannot mix', () => {
    const { queries } = planQueries([
      need('a', 60),
      need('a', 60, { scope: scope({ revisionLabel: 'destination_version' }) }),
      need('a', 60, { scope: scope({ reporter: 'source' }) }),
      need('a', 60, { scope: scope({ time: 1_700_000_060_000 }) }),
    ]);
    expect(queries).toHaveLength(4);
  });

  it(`puts at most ${MAX_WINDOWS_PER_QUERY} windows in one query`, () => {
    const needs = Array.from({ length: MAX_WINDOWS_PER_QUERY + 1 }, (_, i) => need('a', 60 * (i + 1)));
    const { queries } = planQueries(needs);
    expect(queries.map((q) => q.arms.length)).toEqual([MAX_WINDOWS_PER_QUERY, 1]);
  });

  it('writes valid PromQL, one tagged arm per window, each a single selector even for a hostile service', () => {
    const hostile = 'a"} or vector(1) #';
    const { queries } = planQueries([need(hostile, 60), need('reviews', 60), need('ratings', 120)]);
    const [query] = queries;
    const parsed = parsePromql(query?.text ?? '');
    expect(parsed.errors).toEqual([]);
    expect(nodesNamed(parsed, 'VectorSelector')).toHaveLength(2);
    expect(nodesNamed(parsed, 'FunctionIdentifier').filter((f) => f === 'vector')).toEqual([]);
    expect(query?.text).toContain('destination_service_name=~"a\\"\\\\} or vector\\\\(1\\\\) #|reviews"');
    expect(query?.text).toContain('label_replace(');
  });
});

describe('statsExpression', () => {
  it('under reporter auto counts waypoint reports only where no sidecar reports the revision', () => {
    const destination =
      'sum by (destination_service_name, destination_canonical_revision, response_code) (increase(istio_requests_total{reporter="destination",destination_service_namespace="shop",destination_service_name="reviews"}[300s]))';
    const waypoint = destination.replace('reporter="destination"', 'reporter="waypoint"');
    expect(
      statsExpression(requests, scope({ reporter: 'auto' }), 300, ['reviews'], errorLabels(HTTP_ONLY)),
    ).toBe(
      `(${destination} or (${waypoint} unless on (destination_service_name, destination_canonical_revision) ${destination}))`,
    );
  });

  it('is the per-release evidence query: by service and revision over the rounded window', () => {
    expect(statsExpression(requests, scope(), 300, ['reviews'], errorLabels(HTTP_ONLY))).toBe(
      'sum by (destination_service_name, destination_canonical_revision, response_code) (increase(istio_requests_total{reporter="destination",destination_service_namespace="shop",destination_service_name="reviews"}[300s]))',
    );
    expect(
      statsExpression({ kind: 'quantile', quantile: 0.99 }, scope(), 60, ['reviews'], errorLabels(rule)),
    ).toMatch(
      /^histogram_quantile\(0\.99, sum by \(destination_service_name, destination_canonical_revision, le\)/,
    );
  });

  it('reads only the bucket at the bound and the count for slow requests, in either le format', () => {
    const query = statsExpression(slow500, scope(), 60, ['a'], errorLabels(rule));
    expect(query).toContain('le=~"500|500\\\\.0|\\\\+Inf"');
    expect(parsePromql(query).errors).toEqual([]);
    expect(statsExpression({ kind: 'slowRequests', thresholdMs: 0.5 }, scope(), 60, ['a'])).toContain(
      'le=~"0\\\\.5|\\\\+Inf"',
    );
  });

  it('groups by response_flags and grpc_response_status only when a rule reads them', () => {
    const labelsOf = (rules: Partial<CompleteErrorRules>) =>
      errorLabels(compileErrorRule({ ...DEFAULT_ERROR_RULES, ...rules }));
    expect(labelsOf({ grpcCodes: [] })).toEqual(['response_code']);
    expect(labelsOf({ grpcCodes: [], responseFlags: ['UF'] })).toEqual(['response_code', 'response_flags']);
    expect(labelsOf({})).toEqual(['response_code', 'grpc_response_status']);
    expect(
      statsExpression(requests, scope(), 60, ['a'], labelsOf({ responseFlags: ['UF', 'URX'] })),
    ).toContain('response_code, response_flags, grpc_response_status)');
  });

  it('groups a batch by what any of its rules needs, and no more', () => {
    const flags = compileErrorRule({ ...DEFAULT_ERROR_RULES, grpcCodes: [], responseFlags: ['UF'] });
    const plain = planQueries([need('a', 60, { rule: HTTP_ONLY }), need('b', 60, { rule: HTTP_ONLY })]);
    expect(plain.queries[0]?.text).toContain(
      'by (destination_service_name, destination_canonical_revision, response_code)',
    );
    const mixed = planQueries([
      need('a', 60, { rule: HTTP_ONLY }),
      need('b', 120, { rule: flags }),
      need('c', 60),
    ]);
    expect(mixed.queries).toHaveLength(1);
    expect(
      mixed.queries[0]?.text.match(/response_code, response_flags, grpc_response_status\)/g),
    ).toHaveLength(2);
    expect(parsePromql(mixed.queries[0]?.text ?? '').errors).toEqual([]);
  });
});

const sample = (labels: Record<string, string>, value: number): InstantSample => ({
  labels: { canaria_window: '60', destination_service_name: 'reviews', ...labels },
  value,
});
const rev = (r: string) => ({ destination_canonical_revision: r });

describe('indexSamples and counts', () => {
  it('sums codes into totals and errors per revision, rounding the extrapolated floats', () => {
    const index = indexSamples(requests, scope(), [
      sample({ ...rev('v1'), response_code: '200' }, 995.4),
      sample({ ...rev('v1'), response_code: '503' }, 4.6),
      sample({ ...rev('v1'), response_code: '404' }, 10),
      sample({ ...rev('v2'), response_code: '200' }, 190),
      sample({ ...rev('v2'), response_code: '500' }, 10),
    ]);
    expect(requestCounts(index.get(cellKey(60, 'reviews', 'v1')), rule)).toEqual({ total: 1010, errors: 5 });
    expect(requestCounts(index.get(cellKey(60, 'reviews', 'v2')), rule)).toEqual({ total: 200, errors: 10 });
  });

  it('reads no series as no traffic, not as an error', () => {
    expect(requestCounts(undefined, rule)).toEqual({ total: 0, errors: 0 });
    expect(slowCounts(undefined, 500, rule)).toEqual({ ok: true, counts: { total: 0, errors: 0, slow: 0 } });
    expect(quantileValue(undefined)).toBeNull();
  });

  it('counts configured codes, classes, response flags and gRPC statuses as errors, each rule its own way', () => {
    const custom = compileErrorRule({
      httpCodes: ['5xx', '429'],
      responseFlags: ['UF', 'URX'],
      grpcCodes: ['UNAVAILABLE'],
    });
    const index = indexSamples(requests, scope(), [
      sample({ ...rev('v1'), response_code: '429', response_flags: '-' }, 3),
      sample({ ...rev('v1'), response_code: '200', response_flags: 'UF,URX' }, 2),
      sample({ ...rev('v1'), response_code: '503', response_flags: '-' }, 1),
      sample({ ...rev('v1'), response_code: '200', grpc_response_status: '14' }, 4),
      sample({ ...rev('v1'), response_code: '200', grpc_response_status: '5' }, 6),
      sample({ ...rev('v1'), response_code: '200', grpc_response_status: '0' }, 10),
      sample({ ...rev('v1'), response_code: '200', response_flags: '-' }, 74),
    ]);
    const cell = index.get(cellKey(60, 'reviews', 'v1'));
    expect(requestCounts(cell, custom)).toEqual({ total: 100, errors: 10 });
    // the same answer under the default: 5xx and the default gRPC statuses (14 is UNAVAILABLE, 5 NOT_FOUND)
    expect(requestCounts(cell, rule)).toEqual({ total: 100, errors: 5 });
    expect(requestCounts(cell, HTTP_ONLY)).toEqual({ total: 100, errors: 1 });
  });

  it('never reads an HTTP request (no grpc_response_status) as a gRPC failure', () => {
    const all = compileErrorRule({ httpCodes: [], responseFlags: [], grpcCodes: [...GRPC_CODE_NAMES] });
    const index = indexSamples(requests, scope(), [sample({ ...rev('v1'), response_code: '200' }, 50)]);
    expect(requestCounts(index.get(cellKey(60, 'reviews', 'v1')), all)).toEqual({ total: 50, errors: 0 });
  });

  it('describes the rule it counted with, for the evidence', () => {
    expect(describeErrorRule(rule)).toBe(
      'errors: response_code 5xx; grpc_response_status UNKNOWN (2), DEADLINE_EXCEEDED (4), INTERNAL (13), UNAVAILABLE (14), DATA_LOSS (15)',
    );
    expect(
      describeErrorRule(compileErrorRule({ httpCodes: ['429'], responseFlags: ['UF'], grpcCodes: [] })),
    ).toBe('errors: response_code 429; response_flags UF');
  });

  it('takes slow requests as the count minus the bucket at the bound', () => {
    const index = indexSamples(slow500, scope(), [
      sample({ ...rev('v2'), le: '250', response_code: '200' }, 80),
      sample({ ...rev('v2'), le: '500', response_code: '200' }, 90),
      sample({ ...rev('v2'), le: '+Inf', response_code: '200' }, 100),
      sample({ ...rev('v2'), le: '500', response_code: '503' }, 2),
      sample({ ...rev('v2'), le: '+Inf', response_code: '503' }, 2),
    ]);
    expect(slowCounts(index.get(cellKey(60, 'reviews', 'v2')), 500, rule)).toEqual({
      ok: true,
      counts: { total: 102, errors: 2, slow: 10 },
    });
  });

  it('says so when the bound is not a bucket bound: the count arrives without its bucket', () => {
    const index = indexSamples({ kind: 'slowRequests', thresholdMs: 300 }, scope(), [
      sample({ ...rev('v2'), le: '+Inf', response_code: '200' }, 100),
    ]);
    const notABound = slowCounts(index.get(cellKey(60, 'reviews', 'v2')), 300, rule);
    expect(notABound.ok).toBe(false);
    if (!notABound.ok) {
      expect(notABound.message).toMatch(
        /^latencyThresholdMs 300 is not a bucket bound of istio_request_duration_milliseconds_bucket; Istio's default bounds are 0\.5, 1, 5, 10, 25, 50, 100, 250, 500,/,
      );
    }
  });

  it('reads bucket bounds written as floats (Prometheus 3 normalises le="500" to "500.0")', () => {
    const index = indexSamples(slow500, scope(), [
      sample({ ...rev('v1'), le: '500.0', response_code: '200' }, 9),
      sample({ ...rev('v1'), le: '+Inf', response_code: '200' }, 10),
    ]);
    expect(slowCounts(index.get(cellKey(60, 'reviews', 'v1')), 500, rule)).toEqual({
      ok: true,
      counts: { total: 10, errors: 0, slow: 1 },
    });
  });

  it('treats a NaN quantile as no data', () => {
    const family: StatsFamily = { kind: 'quantile', quantile: 0.99 };
    const index = indexSamples(family, scope(), [sample(rev('v1'), Number.NaN), sample(rev('v2'), 245)]);
    expect(quantileValue(index.get(cellKey(60, 'reviews', 'v1')))).toBeNull();
    expect(quantileValue(index.get(cellKey(60, 'reviews', 'v2')))).toBe(245);
  });
});
