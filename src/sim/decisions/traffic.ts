/**
 * Traffic for the decision benchmark: Poisson arrivals split by the routing in effect, errors and
 * slow requests drawn per request class, kept as a ledger of slices so that any window between two
 * reconciles reads exactly the requests served in it. Cheaper than the simulator's mesh (no route
 * evaluation, no histograms per request), so thousands of rollouts run in seconds.
 */
import { bucketProbabilities, emptyBuckets, type BucketCounts } from '../histogram.js';
import { logNormalCdf } from '../latency.js';
import { binomial, multinomial, normal } from '../rng.js';

/** How one revision behaves from `fromMs` on (relative to the rollout's start). */
export interface Behaviour {
  errorRate: number;
  p50Ms: number;
  p99Ms: number;
}

export interface RevisionPlan {
  /** The behaviour at the start, then changes at given times (a fault). */
  initial: Behaviour;
  changes?: { atMs: number; behaviour: Behaviour }[];
}

export interface Served {
  total: number;
  errors: number;
  /** Slower than the benchmark's latency bound (a histogram bucket bound). */
  slow: number;
  buckets: BucketCounts;
}

const emptyServed = (): Served => ({ total: 0, errors: 0, slow: 0, buckets: emptyBuckets() });

interface Slice {
  startMs: number;
  endMs: number;
  canary: Served;
  stable: Served;
}

/** A Poisson draw: exact by multiplication for small means, normal above (one draw either way). */
export function poisson(rng: () => number, mean: number): number {
  if (mean <= 0) return 0;
  if (mean > 50) return Math.max(0, Math.round(mean + Math.sqrt(mean) * normal(rng)));
  const limit = Math.exp(-mean);
  let k = 0;
  let p = rng();
  while (p > limit) {
    k++;
    p *= rng();
  }
  return k;
}

/** Memoised per behaviour: bucket shares and the share slower than the bound. */
function profile(b: Behaviour, slowBoundMs: number, cache: Map<string, { buckets: number[]; slow: number }>) {
  const key = `${b.p50Ms}/${b.p99Ms}`;
  let p = cache.get(key);
  if (!p) {
    const cdf = logNormalCdf(b.p50Ms, b.p99Ms);
    p = { buckets: bucketProbabilities(cdf), slow: 1 - cdf(slowBoundMs) };
    cache.set(key, p);
  }
  return p;
}

export class TrafficLedger {
  private readonly slices: Slice[] = [];
  private readonly profiles = new Map<string, { buckets: number[]; slow: number }>();

  constructor(
    private readonly rng: () => number,
    private readonly rps: number,
    private readonly plans: { canary: RevisionPlan; stable: RevisionPlan },
    private readonly slowBoundMs: number,
    /** Whether to draw latency buckets (only the Flagger reference reads a p99). */
    private readonly withBuckets: boolean,
  ) {}

  /** Serves [startMs, endMs) with `canaryShare` (0..1) of the requests on the canary. */
  serve(startMs: number, endMs: number, canaryShare: number): void {
    if (endMs <= startMs) return;
    // a fault that starts inside the slice splits it, so the counts follow the behaviour in effect
    const cuts = [startMs, endMs];
    for (const plan of [this.plans.canary, this.plans.stable]) {
      for (const c of plan.changes ?? []) if (c.atMs > startMs && c.atMs < endMs) cuts.push(c.atMs);
    }
    cuts.sort((a, b) => a - b);
    for (let i = 1; i < cuts.length; i++) {
      const a = cuts[i - 1] ?? startMs;
      const b = cuts[i] ?? endMs;
      if (b <= a) continue;
      const seconds = (b - a) / 1000;
      this.slices.push({
        startMs: a,
        endMs: b,
        canary: this.draw(this.plans.canary, a, this.rps * canaryShare * seconds),
        stable: this.draw(this.plans.stable, a, this.rps * (1 - canaryShare) * seconds),
      });
    }
  }

  private draw(plan: RevisionPlan, atMs: number, mean: number): Served {
    const b = behaviourAt(plan, atMs);
    const total = poisson(this.rng, mean);
    if (total === 0) return emptyServed();
    const p = profile(b, this.slowBoundMs, this.profiles);
    return {
      total,
      errors: binomial(this.rng, total, b.errorRate),
      slow: binomial(this.rng, total, p.slow),
      buckets: this.withBuckets ? multinomial(this.rng, total, p.buckets) : emptyBuckets(),
    };
  }

  /** What each revision served in [startMs, endMs), which must fall on slice boundaries. */
  window(startMs: number, endMs: number): { canary: Served; stable: Served } {
    const out = { canary: emptyServed(), stable: emptyServed() };
    // slices are in time order: walk back from the newest, as windows are recent
    for (let i = this.slices.length - 1; i >= 0; i--) {
      const s = this.slices[i];
      if (!s) continue;
      if (s.endMs <= startMs) break;
      if (s.startMs < startMs || s.endMs > endMs) continue;
      add(out.canary, s.canary);
      add(out.stable, s.stable);
    }
    return out;
  }
}

function add(into: Served, from: Served): void {
  into.total += from.total;
  into.errors += from.errors;
  into.slow += from.slow;
  for (let i = 0; i < into.buckets.length; i++)
    into.buckets[i] = (into.buckets[i] ?? 0) + (from.buckets[i] ?? 0);
}

export function behaviourAt(plan: RevisionPlan, atMs: number): Behaviour {
  let current = plan.initial;
  for (const c of plan.changes ?? []) if (c.atMs <= atMs) current = c.behaviour;
  return current;
}
