import type { CanaryReleaseStatus, DecisionRecord } from '../api/canary-release.js';

/** A rollback as the engine records it: the error-ratio judge failed at 20%. */
export const rollbackRecord: DecisionRecord = {
  time: '2026-12-02T10:00:00.000Z',
  action: 'Rollback',
  reason: 'AnalysisFailed',
  message: 'rolled back: analysis failed at step 2 (error-ratio)',
  step: 1,
  canaryWeight: 20,
  verdict: 'Fail',
  metrics: [
    {
      metric: 'error-ratio',
      type: 'builtin',
      verdict: 'Fail',
      rule: 'canary 0.0500 > stable 0.0050 x (1+0.5) + 0.001 = 0.0085',
      canary: { value: 0.05, total: 1000, errors: 50 },
      stable: { value: 0.005, total: 4000, errors: 20 },
    },
    {
      metric: 'latency-p99',
      type: 'builtin',
      verdict: 'Pass',
      rule: 'canary 120 <= stable 110 x 1.2 = 132',
      canary: { value: 120 },
      stable: { value: 110 },
    },
  ],
};

export const rolledBackStatus = (records: DecisionRecord[] = [rollbackRecord]): CanaryReleaseStatus => ({
  phase: 'RolledBack',
  canaryWeight: 0,
  canaryRevision: 'abc123',
  stableRevision: 'def456',
  decisions: records,
});

export const release = { name: 'checkout', namespace: 'shop' };
