/** mulberry32: a tiny seeded PRNG, so a simulation with the same seed replays exactly. */
export function createRng(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw (Box-Muller). */
export function normal(rng: () => number): number {
  const u = Math.max(rng(), Number.EPSILON);
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng());
}

/** Below this mean the normal approximation of a binomial is visibly wrong (skewed, or negative). */
const EXACT_BINOMIAL_MEAN = 30;

/**
 * How many of `n` trials succeed with probability `p`. Exact (CDF inversion) while the expected count
 * is small, the normal approximation above: one draw per call whatever `n` is, so a simulation
 * costs the same at 5 or 5,000 requests per second.
 */
export function binomial(rng: () => number, n: number, p: number): number {
  if (n <= 0 || p <= 0) return 0;
  if (p >= 1) return n;
  if (p > 0.5) return n - binomial(rng, n, 1 - p);
  const mean = n * p;
  if (mean < EXACT_BINOMIAL_MEAN) {
    const u = rng();
    const ratio = p / (1 - p);
    let probability = Math.exp(n * Math.log1p(-p));
    let cumulative = probability;
    let k = 0;
    while (u > cumulative && k < n) {
      probability *= (ratio * (n - k)) / (k + 1);
      k++;
      cumulative += probability;
    }
    return k;
  }
  const draw = Math.round(mean + Math.sqrt(mean * (1 - p)) * normal(rng));
  return Math.min(n, Math.max(0, draw));
}

/** Splits `n` trials among outcomes with the given probabilities (they need not sum to 1). */
export function multinomial(rng: () => number, n: number, probabilities: readonly number[]): number[] {
  let remaining = n;
  let mass = probabilities.reduce((a, b) => a + Math.max(0, b), 0);
  return probabilities.map((p) => {
    const share = Math.max(0, p);
    const count = mass > 0 ? binomial(rng, remaining, Math.min(1, share / mass)) : 0;
    remaining -= count;
    mass -= share;
    return count;
  });
}
