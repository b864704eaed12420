import { ISTIO_DEFAULT_BOUNDS } from '../metrics/request-stats.js';
import type { LatencyCdf } from './latency.js';

/** Istio's default buckets for istio_request_duration_milliseconds. */
export const ISTIO_LATENCY_BUCKETS_MS: readonly number[] = ISTIO_DEFAULT_BOUNDS;

/** Per-bucket (not cumulative) counts; the last slot is +Inf. */
export type BucketCounts = number[];

export const emptyBuckets = (): BucketCounts =>
  new Array<number>(ISTIO_LATENCY_BUCKETS_MS.length + 1).fill(0);

/** The share of requests that falls in each bucket (the last is +Inf) under a latency distribution. */
export function bucketProbabilities(cdf: LatencyCdf): number[] {
  let below = 0;
  const out = ISTIO_LATENCY_BUCKETS_MS.map((bound) => {
    const at = cdf(bound);
    const share = Math.max(0, at - below);
    below = Math.max(below, at);
    return share;
  });
  out.push(Math.max(0, 1 - below));
  return out;
}

/** Requests slower than `boundMs`, as Prometheus would count them: total minus the bucket at the bound. */
export function slowerThan(buckets: BucketCounts, boundMs: number): number {
  let atOrBelow = 0;
  ISTIO_LATENCY_BUCKETS_MS.forEach((bound, i) => {
    if (bound <= boundMs) atOrBelow += buckets[i] ?? 0;
  });
  return buckets.reduce((a, b) => a + b, 0) - atOrBelow;
}

/** The same linear interpolation as PromQL's histogram_quantile; null without samples. */
export function histogramQuantile(q: number, buckets: BucketCounts): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  const rank = q * total;
  let cumulative = 0;
  for (let i = 0; i < ISTIO_LATENCY_BUCKETS_MS.length; i++) {
    const count = buckets[i] ?? 0;
    if (cumulative + count >= rank) {
      const lower = i === 0 ? 0 : (ISTIO_LATENCY_BUCKETS_MS[i - 1] ?? 0);
      const upper = ISTIO_LATENCY_BUCKETS_MS[i] ?? lower;
      return count === 0 ? upper : lower + ((upper - lower) * (rank - cumulative)) / count;
    }
    cumulative += count;
  }
  // in +Inf: PromQL answers with the highest finite bound
  return ISTIO_LATENCY_BUCKETS_MS.at(-1) ?? null;
}
