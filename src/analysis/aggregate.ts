import type { AnalysisSpec, VerdictKind } from '../api/canary-release.js';
import type { MetricVerdict } from './types.js';

/** What one analysis means for the rollout. */
export type AnalysisEffect = 'pass' | 'fail' | 'hold';

export interface AnalysisOutcome {
  /** The combined verdict: Fail beats Error beats Inconclusive beats Pass. */
  verdict: VerdictKind;
  effect: AnalysisEffect;
  /** One line with the numbers: which metrics decided and why. */
  summary: string;
}

export type AnalysisPolicy = Pick<AnalysisSpec, 'onInconclusive' | 'onError'>;

export function effectOf(verdict: VerdictKind, policy: AnalysisPolicy): AnalysisEffect {
  switch (verdict) {
    case 'Pass':
      return 'pass';
    case 'Fail':
      return 'fail';
    case 'Error':
      return policy.onError === 'Fail' ? 'fail' : 'hold';
    case 'Inconclusive':
      return policy.onInconclusive === 'Fail' ? 'fail' : policy.onInconclusive === 'Pass' ? 'pass' : 'hold';
  }
}

const PRECEDENCE: VerdictKind[] = ['Fail', 'Error', 'Inconclusive', 'Pass'];

/**
 * Combines the metrics of one analysis. Only Fail evidence can fail it (or Error/Inconclusive when
 * the policy says so); a metrics outage or a quiet service holds.
 */
export function aggregate(verdicts: readonly MetricVerdict[], policy: AnalysisPolicy): AnalysisOutcome {
  const verdict =
    verdicts.length === 0
      ? 'Inconclusive'
      : (PRECEDENCE.find((v) => verdicts.some((m) => m.verdict === v)) ?? 'Pass');
  const deciding = verdicts.filter((m) => m.verdict === verdict);
  const summary =
    verdicts.length === 0
      ? 'no metrics to analyse'
      : deciding.map((m) => `${m.evidence.metric} ${m.verdict}: ${m.evidence.rule}`).join('; ');
  return { verdict, effect: effectOf(verdict, policy), summary };
}
