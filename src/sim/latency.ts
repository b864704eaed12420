/**
 * Latency distributions of a simulated revision, as cumulative distribution functions: the simulator
 * needs only the share of requests under each histogram bound, never single latencies.
 */
export type LatencyCdf = (ms: number) => number;

/** z of the 99th percentile of a standard normal. */
const Z99 = 2.3263;

/** Abramowitz and Stegun 7.1.26: |error| < 1.5e-7, far below what a histogram bucket can show. */
function erf(x: number): number {
  const sign = x < 0 ? -1 : 1;
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const poly =
    t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
  return sign * (1 - poly * Math.exp(-a * a));
}

/** Log-normal with the given median and 99th percentile: the usual shape of service latency. */
export function logNormalCdf(p50Ms: number, p99Ms: number): LatencyCdf {
  const mu = Math.log(p50Ms);
  const sigma = Math.max(Math.log(p99Ms / p50Ms) / Z99, 1e-6);
  return (ms) => (ms <= 0 ? 0 : 0.5 * (1 + erf((Math.log(ms) - mu) / (sigma * Math.SQRT2))));
}

export interface QuantilePoint {
  q: number;
  ms: number;
}

/**
 * Linear between the given quantiles, from 0 ms at q = 0, and on with the last slope up to q = 1: a
 * measured latency profile (p50, p90, p99, p99.9) replayed as it is.
 */
export function piecewiseCdf(points: readonly QuantilePoint[]): LatencyCdf {
  const sorted = [...points].sort((a, b) => a.q - b.q);
  const knots: QuantilePoint[] = sorted[0]?.q === 0 ? [] : [{ q: 0, ms: 0 }];
  knots.push(...sorted);
  const last = knots.at(-1) ?? { q: 0, ms: 0 };
  const before = knots.at(-2) ?? { q: 0, ms: 0 };
  if (last.q < 1) {
    const slope = last.q > before.q ? (last.ms - before.ms) / (last.q - before.q) : 0;
    knots.push({ q: 1, ms: last.ms + slope * (1 - last.q) });
  }
  return (ms) => {
    for (let i = 1; i < knots.length; i++) {
      const a = knots[i - 1];
      const b = knots[i];
      if (!a || !b || ms >= b.ms) continue;
      if (ms < a.ms) return a.q;
      return b.ms > a.ms ? a.q + ((b.q - a.q) * (ms - a.ms)) / (b.ms - a.ms) : b.q;
    }
    return 1;
  };
}
