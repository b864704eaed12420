import { describe, expect, it } from 'vitest';
import type { SequentialMemory } from '../../api/canary-release.js';
import { binomial, createRng } from '../../sim/rng.js';
import { poisson } from '../../sim/decisions/traffic.js';
import { logBeta, logGamma, logSumExp } from '../stats.js';
import { assess, emptyMemory, ratioInterval, updateMemory, type SequentialSettings } from './sequential.js';

const settings = (over: Partial<SequentialSettings> = {}): SequentialSettings => ({
  tolerance: 0.25,
  alpha: 0.01,
  regression: { ratio: 4, floor: 0.005, power: 0.95 },
  ...over,
});

/** One analysis' increment: Poisson requests at the split, binomial bad ones. */
function increment(
  rng: () => number,
  requests: number,
  share: number,
  rates: { canary: number; stable: number },
) {
  const n = poisson(rng, requests * share);
  const m = poisson(rng, requests * (1 - share));
  return {
    canary: { total: n, bad: binomial(rng, n, rates.canary) },
    stable: { total: m, bad: binomial(rng, m, rates.stable) },
    seconds: 60,
  };
}

/**
 * A random peeking schedule: 1 to 60 analyses, each over a random amount of traffic at a random
 * split, as a controller that looks whenever it likes would produce.
 */
function randomRollout(rng: () => number, rates: { canary: number; stable: number }) {
  const looks = 1 + Math.floor(rng() * 60);
  const out = [];
  for (let i = 0; i < looks; i++) {
    const requests = Math.floor(20 + rng() * 3000);
    const share = 0.05 + rng() * 0.5;
    out.push(increment(rng, requests, share, rates));
  }
  return out;
}

/**
 * How often a judge fails, somewhere in a rollout, a canary exactly as much worse than stable as the
 * tolerance allows: the least favourable healthy canary (a better one fails even less often).
 */
function falseFailRate(
  judge: (
    memory: SequentialMemory | undefined,
    inc: ReturnType<typeof increment>,
  ) => { memory: SequentialMemory; failed: boolean },
  rollouts: number,
  seed: number,
): number {
  const rng = createRng(seed);
  let failed = 0;
  for (let r = 0; r < rollouts; r++) {
    let memory: SequentialMemory | undefined;
    for (const inc of randomRollout(rng, { canary: 0.0125, stable: 0.01 })) {
      const next = judge(memory, inc);
      memory = next.memory;
      if (next.failed) {
        failed++;
        break;
      }
    }
  }
  return failed / rollouts;
}

const sequential = (memory: SequentialMemory | undefined, inc: ReturnType<typeof increment>) => {
  const next = updateMemory(memory, inc, settings());
  return { memory: next, failed: assess(next, settings(), 1).verdict === 'Fail' };
};

/**
 * The mistake the sequential judge exists to avoid: a one-sided test at level alpha on the totals,
 * repeated at every look as if each were the only one (a z-test of the canary's share of the bad
 * requests against the share "within tolerance" allows).
 */
const repeatedFixedTest = (memory: SequentialMemory | undefined, inc: ReturnType<typeof increment>) => {
  const next = updateMemory(memory, inc, settings());
  const { canary, stable } = next;
  const bad = canary.bad + stable.bad;
  const rho0 = 1.25;
  const p0 = (rho0 * canary.total) / (rho0 * canary.total + stable.total);
  const z = bad > 0 ? (canary.bad - bad * p0) / Math.sqrt(bad * p0 * (1 - p0)) : 0;
  return { memory: next, failed: z > 2.326 };
};

// Monte Carlo runs: CPU-bound, seconds on a loaded CI machine; the bound is on the error rate, not the time
describe('the sequential judge: the chance of rolling back a healthy canary', { timeout: 120_000 }, () => {
  it('stays under alpha however often it looks (Monte Carlo, random peeking schedules)', () => {
    const rate = falseFailRate(sequential, 4000, 7);
    // Ville's inequality gives <= 1 %; the bets are cautious, so it is far below
    expect(rate).toBeLessThanOrEqual(0.01);
  });

  it('the same harness catches a judge that ignores repeated looks', () => {
    // the control: a fixed-sample test at 1 % applied at every look rolls back far more often
    const rate = falseFailRate(repeatedFixedTest, 4000, 7);
    expect(rate).toBeGreaterThan(0.03);
  });
});

describe('the sequential judge: regressions, late faults, and quiet services', { timeout: 120_000 }, () => {
  const run = (
    looks: number,
    requests: number,
    share: number,
    rates: (look: number) => { canary: number; stable: number },
    seed = 1,
  ) => {
    const rng = createRng(seed);
    let memory: SequentialMemory | undefined;
    const verdicts: string[] = [];
    for (let i = 0; i < looks; i++) {
      memory = updateMemory(memory, increment(rng, requests, share, rates(i)), settings());
      verdicts.push(assess(memory, settings(), 1).verdict);
    }
    return { memory: memory ?? emptyMemory(), verdicts };
  };

  it('fails a 5x regression within a few analyses at 20 rps, and the fail is final', () => {
    const { verdicts } = run(20, 1200, 0.2, () => ({ canary: 0.01, stable: 0.002 }));
    const first = verdicts.indexOf('Fail');
    expect(first).toBeGreaterThanOrEqual(0);
    expect(first).toBeLessThan(10);
    expect(verdicts.slice(first).every((v) => v === 'Fail')).toBe(true);
  });

  it('a healthy canary collects the pass evidence and passes', () => {
    const { verdicts, memory } = run(30, 1200, 0.3, () => ({ canary: 0.008, stable: 0.008 }));
    expect(verdicts.at(-1)).toBe('Pass');
    expect(assess(memory, settings(), 1).evidence.progress).toBe(1);
  });

  it('does not wear down over an hour of good analyses: a fault at minute 60 fails as fast as one at minute 1', () => {
    const fault = (at: number) => (i: number) => ({ canary: i >= at ? 0.05 : 0.005, stable: 0.005 });
    const delays = (at: number) =>
      [1, 2, 3, 4, 5, 6, 7, 8].map(
        (seed) => run(at + 20, 1200, 0.1, fault(at), seed).verdicts.indexOf('Fail') - at,
      );
    const early = delays(1);
    const late = delays(60);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    expect(early.every((d) => d >= 0)).toBe(true);
    expect(late.every((d) => d >= 0)).toBe(true);
    expect(sum(late)).toBeLessThanOrEqual(1.5 * sum(early) + 2);
  });

  it('a service without errors passes once the canary has served enough requests (the floor)', () => {
    const { memory, verdicts } = run(30, 400, 0.3, () => ({ canary: 0, stable: 0 }));
    expect(verdicts.at(-1)).toBe('Pass');
    // log(2 / (1 - power)) / -log(1 - floor) requests at the least; a few times that at the most
    expect(memory.canary.total).toBeGreaterThan(Math.log(40) / 0.005);
  });

  it('says how many more canary requests it needs, and that estimate is about right', () => {
    const rng = createRng(3);
    const s = settings();
    let memory = updateMemory(undefined, increment(rng, 1200, 0.1, { canary: 0.004, stable: 0.004 }), s);
    const { neededRequests, expectedWaitSeconds } = assess(memory, s, 1).evidence;
    expect(neededRequests).toBeGreaterThan(0);
    expect(expectedWaitSeconds).toBeGreaterThan(0);
    let served = 0;
    while (assess(memory, s, 1).verdict !== 'Pass' && served < 100 * (neededRequests ?? 0)) {
      const inc = increment(rng, 1200, 0.1, { canary: 0.004, stable: 0.004 });
      served += inc.canary.total;
      memory = updateMemory(memory, inc, s);
    }
    expect(served).toBeGreaterThan(0.4 * (neededRequests ?? 0));
    expect(served).toBeLessThan(2.5 * (neededRequests ?? 0));
  });

  it('an increment without requests changes no evidence', () => {
    const s = settings();
    const before = run(3, 1200, 0.2, () => ({ canary: 0.01, stable: 0.01 })).memory;
    const after = updateMemory(
      before,
      { canary: { total: 0, bad: 0 }, stable: { total: 0, bad: 0 }, seconds: 60 },
      s,
    );
    expect(after.failLog).toBe(before.failLog);
    expect(after.passMaxLog).toBe(before.passMaxLog);
  });
});

describe('the evidence', () => {
  it('the always-valid interval for the ratio covers the true ratio', () => {
    const rng = createRng(11);
    let covered = 0;
    const trials = 400;
    for (let t = 0; t < trials; t++) {
      const n = 2000 + Math.floor(rng() * 5000);
      const m = 20000;
      const canary = { total: n, bad: binomial(rng, n, 0.006) };
      const stable = { total: m, bad: binomial(rng, m, 0.003) };
      const { low, high } = ratioInterval(canary, stable, 0.05);
      if ((low ?? 0) <= 2 && 2 <= (high ?? Infinity)) covered++;
    }
    expect(covered / trials).toBeGreaterThanOrEqual(0.95);
  });

  it('is open-ended where the data says nothing, and finite where it does', () => {
    expect(ratioInterval({ total: 100, bad: 0 }, { total: 900, bad: 0 }, 0.01)).toEqual({
      low: null,
      high: null,
    });
    const onlyCanary = ratioInterval({ total: 100, bad: 5 }, { total: 900, bad: 0 }, 0.01);
    expect(onlyCanary.high).toBeNull();
    expect(onlyCanary.low).toBeGreaterThan(0);
    const both = ratioInterval({ total: 1000, bad: 20 }, { total: 9000, bad: 90 }, 0.01);
    expect(both.low).toBeLessThan(2);
    expect(both.high).toBeGreaterThan(2);
  });

  it('records counts, rates, e-values, the interval, alpha and the wait, with the numbers in the rule', () => {
    const memory = updateMemory(
      undefined,
      { canary: { total: 1000, bad: 30 }, stable: { total: 9000, bad: 27 }, seconds: 60 },
      settings(),
    );
    const { verdict, rule, evidence } = assess(memory, settings(), 0.2);
    expect(verdict).toBe('Fail');
    expect(evidence).toMatchObject({
      canary: { total: 1000, bad: 30 },
      stable: { total: 9000, bad: 27 },
      threshold: 100,
      alpha: 0.01,
      tolerance: 0.25,
      regression: { ratio: 4, floor: 0.005, power: 0.95 },
    });
    expect(evidence.ratio).toBeCloseTo(10, 5);
    expect(evidence.eValue).toBeGreaterThanOrEqual(100);
    expect(evidence.pValue).toBeLessThanOrEqual(0.01);
    expect(rule).toMatch(
      /canary 3% of 1000, stable 0.3% of 9000; ratio 10 \(99% interval [\d.]+-[\d.]+\); e-value [\d.e+]+ >= 100/,
    );
  });
});

describe('numerics', () => {
  it('logGamma and logBeta match known values', () => {
    expect(logGamma(1)).toBeCloseTo(0, 12);
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
    expect(logGamma(10)).toBeCloseTo(Math.log(362880), 10);
    expect(logGamma(1e6)).toBeCloseTo(12815504.56914761, 4);
    expect(logBeta(3, 4)).toBeCloseTo(Math.log(1 / 60), 12);
  });

  it('logSumExp does not overflow', () => {
    expect(logSumExp([1000, 1000])).toBeCloseTo(1000 + Math.log(2), 12);
    expect(logSumExp([])).toBe(-Infinity);
  });
});
