import type { SequentialEvidence, SequentialMemory } from '../../api/canary-release.js';
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
  /** What this judge carried over from the rollout's previous analyses (judges over increments). */
  memory?: SequentialMemory | undefined;
  /** The share of the evidence the current step needs before it may advance (0..1]. */
  required: number;
  /** How long the measured window is. */
  windowMs: number;
}

export interface JudgeOutcome {
  verdict: 'Pass' | 'Fail' | 'Inconclusive';
  /** The rule that fired, with its numbers. */
  rule: string;
  bound?: number;
  /** A Fail that no later evidence takes back: the release rolls back at once, whatever failureLimit says. */
  final?: boolean;
  /** What to carry into the next analysis of this rollout. */
  memory?: SequentialMemory;
  sequential?: SequentialEvidence;
  /** Nothing new was measured: the verdict rests on earlier evidence alone. */
  noNewData?: boolean;
}

/**
 * A judge compares what was measured with the metric's criteria. It sees the full counts, not just
 * the ratios. A judge measured over `step` sees the whole current step's window at every analysis;
 * one over `increment` sees only what arrived since its previous analysis, keeps what it learnt in
 * `memory`, and decides on the rollout so far.
 */
export interface Judge {
  /** Whether the stable revision must have data too. */
  readonly needsStable: boolean;
  readonly window: 'step' | 'increment';
  judge(input: JudgeInput): JudgeOutcome;
}
