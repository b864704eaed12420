import type { MetricSpec } from '../api/analysis-template.js';
import type { MetricEvidence, VerdictKind } from '../api/canary-release.js';

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
 * (`total: 0`, or `null` for a scalar), never an exception.
 */
export type Measurement =
  | { kind: 'requests'; canary: RequestCounts; stable: RequestCounts; query?: string }
  | { kind: 'scalar'; canary: number | null; stable: number | null; query?: string }
  | { kind: 'error'; error: MeasurementError; query?: string };

/** A metric after template references are resolved and `{{ args.* }}` are known. */
export type ResolvedMetric = Omit<MetricSpec, 'minSamples'> & {
  /** Where it came from, for evidence: `template error-ratio`, `inline`. */
  source: string;
  /** Template arguments for `{{ args.NAME }}` placeholders. */
  args: Record<string, string>;
  /** The effective minimum of requests per revision. */
  minSamples: number;
};

export interface MetricVerdict {
  verdict: VerdictKind;
  evidence: MetricEvidence;
}
