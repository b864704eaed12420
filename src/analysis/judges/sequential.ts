/**
 * The sequential judge: two anytime-valid tests on per-revision request counts, carried from one
 * analysis to the next for the whole rollout. The design and its reasons are in
 * docs/sequential-judge.md; in short:
 *
 * - Per analysis, the increment of counts since the previous one: canary n requests with x bad
 *   (errors, or slow requests), stable m with y bad. Given the x + y bad requests, x is binomial
 *   with p = ρn / (ρn + m), where ρ is the canary's bad rate over the stable's. Conditioning on the
 *   total cancels whatever both revisions share (a failing dependency, a traffic spike).
 * - FAIL tests "ρ <= 1 + tolerance". Its e-value multiplies, analysis by analysis, a mixture of
 *   likelihood ratios for larger ρ against 1 + tolerance. The mixture's weights are a posterior that
 *   forgets: they follow the last few analyses, and one alternative is "no bet" (ρ = 1 + tolerance,
 *   ratio 1). While the canary looks fine the judge bets almost nothing, so the e-value does not
 *   decay, and a fault that starts late in a long step is caught as fast as one at its start.
 *   Weights chosen from the past keep the product a supermartingale (each factor has expectation
 *   <= 1 under the null, by the monotone likelihood ratio of the binomial), so by Ville's inequality
 *   P(ever >= 1/alpha) <= alpha however often it is looked at.
 * - PASS tests "the canary is regressed": ρ >= ratio (relative) or a bad share >= floor (absolute).
 *   Its e-value is the average of two mixtures over the whole rollout: likelihood ratios for smaller
 *   ρ against `ratio` on the conditional counts above, and for smaller shares against `floor` on the
 *   canary's own counts (this one needs no bad requests at all: a service without errors passes
 *   once the canary served enough requests). Both are e-processes under "regressed by both
 *   measures", so a regressed canary passes with probability <= 1 - power.
 * - A step needs a share of the pass evidence that grows with the step: step i of n needs (i+1)/n of
 *   log(1/(1 - power)), so no step advances before the traffic has been enough for it, and the last
 *   needs all of it. A fail is final for the rollout; pass evidence is not taken back.
 *
 * The binomial is the Poisson limit of the exact conditional law (Fisher's noncentral
 * hypergeometric); at bad shares of a few percent the difference is far below the noise.
 */
import type { SequentialEvidence, SequentialMemory } from '../../api/canary-release.js';
import { formatDuration } from '../../api/duration.js';
import { num } from '../format.js';
import { bernoulliKl, bisect, logBeta, logSumExp, xlog } from '../stats.js';
import type { ResolvedMetric } from '../types.js';
import type { Judge, Side } from './judge.js';

export interface SequentialSettings {
  /** How much worse than stable the canary may be before it fails (0.25 = 25 %). */
  tolerance: number;
  /** This metric's share of the release's chance of rolling back a healthy canary. */
  alpha: number;
  regression: { ratio: number; floor: number; power: number };
}

/** Requests and bad requests of one revision. */
export interface Tally {
  total: number;
  bad: number;
}

/** What one analysis measured since the previous one. */
export interface Increment {
  canary: Tally;
  stable: Tally;
  /** How long the increment is, for the canary's request rate. */
  seconds: number;
}

export const DEFAULT_SEQUENTIAL_TOLERANCE = 0.25;

/** Alternatives of the fail test, as multiples of 1 + tolerance; the first is "no bet". */
const FAIL_GRID = [1, 1.5, 2, 3, 5, 8, 13, 21, 34, 55];
/**
 * How the fail test chooses its next bet: a posterior over the alternatives from the last few
 * analyses (each analysis' log likelihood ratios count FAIL_MEMORY times less at the next one), raised
 * to the power FAIL_SHARPNESS. Short memory lets a new fault outweigh an hour of good analyses within
 * one or two; sharpness keeps the bets small while the canary looks fine, so the e-value does not
 * erode before a late fault. Both were tuned with npm run bench:decisions; any value keeps the
 * guarantee, since the bet depends only on the past.
 */
const FAIL_MEMORY = 0.5;
const FAIL_SHARPNESS = 4;
/**
 * The least weight an alternative of the fail test keeps (as a log against "no bet"): enough that a
 * fault at high traffic, whose first analysis speaks loudly, is caught by that analysis.
 */
const FAIL_FLOOR = -8;
/**
 * Alternatives of the pass test on the ratio, each below `ratio`, with prior weights: half on "as
 * good as stable", where a healthy canary is, the rest spread below and towards `ratio`.
 */
const PASS_RATIOS: { at: (ratio: number) => number; prior: number }[] = [
  { at: () => 1, prior: 0.5 },
  { at: () => 0.5, prior: 0.125 },
  { at: () => 0.25, prior: 0.125 },
  { at: (ratio) => Math.sqrt(ratio), prior: 0.125 },
  { at: (ratio) => 0.75 * ratio, prior: 0.125 },
];
/** Alternatives of the pass test on the floor, as multiples of `floor`, equally weighted. */
const PASS_FLOORS = [0.6, 0.3, 0.1, 0.02];
/** JSON has no Infinity; an e-value of e^700 says all there is to say. */
const MAX_LOG = 700;

const LOG_HALF = Math.log(0.5);

export function emptyMemory(): SequentialMemory {
  return {
    looks: 0,
    canary: { total: 0, bad: 0 },
    stable: { total: 0, bad: 0 },
    failLog: 0,
    failMaxLog: 0,
    failRecent: FAIL_GRID.map(() => 0),
    passRatio: PASS_RATIOS.map(() => 0),
    passFloor: PASS_FLOORS.map(() => 0),
    passMaxLog: 0,
    seconds: 0,
    rate: 0,
  };
}

/** Memory from another version of the grids is started afresh rather than misread. */
function usable(memory: SequentialMemory | undefined): SequentialMemory {
  if (
    !memory ||
    memory.failRecent.length !== FAIL_GRID.length ||
    memory.passRatio.length !== PASS_RATIOS.length ||
    memory.passFloor.length !== PASS_FLOORS.length
  ) {
    return emptyMemory();
  }
  return memory;
}

/** The canary's share of the bad requests when its bad rate is `rho` times the stable's. */
const share = (rho: number, n: number, m: number) => (rho * n) / (rho * n + m);

/** log of the conditional binomial likelihood ratio, alternative `rho` against `rho0`. */
function conditionalLlr(x: number, y: number, n: number, m: number, rho: number, rho0: number): number {
  const p = share(rho, n, m);
  const p0 = share(rho0, n, m);
  return xlog(x, p / p0) + xlog(y, (1 - p) / (1 - p0));
}

const clampLog = (v: number) => Math.min(MAX_LOG, v);

/** Feeds one increment into the tests. Pure: returns the next memory. */
export function updateMemory(
  previous: SequentialMemory | undefined,
  inc: Increment,
  settings: SequentialSettings,
): SequentialMemory {
  const m0 = usable(previous);
  const next: SequentialMemory = structuredClone(m0);
  const { canary, stable } = inc;
  next.looks += 1;
  next.canary = { total: m0.canary.total + canary.total, bad: m0.canary.bad + canary.bad };
  next.stable = { total: m0.stable.total + stable.total, bad: m0.stable.bad + stable.bad };
  if (canary.total > 0) {
    next.seconds = m0.seconds + inc.seconds;
    if (inc.seconds > 0) next.rate = canary.total / inc.seconds;
  }

  const { total: n, bad: x } = canary;
  const { total: m, bad: y } = stable;
  const rho0 = 1 + settings.tolerance;
  const { ratio, floor } = settings.regression;
  if (n > 0 && m > 0 && x + y > 0) {
    // fail: bet with weights from the recent past, then let this increment into them
    const llr = FAIL_GRID.map((c) => conditionalLlr(x, y, n, m, rho0 * c, rho0));
    const logWeights = m0.failRecent.map((s) => Math.max(FAIL_FLOOR, FAIL_SHARPNESS * s));
    const norm = logSumExp(logWeights);
    const factor = logSumExp(logWeights.map((w, i) => w - norm + (llr[i] ?? 0)));
    next.failLog = clampLog(m0.failLog + factor);
    next.failMaxLog = Math.max(m0.failMaxLog, next.failLog);
    next.failRecent = m0.failRecent.map((s, i) => FAIL_MEMORY * s + (llr[i] ?? 0));
    next.passRatio = m0.passRatio.map(
      (s, j) => s + conditionalLlr(x, y, n, m, PASS_RATIOS[j]?.at(ratio) ?? 1, ratio),
    );
  }
  if (n > 0) {
    next.passFloor = m0.passFloor.map((s, j) => {
      const p = floor * (PASS_FLOORS[j] ?? 1);
      return s + xlog(x, p / floor) + xlog(n - x, (1 - p) / (1 - floor));
    });
  }
  next.passMaxLog = Math.max(m0.passMaxLog, clampLog(passLog(next)));
  return next;
}

/** log of the pass e-value: the average of the ratio and the floor mixtures. */
function passLog(memory: SequentialMemory): number {
  const ratioMix = logSumExp(memory.passRatio.map((s, j) => Math.log(PASS_RATIOS[j]?.prior ?? 0) + s));
  const floorMix = logSumExp(memory.passFloor.map((s) => -Math.log(PASS_FLOORS.length) + s));
  return logSumExp([LOG_HALF + ratioMix, LOG_HALF + floorMix]);
}

/**
 * Always-valid (1 - alpha) interval for the ratio of bad rates, from the totals: the set of ratios a
 * beta-binomial mixture (Jeffreys prior) has not ruled out. Null bounds are open-ended.
 */
export function ratioInterval(
  canary: Tally,
  stable: Tally,
  alpha: number,
): { low: number | null; high: number | null } {
  const { total: n, bad: x } = canary;
  const { total: m, bad: y } = stable;
  if (n <= 0 || m <= 0 || x + y <= 0) return { low: null, high: null };
  const lead = logBeta(x + 0.5, y + 0.5) - logBeta(0.5, 0.5) + Math.log(alpha);
  // h < 0 inside the interval: the mixture's evidence against that share is below 1/alpha
  const h = (p: number) => lead - xlog(x, p) - xlog(y, 1 - p);
  const toRatio = (p: number) => (p * m) / ((1 - p) * n);
  const mle = x / (x + y);
  const low = x > 0 && h(1e-300) > 0 ? toRatio(bisect(h, 1e-300, mle)) : x > 0 ? null : 0;
  const high = y > 0 && h(1 - 1e-16) > 0 ? toRatio(bisect(h, mle, 1 - 1e-16)) : null;
  return { low: low === 0 ? 0 : low, high };
}

export interface Assessment {
  verdict: 'Pass' | 'Fail' | 'Inconclusive';
  rule: string;
  evidence: SequentialEvidence;
}

/** Canary requests per unit of pass evidence, if the canary is as good as stable (a planning estimate). */
function evidencePerRequest(memory: SequentialMemory, settings: SequentialSettings): number {
  const { total: n } = memory.canary;
  const { total: m, bad: y } = memory.stable;
  if (n <= 0 || m <= 0) return 0;
  const s = n / (n + m);
  const rate = y / m;
  const { ratio, floor } = settings.regression;
  // bad requests per canary request (both revisions), each worth the KL of "as good" from "regressed"
  const relative = rate > 0 ? (rate / s) * bernoulliKl(s, share(ratio, s, 1 - s)) : 0;
  const absolute = rate < floor ? bernoulliKl(rate, floor) : 0;
  return Math.max(relative, absolute);
}

/** `canary 0.3% of 1200`: the bad share of what a revision served this rollout. */
const served = (who: string, t: Tally) =>
  t.total > 0 ? `${who} ${num((100 * t.bad) / t.total)}% of ${t.total}` : `${who} no requests yet`;

/** The verdict and its evidence, for a step that needs `required` (0..1) of the pass evidence. */
export function assess(
  memoryIn: SequentialMemory | undefined,
  settings: SequentialSettings,
  required: number,
): Assessment {
  const memory = usable(memoryIn);
  const failThreshold = Math.log(1 / settings.alpha);
  const passThreshold = Math.log(1 / (1 - settings.regression.power));
  const progress = Math.min(1, Math.max(0, memory.passMaxLog / passThreshold));
  const { canary, stable } = memory;
  const ratio =
    canary.total > 0 && stable.total > 0 && stable.bad > 0
      ? canary.bad / canary.total / (stable.bad / stable.total)
      : null;
  const interval = ratioInterval(canary, stable, settings.alpha);

  // how far the best single alternative has to go: the planning view of the mixtures above
  // (the ratio test's "as good as stable" alternative, or the floor's best), with its prior's cost
  const best = Math.max(
    (memory.passRatio[0] ?? 0) + Math.log(PASS_RATIOS[0]?.prior ?? 1),
    Math.max(...memory.passFloor) - Math.log(PASS_FLOORS.length),
  );
  const remaining = Math.max(0, required * passThreshold + Math.log(2) - best);
  const perRequest = evidencePerRequest(memory, settings);
  const neededRequests = progress >= required ? 0 : perRequest > 0 ? Math.ceil(remaining / perRequest) : null;
  const expectedWaitSeconds =
    neededRequests === null ? null : memory.rate > 0 ? Math.ceil(neededRequests / memory.rate) : null;

  const evidence: SequentialEvidence = {
    looks: memory.looks,
    canary,
    stable,
    ratio,
    ratioLow: interval.low,
    ratioHigh: interval.high,
    eValue: Math.exp(memory.failLog),
    threshold: 1 / settings.alpha,
    pValue: Math.min(1, Math.exp(-memory.failMaxLog)),
    tolerance: settings.tolerance,
    alpha: settings.alpha,
    passEValue: Math.exp(memory.passMaxLog),
    passThreshold: 1 / (1 - settings.regression.power),
    required,
    progress,
    regression: { ...settings.regression },
    neededRequests,
    expectedWaitSeconds,
  };

  const level = `${num(100 * (1 - settings.alpha))}%`;
  const ci =
    interval.low === null && interval.high === null
      ? 'no interval yet'
      : `${level} interval ${num(interval.low ?? 0)}-${interval.high === null ? 'inf' : num(interval.high)}`;
  const seen = `${served('canary', canary)}, ${served('stable', stable)}; ratio ${ratio === null ? 'n/a' : num(ratio)} (${ci})`;
  const failed = memory.failMaxLog >= failThreshold;
  if (failed) {
    return {
      verdict: 'Fail',
      evidence,
      rule: `${seen}; e-value ${evidenceNumber(Math.exp(memory.failMaxLog))} >= ${num(1 / settings.alpha)}: worse than stable x ${num(1 + settings.tolerance)} (alpha ${num(settings.alpha)})`,
    };
  }
  const { ratio: r, floor, power } = settings.regression;
  const regression = `a ${num(r)}x regression (at least ${num(100 * floor)}%) with ${num(100 * power)}% power`;
  const evidenceLine = `e-value ${evidenceNumber(evidence.eValue)} < ${num(1 / settings.alpha)}; evidence to rule out ${regression}: ${Math.floor(100 * progress)}%`;
  if (progress >= required) {
    return {
      verdict: 'Pass',
      evidence,
      rule: `${seen}; ${evidenceLine} (this step needs ${Math.ceil(100 * required)}%)`,
    };
  }
  const wait =
    neededRequests === null
      ? 'no traffic to estimate the wait from'
      : `about ${neededRequests} more canary requests${
          expectedWaitSeconds === null
            ? ''
            : ` (~${formatWait(expectedWaitSeconds)} at ${num(memory.rate)}/s)`
        }`;
  return {
    verdict: 'Inconclusive',
    evidence,
    rule: `${seen}; ${evidenceLine} of the ${Math.ceil(100 * required)}% this step needs; ${wait}`,
  };
}

/** Minutes at most: an estimate, not a timetable. */
function formatWait(seconds: number): string {
  return seconds < 90
    ? `${Math.max(1, Math.round(seconds))}s`
    : formatDuration(Math.round(seconds / 60) * 60_000);
}

/** E-values grow geometrically: past a million, say the order of magnitude. */
const evidenceNumber = (e: number): string => (e >= 1e6 ? e.toExponential(1) : num(e));

/** The bad requests of a count metric: errors, failed requests, or slow requests. */
function tally(metric: ResolvedMetric, side: Side): Tally {
  const counts = side.counts ?? { total: 0, errors: 0 };
  const bad = metric.type === 'slowRatio' ? (counts.slow ?? 0) : counts.errors;
  return { total: counts.total, bad };
}

export const sequentialJudge: Judge = {
  needsStable: true,
  window: 'increment',
  judge({ metric, canary, stable, memory, required, windowMs }) {
    const settings: SequentialSettings = {
      tolerance: metric.judge.tolerance ?? DEFAULT_SEQUENTIAL_TOLERANCE,
      alpha: metric.alpha,
      regression: metric.regression,
    };
    const increment: Increment = {
      canary: tally(metric, canary),
      stable: tally(metric, stable),
      seconds: windowMs / 1000,
    };
    const next = updateMemory(memory, increment, settings);
    const { verdict, rule, evidence } = assess(next, settings, required);
    return {
      verdict,
      rule,
      memory: next,
      sequential: evidence,
      ...(verdict === 'Fail' ? { final: true } : {}),
      ...(increment.canary.total === 0 ? { noNewData: true } : {}),
    };
  },
};
