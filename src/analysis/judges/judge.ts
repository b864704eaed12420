import type { RequestCounts, ResolvedMetric } from '../types.js';

/** One revision's side of a comparison: the metric's value and, for request metrics, the counts. */
export interface Side {
  value: number | null;
  counts?: RequestCounts;
}

export interface JudgeInput {
  metric: ResolvedMetric;
  canary: Side;
  stable: Side;
  /** Whether a larger value is better (success rate) or worse (error ratio, latency). */
  higherIsBetter: boolean;
}

export interface JudgeOutcome {
  verdict: 'Pass' | 'Fail' | 'Inconclusive';
  /** The rule that fired, with its numbers. */
  rule: string;
  bound?: number;
}

/**
 * A judge compares what was measured with the metric's criteria. It sees the full counts, not just
 * the ratios, so a sequential test on counts can be a judge of its own.
 */
export interface Judge {
  /** Whether the stable revision must have data too. */
  readonly needsStable: boolean;
  judge(input: JudgeInput): JudgeOutcome;
}
