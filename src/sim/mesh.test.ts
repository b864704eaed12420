import { describe, expect, it } from 'vitest';
import type { ResolvedMetric } from '../analysis/types.js';
import { resolvedMetric } from '../../test/builders/metrics.js';
import type { MeasurementRequest } from '../metrics/provider.js';
import {
  bucketProbabilities,
  emptyBuckets,
  histogramQuantile,
  ISTIO_LATENCY_BUCKETS_MS,
  slowerThan,
} from './histogram.js';
import { logNormalCdf, piecewiseCdf } from './latency.js';
import { MeshMetricsProvider } from './mesh-metrics.js';
import { SimulatedMesh } from './mesh.js';
import { binomial, createRng, multinomial } from './rng.js';

const bucketsOf = (latencies: number[]) => {
  const buckets = emptyBuckets();
  for (const latency of latencies) {
    const found = ISTIO_LATENCY_BUCKETS_MS.findIndex((bound) => latency <= bound);
    const i = found < 0 ? ISTIO_LATENCY_BUCKETS_MS.length : found;
    buckets[i] = (buckets[i] ?? 0) + 1;
  }
  return buckets;
};

describe('histogram', () => {
  it('interpolates quantiles like histogram_quantile and counts slow requests by bucket', () => {
    // 4 of 5 in (25, 50], 1 in (250, 500]
    const buckets = bucketsOf([30, 30, 30, 40, 300]);
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(25 + (25 * 2.5) / 4);
    expect(histogramQuantile(0.99, buckets)).toBeCloseTo(250 + 250 * 0.95);
    expect(slowerThan(buckets, 250)).toBe(1);
    expect(histogramQuantile(0.5, emptyBuckets())).toBeNull();
  });
});

describe('latency distributions', () => {
  it('a log-normal has the median and 99th percentile it was given', () => {
    const cdf = logNormalCdf(40, 200);
    expect(cdf(40)).toBeCloseTo(0.5, 6);
    expect(cdf(200)).toBeCloseTo(0.99, 4);
    const shares = bucketProbabilities(cdf);
    expect(shares).toHaveLength(ISTIO_LATENCY_BUCKETS_MS.length + 1);
    expect(shares.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
  });

  it('a quantile list is replayed: linear between the points, on with the last slope', () => {
    const cdf = piecewiseCdf([
      { q: 0.99, ms: 400 },
      { q: 0.5, ms: 100 },
    ]);
    expect(cdf(50)).toBeCloseTo(0.25);
    expect(cdf(100)).toBeCloseTo(0.5);
    expect(cdf(250)).toBeCloseTo(0.745);
    expect(cdf(400)).toBeCloseTo(0.99);
    expect(cdf(406.2)).toBe(1);
  });
});

describe('binomial and multinomial draws', () => {
  it('have the right mean, exact for small counts and approximate for large ones', () => {
    const rng = createRng(5);
    const mean = (n: number, p: number, draws = 2000) => {
      let sum = 0;
      for (let i = 0; i < draws; i++) sum += binomial(rng, n, p);
      return sum / draws;
    };
    expect(mean(300, 0.005)).toBeCloseTo(1.5, 0);
    expect(mean(100_000, 0.02)).toBeCloseTo(2000, -1);
    expect(mean(10, 0.9)).toBeCloseTo(9, 0);
    expect(binomial(rng, 0, 0.5)).toBe(0);
    expect(binomial(rng, 7, 1)).toBe(7);
    const split = multinomial(rng, 1000, [1, 0, 3]);
    expect(split.reduce((a, b) => a + b, 0)).toBe(1000);
    expect(split[1]).toBe(0);
  });
});

describe('MeshMetricsProvider: the metrics port answered from the simulated mesh', () => {
  const metric = (m: Partial<ResolvedMetric> & Pick<ResolvedMetric, 'type'>): ResolvedMetric =>
    resolvedMetric({ name: m.type, judge: { type: 'threshold', max: 1 }, minSamples: 0, ...m });
  const t0 = Date.parse('2026-01-05T10:00:00Z');
  const request = (metrics: ResolvedMetric[], windowMs: number): MeasurementRequest => ({
    key: 'default/reviews',
    name: 'reviews',
    namespace: 'default',
    service: 'reviews',
    canaryRevision: 'v2',
    stableRevision: 'v1',
    windowStart: new Date(t0 + 10 * 60_000 - windowMs),
    now: new Date(t0 + 10 * 60_000),
    metrics,
    revisionLabel: 'destination_canonical_revision',
    reporter: 'destination',
  });
  const mesh = new SimulatedMesh(createRng(1));
  const shares = bucketProbabilities(logNormalCdf(40, 200));
  for (let s = 5; s <= 600; s += 5) {
    mesh.serve('v1', 100, { errorRate: 0, bucketShares: shares }, t0 + s * 1000);
    mesh.serve('v2', 10, { errorRate: 1, bucketShares: shares }, t0 + s * 1000);
  }

  it('counts requests per revision over the window rounded down to whole minutes, like the Prometheus adapter', async () => {
    const answer = await new MeshMetricsProvider(mesh).measure([
      request([metric({ type: 'errorRatio' })], 150_000),
    ]);
    // 2m30s is measured as the last 2 minutes: 24 slices
    expect(answer.get('default/reviews')?.get('errorRatio')).toEqual({
      kind: 'requests',
      canary: { total: 240, errors: 240 },
      stable: { total: 2400, errors: 0 },
    });
    const short = await new MeshMetricsProvider(mesh).measure([
      request([metric({ type: 'errorRatio' })], 30_000),
    ]);
    expect(short.get('default/reviews')?.get('errorRatio')).toMatchObject({
      canary: { total: 0 },
      stable: { total: 0 },
    });
  });

  it('answers quantiles and slow counts from the histogram, and refuses what Prometheus could not answer', async () => {
    const metrics = [
      metric({ name: 'p99', type: 'latencyQuantile', quantile: 0.99 }),
      metric({ name: 'slow', type: 'slowRatio', latencyThresholdMs: 250 }),
      metric({ name: 'odd-bound', type: 'slowRatio', latencyThresholdMs: 300 }),
      metric({ name: 'custom', type: 'promql', query: 'vector(1)' }),
    ];
    const answer = (await new MeshMetricsProvider(mesh).measure([request(metrics, 600_000)])).get(
      'default/reviews',
    );
    const p99 = answer?.get('p99');
    expect(p99?.kind === 'scalar' && p99.stable).toBeGreaterThan(150);
    expect(p99?.kind === 'scalar' && p99.stable).toBeLessThan(250);
    const slow = answer?.get('slow');
    expect(slow?.kind === 'requests' && (slow.stable.slow ?? 0) / slow.stable.total).toBeLessThan(0.02);
    expect(answer?.get('odd-bound')).toMatchObject({
      kind: 'error',
      error: { code: 'BadQuery', retryable: false },
    });
    const custom = answer?.get('custom');
    expect(custom?.kind === 'error' && custom.error.code).toBe('BadQuery');
    expect(custom?.kind === 'error' && custom.error.message).toMatch(
      /cannot be simulated without Prometheus/,
    );
  });
});
