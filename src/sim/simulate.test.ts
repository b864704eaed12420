import { describe, expect, it } from 'vitest';
import { DEMO_CASES } from './demo.js';
import { histogramQuantile, emptyBuckets, bucketIndex, slowerThan } from './histogram.js';
import { simulate } from './simulate.js';

const [healthy, faulty] = DEMO_CASES;

describe('simulate', () => {
  it('promotes the healthy demo canary through every weight', () => {
    const result = simulate({ spec: healthy!.spec, scenario: healthy!.scenario, seed: 1 });
    expect(result.outcome).toBe('Succeeded');
    expect(result.timeline.map((e) => e.canaryWeight)).toEqual(expect.arrayContaining([10, 20, 50, 100]));
    expect(result.timeline.at(-1)?.decision.action).toBe('Succeed');
  });

  it('rolls the faulty demo canary back while it has 10 % of the traffic', () => {
    const result = simulate({ spec: faulty!.spec, scenario: faulty!.scenario, seed: 1 });
    expect(result.outcome).toBe('RolledBack');
    const rollback = result.timeline.at(-1)?.decision;
    expect(rollback?.action).toBe('Rollback');
    expect(rollback?.metrics?.find((m) => m.metric === 'error-ratio')?.verdict).toBe('Fail');
    expect(result.canary.total / (result.canary.total + result.stable.total)).toBeLessThan(0.11);
  });

  it('is deterministic for a seed and differs across seeds', () => {
    const run = (seed: number) => simulate({ spec: faulty!.spec, scenario: faulty!.scenario, seed });
    expect(run(7)).toEqual(run(7));
    expect(run(7).canary).not.toEqual(run(8).canary);
  });

  it('a fault that starts mid-rollout is caught at the weight where it appears', () => {
    const scenario = { ...healthy!.scenario, faults: [{ atMs: 4.5 * 60_000, canary: { errorRate: 0.2 } }] };
    const result = simulate({ spec: healthy!.spec, scenario, seed: 3 });
    expect(result.outcome).toBe('RolledBack');
    expect(result.timeline.some((e) => e.canaryWeight === 50)).toBe(true);
  });
});

describe('histogram', () => {
  it('interpolates quantiles like histogram_quantile and counts slow requests by bucket', () => {
    const buckets = emptyBuckets();
    for (const latency of [30, 30, 30, 40, 300]) {
      const i = bucketIndex(latency);
      buckets[i] = (buckets[i] ?? 0) + 1;
    }
    // 4 of 5 in (25, 50], 1 in (250, 500]
    expect(histogramQuantile(0.5, buckets)).toBeCloseTo(25 + (25 * 2.5) / 4);
    expect(histogramQuantile(0.99, buckets)).toBeCloseTo(250 + 250 * 0.95);
    expect(slowerThan(buckets, 250)).toBe(1);
    expect(histogramQuantile(0.5, emptyBuckets())).toBeNull();
  });
});
