/**
 * The few numerical pieces the sequential judge needs. Written here rather than taken from a
 * library: the maintained ones (@stdlib/math-base-special-gammaln and friends) bring ~165 packages
 * and 18 MB into the installed CLI for one function each, and these are short, standard formulas
 * with tests against known values.
 */

/** log(exp(a) + exp(b) + ...) without overflow; -Infinity for no terms. */
export function logSumExp(terms: readonly number[]): number {
  let max = -Infinity;
  for (const t of terms) if (t > max) max = t;
  if (max === -Infinity) return -Infinity;
  if (max === Infinity) return Infinity;
  let sum = 0;
  for (const t of terms) sum += Math.exp(t - max);
  return max + Math.log(sum);
}

// Lanczos approximation, g = 7, n = 9 (Numerical Recipes, 3rd ed., 6.1): ~15 significant digits.
const LANCZOS = [
  0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
  12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** log Γ(x) for x > 0. */
export function logGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = LANCZOS[0] ?? 1;
  const t = z + 7.5;
  for (let i = 1; i < LANCZOS.length; i++) a += (LANCZOS[i] ?? 0) / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** log B(a, b) = log Γ(a) + log Γ(b) - log Γ(a + b). */
export const logBeta = (a: number, b: number): number => logGamma(a) + logGamma(b) - logGamma(a + b);

/** x log(p) that is 0 for x = 0 whatever p is (0 log 0 = 0). */
export const xlog = (x: number, p: number): number => (x === 0 ? 0 : x * Math.log(p));

/** Kullback-Leibler divergence between Bernoulli(p) and Bernoulli(q), in nats. */
export function bernoulliKl(p: number, q: number): number {
  if (q <= 0 || q >= 1) return p === q ? 0 : Infinity;
  return xlog(p, p / q) + xlog(1 - p, (1 - p) / (1 - q));
}

/** The root of a monotone `f` between `lo` and `hi` (f(lo) and f(hi) of opposite signs), by bisection. */
export function bisect(f: (x: number) => number, lo: number, hi: number, iterations = 60): number {
  let a = lo;
  let b = hi;
  const fa = f(a);
  for (let i = 0; i < iterations; i++) {
    const mid = (a + b) / 2;
    if (Math.sign(f(mid)) === Math.sign(fa)) a = mid;
    else b = mid;
  }
  return (a + b) / 2;
}
