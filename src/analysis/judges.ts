import type { JudgeType, MetricType } from '../api/analysis-template.js';
import type { MetricEvidence, SequentialMemory } from '../api/canary-release.js';
import type { Judge, Side } from './judges/judge.js';
import { relativeJudge } from './judges/relative.js';
import { sequentialJudge } from './judges/sequential.js';
import { thresholdJudge } from './judges/threshold.js';
import type { Measurement, MetricVerdict, RequestCounts, ResolvedMetric } from './types.js';

/** The judge registry, keyed by the `judge.type` values the API accepts. */
export const judges: Record<JudgeType, Judge> = {
  threshold: thresholdJudge,
  relative: relativeJudge,
  sequential: sequentialJudge,
};

/** What a judge over increments needs from the rollout besides the measurement. */
export interface JudgeContext {
  memory?: SequentialMemory | undefined;
  /** The share of the evidence the current step needs (0..1]. */
  required: number;
  windowMs: number;
}

const HIGHER_IS_BETTER: Record<MetricType, boolean | undefined> = {
  errorRatio: false,
  successRate: true,
  slowRatio: false,
  latencyQuantile: false,
  promql: undefined,
};

function ratioOf(metric: ResolvedMetric, counts: RequestCounts): number | null {
  if (counts.total <= 0) return null;
  if (metric.type === 'successRate') return (counts.total - counts.errors) / counts.total;
  if (metric.type === 'slowRatio') return (counts.slow ?? 0) / counts.total;
  return counts.errors / counts.total;
}

function sideEvidence(side: Side): MetricEvidence['canary'] {
  return { value: side.value, ...side.counts };
}

/**
 * Judges one metric over one window. Missing data and too few requests are Inconclusive, a backend
 * failure is Error: neither is evidence against the canary.
 */
export function judgeMetric(
  metric: ResolvedMetric,
  measurement: Measurement,
  context: JudgeContext = { required: 1, windowMs: 0 },
): MetricVerdict {
  const judge = judges[metric.judge.type];
  const base = {
    metric: metric.name,
    type: metric.type,
    ...(measurement.query ? { query: measurement.query } : {}),
  };
  const verdict = (
    v: MetricVerdict['verdict'],
    rule: string,
    canary: Side,
    stable?: Side,
    bound?: number,
  ): MetricVerdict => ({
    verdict: v,
    evidence: {
      ...base,
      verdict: v,
      rule,
      canary: sideEvidence(canary),
      ...(stable ? { stable: sideEvidence(stable) } : {}),
      ...(bound !== undefined && Number.isFinite(bound) ? { bound } : {}),
    },
  });

  if (measurement.kind === 'error') {
    return verdict('Error', `${measurement.error.code}: ${measurement.error.message}`, { value: null });
  }

  let canary: Side;
  let stable: Side;
  if (measurement.kind === 'requests') {
    canary = { value: ratioOf(metric, measurement.canary), counts: measurement.canary };
    stable = { value: ratioOf(metric, measurement.stable), counts: measurement.stable };
    // a judge over increments weighs whatever arrived, however little; its tests need no minimum
    const need = judge.window === 'increment' ? 0 : Math.max(metric.minSamples, 1);
    const short = [
      ['canary', measurement.canary.total] as const,
      ...(judge.needsStable ? [['stable', measurement.stable.total] as const] : []),
    ].filter(([, total]) => total < need);
    if (short.length) {
      const parts = short.map(([who, total]) => `${who} served ${total} requests`).join(', ');
      const why = measurement.note ? `; ${measurement.note}` : '';
      return verdict(
        'Inconclusive',
        `${parts} in the window; ${need} needed for a verdict${why}`,
        canary,
        stable,
      );
    }
  } else {
    const clean = (v: number | null) => (v === null || Number.isNaN(v) ? null : v);
    canary = { value: clean(measurement.canary) };
    stable = { value: clean(measurement.stable) };
    const missing = [
      ...(canary.value === null ? ['canary'] : []),
      ...(judge.needsStable && stable.value === null ? ['stable'] : []),
    ];
    if (missing.length) {
      const why = measurement.note ? `; ${measurement.note}` : '';
      return verdict(
        'Inconclusive',
        `no data for ${missing.join(' and ')} in the window${why}`,
        canary,
        stable,
      );
    }
  }

  const higherIsBetter = HIGHER_IS_BETTER[metric.type] ?? metric.higherIsBetter ?? false;
  const outcome = judge.judge({ metric, canary, stable, higherIsBetter, ...context });
  const judged: MetricVerdict = verdict(
    outcome.verdict,
    outcome.rule,
    canary,
    judge.needsStable ? stable : undefined,
    outcome.bound,
  );
  if (outcome.sequential) judged.evidence.sequential = outcome.sequential;
  if (outcome.final) judged.final = true;
  if (outcome.memory) judged.memory = outcome.memory;
  if (outcome.noNewData) judged.noNewData = true;
  return judged;
}
