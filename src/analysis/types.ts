import type { MetricSpec } from '../api/analysis-template.js';
import type { MetricEvidence, SequentialMemory, VerdictKind } from '../api/canary-release.js';

export type { MetricEvidence, VerdictKind };

/** Requests one revision served in the analysis window, as integer counts. */
export interface RequestCounts {
  total: number;
  errors: number;
  /** Requests slower than the metric's latency bound; only for slowRatio metrics. */
  slow?: number;
}

/** Why a backend could not answer; `retryable` says whether asking again may help. */
export interface MeasurementError {
  code: 'Unreachable' | 'Timeout' | 'BadQuery' | 'Malformed' | 'Ambiguous';
  message: string;
  retryable: boolean;
}

/**
 * What the metrics layer saw for one metric of one release over the window. "No data" is a value
 * (`total: 0`, or `null` for a scalar), never an exception; `note` says why there is none when the
 * backend can tell (no proxy reports the Service's requests), so holding is not silent.
 */
export type Measurement =
  | { kind: 'requests'; canary: RequestCounts; stable: RequestCounts; query?: string; note?: string }
  | { kind: 'scalar'; canary: number | null; stable: number | null; query?: string; note?: string }
  | { kind: 'error'; error: MeasurementError; query?: string };

/** A metric after template references are resolved and `{{ args.* }}` are known. */
export type ResolvedMetric = Omit<MetricSpec, 'minSamples'> & {
  /** Where it came from, for evidence: `template error-ratio`, `inline`. */
  source: string;
  /** Template arguments for `{{ args.NAME }}` placeholders. */
  args: Record<string, string>;
  /** The effective minimum of requests per revision (judges over the step's window). */
  minSamples: number;
  /** Sequential judges: this metric's share of the release's alpha, and the regression to catch. */
  alpha: number;
  regression: { ratio: number; floor: number; power: number };
  /** What it is measured over: the current step's window, or the increment since its last analysis. */
  window: 'step' | 'increment';
};

export interface MetricVerdict {
  verdict: VerdictKind;
  evidence: MetricEvidence;
  /** A Fail no later evidence takes back (see JudgeOutcome.final). */
  final?: boolean;
  /** Carried into the next analysis of the rollout, for judges over increments. */
  memory?: SequentialMemory;
  /** Nothing new was measured for this metric. */
  noNewData?: boolean;
}
