import { describe, expect, it } from 'vitest';
import { NOW, fakeApi, metric, release } from '../../test/harness/metrics-fixtures.js';
import { MetricsBackendError } from './errors.js';
import type { InstantSample, QueryResult } from './prometheus-client.js';
import { PrometheusProvider } from './prometheus-provider.js';

const vector = (samples: InstantSample[]): QueryResult => ({ type: 'vector', samples });
const requestsRow = (service: string, revision: string, code: string, value: number, window = '300') => ({
  labels: {
    canaria_window: window,
    destination_service_name: service,
    destination_canonical_revision: revision,
    response_code: code,
  },
  value,
});

/** The reporter probe's two queries, sent only for releases that saw no request at all. */
const isProbe = (q: string) =>
  q.includes('by (destination_service_name, reporter)') || q.includes('istio_tcp_connections_opened_total');
const statsQueries = (queries: string[]) => queries.filter((q) => !isProbe(q));

const builtIns = [
  metric({ name: 'error-ratio', type: 'errorRatio' }),
  metric({ name: 'slow-ratio', type: 'slowRatio', latencyThresholdMs: 500 }),
  metric({ name: 'p99', type: 'latencyQuantile', quantile: 0.99 }),
];

describe('PrometheusProvider', () => {
  it('issues one query per family per namespace for 1,000 releases in 10 namespaces', async () => {
    const api = fakeApi(() => vector([]));
    const requests = Array.from({ length: 1000 }, (_, i) =>
      release({
        namespace: `ns-${i % 10}`,
        name: `svc-${i}`,
        // Windows from 1 to 10 minutes: ten arms per query.
        windowStart: new Date(NOW.getTime() - 60_000 * (1 + (i % 10)) - 5_000),
        metrics: builtIns,
      }),
    );
    const measured = await new PrometheusProvider(api).measure(requests);
    expect(statsQueries(api.queries)).toHaveLength(10 * 3);
    // nothing was seen anywhere: one reporter probe (two queries) per namespace
    expect(api.queries.filter(isProbe)).toHaveLength(10 * 2);
    expect(measured.size).toBe(1000);
    expect(measured.get('ns-3/svc-3')?.get('error-ratio')).toMatchObject({
      kind: 'requests',
      canary: { total: 0, errors: 0 },
      stable: { total: 0, errors: 0 },
    });
  });

  it('hands each release its own service and revisions from the shared answer', async () => {
    const api = fakeApi(() =>
      vector([
        requestsRow('reviews', 'v1', '200', 990),
        requestsRow('reviews', 'v1', '503', 10),
        requestsRow('reviews', 'v2', '200', 95),
        requestsRow('reviews', 'v2', '503', 5),
        requestsRow('ratings', 'v1', '200', 50),
        requestsRow('ratings', 'v7', '500', 50),
      ]),
    );
    const measured = await new PrometheusProvider(api).measure([
      release(),
      release({ name: 'ratings', canaryRevision: 'v7' }),
    ]);
    expect(api.queries).toHaveLength(1);
    expect(measured.get('shop/reviews')?.get('error-ratio')).toEqual({
      kind: 'requests',
      canary: { total: 100, errors: 5 },
      stable: { total: 1000, errors: 10 },
      query:
        'sum by (destination_service_name, destination_canonical_revision, response_code, grpc_response_status) (increase(istio_requests_total{reporter="destination",destination_service_namespace="shop",destination_service_name="reviews"}[300s])) # errors: response_code 5xx; grpc_response_status UNKNOWN (2), DEADLINE_EXCEEDED (4), INTERNAL (13), UNAVAILABLE (14), DATA_LOSS (15)',
    });
    expect(measured.get('shop/ratings')?.get('error-ratio')).toMatchObject({
      canary: { total: 50, errors: 50 },
      stable: { total: 50, errors: 0 },
    });
  });

  it("classifies one shared answer by each metric's rules, over the controller's", async () => {
    const row = (revision: string, code: string, grpc: string, value: number) => ({
      labels: { ...requestsRow('reviews', revision, code, value).labels, grpc_response_status: grpc },
      value,
    });
    const api = fakeApi(() =>
      vector([
        row('v1', '200', '0', 990),
        row('v1', '429', '', 10),
        row('v2', '200', '0', 80),
        row('v2', '200', '14', 15),
        row('v2', '429', '', 5),
      ]),
    );
    const provider = new PrometheusProvider(api, { errors: { httpCodes: ['5xx'], grpcCodes: [] } });
    const measured = await provider.measure([
      release({
        metrics: [
          metric({ name: 'controller-rules', type: 'errorRatio' }),
          metric({ name: 'with-429', type: 'errorRatio', errors: { httpCodes: ['5xx', '429'] } }),
          metric({ name: 'with-grpc', type: 'errorRatio', errors: { grpcCodes: ['UNAVAILABLE'] } }),
        ],
      }),
    ]);
    expect(api.queries).toHaveLength(1);
    expect(api.queries[0]).toContain('response_code, grpc_response_status)');
    const of = (name: string) => measured.get('shop/reviews')?.get(name);
    expect(of('controller-rules')).toMatchObject({
      canary: { total: 100, errors: 0 },
      stable: { errors: 0 },
    });
    expect(of('with-429')).toMatchObject({ canary: { total: 100, errors: 5 }, stable: { errors: 10 } });
    expect(of('with-grpc')).toMatchObject({ canary: { total: 100, errors: 15 }, stable: { errors: 0 } });
    expect(of('with-429')?.query).toMatch(/ # errors: response_code 5xx, 429$/);
  });

  it('asks nothing for a window shorter than one granule, and reports no traffic', async () => {
    const api = fakeApi(() => vector([]));
    const measured = await new PrometheusProvider(api).measure([
      release({ windowStart: new Date(NOW.getTime() - 30_000), metrics: builtIns }),
    ]);
    expect(api.queries).toEqual([]);
    expect(Object.fromEntries(measured.get('shop/reviews') ?? [])).toEqual({
      'error-ratio': { kind: 'requests', canary: { total: 0, errors: 0 }, stable: { total: 0, errors: 0 } },
      'slow-ratio': {
        kind: 'requests',
        canary: { total: 0, errors: 0, slow: 0 },
        stable: { total: 0, errors: 0, slow: 0 },
      },
      p99: { kind: 'scalar', canary: null, stable: null },
    });
  });

  it('turns a failed query into error measurements for its releases only', async () => {
    const api = fakeApi((q) =>
      q.includes('"broken"')
        ? new MetricsBackendError('Timeout', 'no answer within 10000 ms', { retryable: true })
        : vector([]),
    );
    const measured = await new PrometheusProvider(api).measure([
      release({ namespace: 'broken' }),
      release({ namespace: 'fine' }),
    ]);
    expect(measured.get('broken/reviews')?.get('error-ratio')).toMatchObject({
      kind: 'error',
      error: { code: 'Timeout', retryable: true },
    });
    expect(measured.get('fine/reviews')?.get('error-ratio')?.kind).toBe('requests');
  });

  it('says so when a slow-request bound is not a bucket bound', async () => {
    const api = fakeApi(() =>
      vector(
        // Prometheus keeps only le="500" and le="+Inf"; a histogram without a 500 bucket leaves the count.
        ['+Inf'].map((le) => ({
          labels: {
            canaria_window: '300',
            destination_service_name: 'reviews',
            destination_canonical_revision: 'v2',
            le,
            response_code: '200',
          },
          value: 1,
        })),
      ),
    );
    const measured = await new PrometheusProvider(api).measure([release({ metrics: [builtIns[1]!] })]);
    const slow = measured.get('shop/reviews')?.get('slow-ratio');
    expect(slow).toMatchObject({ kind: 'error', error: { code: 'BadQuery' } });
    expect(slow?.kind === 'error' && slow.error.message).toMatch(
      /latencyThresholdMs 500 is not a bucket bound/,
    );
  });

  it('runs custom PromQL per release beside the batched queries', async () => {
    const api = fakeApi((q) => (q.startsWith('sum by') ? vector([]) : vector([{ labels: {}, value: 0.5 }])));
    const measured = await new PrometheusProvider(api).measure([
      release({
        metrics: [
          builtIns[0]!,
          metric({ name: 'custom', type: 'promql', query: 'avg(x{r="{{ revision }}"})' }),
        ],
      }),
    ]);
    expect(statsQueries(api.queries)).toHaveLength(3);
    expect(measured.get('shop/reviews')?.get('custom')).toEqual({
      kind: 'scalar',
      canary: 0.5,
      stable: 0.5,
      query: 'avg(x{r="v2"})',
    });
  });

  it('keeps at most maxConcurrentQueries in flight', async () => {
    let inFlight = 0;
    let peak = 0;
    const api = {
      async query() {
        inFlight++;
        peak = Math.max(peak, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 5));
        inFlight--;
        return vector([]);
      },
      queryRange: () => Promise.reject(new Error('not used')),
    };
    const requests = Array.from({ length: 20 }, (_, i) => release({ namespace: `ns-${i}` }));
    await new PrometheusProvider(api, { maxConcurrentQueries: 3 }).measure(requests);
    expect(peak).toBe(3);
  });

  it('says in the measurement why there is no data when only TCP is reported (ambient without a waypoint), and probes once per Service per 5 minutes', async () => {
    const api = fakeApi((q) =>
      q.includes('istio_tcp_connections_opened_total')
        ? vector([{ labels: { destination_service_name: 'reviews' }, value: 42 }])
        : vector([]),
    );
    const provider = new PrometheusProvider(api);
    const first = await provider.measure([release({ metrics: builtIns })]);
    const errorRatio = first.get('shop/reviews')?.get('error-ratio');
    expect(errorRatio).toMatchObject({ kind: 'requests', canary: { total: 0 } });
    expect(errorRatio?.kind === 'requests' && errorRatio.note).toMatch(
      /TCP traffic but no proxy reports its requests.*waypoint/,
    );
    expect(api.queries.filter(isProbe)).toHaveLength(2);
    // a minute later: the standing probe answers, no new probe query
    await provider.measure([release({ metrics: builtIns, now: new Date(NOW.getTime() + 60_000) })]);
    expect(api.queries.filter(isProbe)).toHaveLength(2);
  });

  it('sends no probe while requests are seen', async () => {
    const api = fakeApi(() =>
      vector([requestsRow('reviews', 'v1', '200', 10), requestsRow('reviews', 'v2', '200', 1)]),
    );
    await new PrometheusProvider(api).measure([release()]);
    expect(api.queries.filter(isProbe)).toEqual([]);
  });

  it('refuses a granularity that is not whole seconds', () => {
    expect(
      () =>
        new PrometheusProvider(
          fakeApi(() => vector([])),
          { windowGranularityMs: 1500 },
        ),
    ).toThrow(/windowGranularityMs must be a whole number of seconds/);
  });
});
