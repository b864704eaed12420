import type { Measurement, ResolvedMetric } from '../analysis/types.js';
import { emptyBuckets, histogramQuantile, slowerThan, bucketIndex, type BucketCounts } from './histogram.js';
import { normal } from './rng.js';

/** How one revision behaves: its error rate and a log-normal latency. */
export interface RevisionProfile {
  errorRate: number;
  latencyP50Ms: number;
  latencyP99Ms: number;
}

interface Slice {
  time: number;
  total: number;
  errors: number;
  buckets: BucketCounts;
}

/**
 * A simulated mesh: it serves requests for each revision and keeps what Istio's proxies would report,
 * so the simulator measures windows the way Prometheus would (counts, buckets, quantiles).
 */
export class SimulatedMesh {
  private readonly slices = new Map<string, Slice[]>();

  constructor(private readonly rng: () => number) {}

  /** Serves `requests` at `time` and returns what they came to. */
  serve(
    revision: string,
    requests: number,
    profile: RevisionProfile,
    time: number,
  ): { total: number; errors: number } {
    const slice: Slice = { time, total: requests, errors: 0, buckets: emptyBuckets() };
    // log-normal with the profile's median and p99 (z(0.99) = 2.326)
    const mu = Math.log(profile.latencyP50Ms);
    const sigma = Math.max(Math.log(profile.latencyP99Ms / profile.latencyP50Ms) / 2.326, 0.01);
    for (let i = 0; i < requests; i++) {
      if (this.rng() < profile.errorRate) slice.errors++;
      const latency = Math.exp(mu + sigma * normal(this.rng));
      const b = bucketIndex(latency);
      slice.buckets[b] = (slice.buckets[b] ?? 0) + 1;
    }
    const list = this.slices.get(revision) ?? [];
    list.push(slice);
    this.slices.set(revision, list);
    return { total: slice.total, errors: slice.errors };
  }

  /** Sums what a revision served in (start, end]. */
  window(revision: string, start: number, end: number): Slice {
    const sum: Slice = { time: end, total: 0, errors: 0, buckets: emptyBuckets() };
    for (const s of this.slices.get(revision) ?? []) {
      if (s.time <= start || s.time > end) continue;
      sum.total += s.total;
      sum.errors += s.errors;
      s.buckets.forEach((c, i) => (sum.buckets[i] = (sum.buckets[i] ?? 0) + c));
    }
    return sum;
  }

  measure(metric: ResolvedMetric, canary: string, stable: string, start: number, end: number): Measurement {
    const c = this.window(canary, start, end);
    const s = this.window(stable, start, end);
    switch (metric.type) {
      case 'errorRatio':
      case 'successRate':
        return {
          kind: 'requests',
          canary: { total: c.total, errors: c.errors },
          stable: { total: s.total, errors: s.errors },
        };
      case 'slowRatio': {
        const bound = metric.latencyThresholdMs ?? 0;
        return {
          kind: 'requests',
          canary: { total: c.total, errors: c.errors, slow: slowerThan(c.buckets, bound) },
          stable: { total: s.total, errors: s.errors, slow: slowerThan(s.buckets, bound) },
        };
      }
      case 'latencyQuantile': {
        const q = metric.quantile ?? 0.99;
        return {
          kind: 'scalar',
          canary: histogramQuantile(q, c.buckets),
          stable: histogramQuantile(q, s.buckets),
        };
      }
      case 'promql':
        return {
          kind: 'error',
          error: {
            code: 'BadQuery',
            message: 'the simulator has no Prometheus: custom PromQL metrics cannot be simulated',
            retryable: false,
          },
        };
    }
  }
}
