/** Istio's default buckets for istio_request_duration_milliseconds. */
export const ISTIO_LATENCY_BUCKETS_MS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000,
  3600000,
];

/** Per-bucket (not cumulative) counts; the last slot is +Inf. */
export type BucketCounts = number[];

export const emptyBuckets = (): BucketCounts =>
  new Array<number>(ISTIO_LATENCY_BUCKETS_MS.length + 1).fill(0);

export function bucketIndex(latencyMs: number): number {
  const i = ISTIO_LATENCY_BUCKETS_MS.findIndex((bound) => latencyMs <= bound);
  return i < 0 ? ISTIO_LATENCY_BUCKETS_MS.length : i;
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
