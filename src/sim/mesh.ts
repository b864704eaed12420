import { emptyBuckets, histogramQuantile, type BucketCounts } from './histogram.js';
import { binomial, multinomial } from './rng.js';

/** What one revision served in one slice of simulated time, as Istio's proxies would report it. */
export interface Served {
  total: number;
  errors: number;
}

interface Slice extends Served {
  /** End of the slice, epoch ms; the slice covers (end - length, end]. */
  end: number;
  buckets: BucketCounts;
}

/** How a revision answers during a slice: its error rate and the share of requests per latency bucket. */
export interface Behaviour {
  errorRate: number;
  bucketShares: readonly number[];
}

/** One point of a revision's series: rates over the period that ends at `atMs`. */
export interface RevisionPoint {
  atMs: number;
  total: number;
  errors: number;
  /** Errors per request; null without requests. */
  errorRate: number | null;
  p50: number | null;
  p99: number | null;
}

/**
 * The simulated mesh's telemetry: per revision, what it served slice by slice (requests, errors,
 * latency histogram), so windows can be measured the way Prometheus would measure them.
 */
export class SimulatedMesh {
  private readonly slices = new Map<string, Slice[]>();

  constructor(private readonly rng: () => number) {}

  get revisions(): string[] {
    return [...this.slices.keys()];
  }

  /** Serves `requests` in the slice ending at `end`; draws errors and latencies from the behaviour. */
  serve(revision: string, requests: number, behaviour: Behaviour, end: number): Served {
    const slice: Slice = {
      end,
      total: requests,
      errors: binomial(this.rng, requests, behaviour.errorRate),
      buckets: multinomial(this.rng, requests, behaviour.bucketShares),
    };
    const list = this.slices.get(revision) ?? [];
    list.push(slice);
    this.slices.set(revision, list);
    return { total: slice.total, errors: slice.errors };
  }

  /** Everything a revision served in (start, end]. */
  window(revision: string, start: number, end: number): Served & { buckets: BucketCounts } {
    const sum = { total: 0, errors: 0, buckets: emptyBuckets() };
    for (const s of this.slices.get(revision) ?? []) {
      if (s.end <= start || s.end > end) continue;
      sum.total += s.total;
      sum.errors += s.errors;
      s.buckets.forEach((c, i) => (sum.buckets[i] = (sum.buckets[i] ?? 0) + c));
    }
    return sum;
  }

  /** The revision's rates period by period, like `rate(...[period])` evaluated every period. */
  series(revision: string, start: number, end: number, periodMs: number): RevisionPoint[] {
    const points: RevisionPoint[] = [];
    for (let to = start + periodMs; to < end + periodMs; to += periodMs) {
      const until = Math.min(to, end);
      const w = this.window(revision, until - periodMs, until);
      points.push({
        atMs: until - start,
        total: w.total,
        errors: w.errors,
        errorRate: w.total ? w.errors / w.total : null,
        p50: histogramQuantile(0.5, w.buckets),
        p99: histogramQuantile(0.99, w.buckets),
      });
    }
    return points;
  }
}
