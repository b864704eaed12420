import { describe, expect, it } from 'vitest';
import type { MeasurementRequest } from '../metrics/provider.js';
import { silentLogger } from '../telemetry/logger.js';
import { baseSpecInput, counts, errorRatioAnalysis, requests } from '../../test/builders/release.js';
import { fakeMetrics, managedPrimary, NAMESPACE, reviewsCluster } from '../../test/builders/cluster.js';
import { MeasureBatcher } from './measure-batcher.js';
import { Reconciler } from './reconciler.js';

const KEY = `${NAMESPACE}/reviews`;

describe('analysis windows on a shared granule', () => {
  it('end on the granule, so releases analysed within it ask Prometheus at one time; increments go on from there', async () => {
    // the sequential judge (the default) measures increments
    const kube = reviewsCluster({
      ...managedPrimary(baseSpecInput()),
      strategy: { steps: [{ setWeight: 10 }, { analysis: { duration: '10m' } }] },
      analysis: errorRatioAnalysis({
        metrics: [
          { name: 'error-ratio', type: 'errorRatio', judge: { type: 'sequential', tolerance: 0.25 } },
        ],
      }),
    });
    const asked: MeasurementRequest[] = [];
    const metrics = fakeMetrics((request) => {
      asked.push(request);
      return requests(counts(1000, 2), counts(9000, 20));
    });
    let now = new Date('2026-11-21T10:00:07Z');
    const reconciler = new Reconciler({
      kube,
      measurer: new MeasureBatcher(metrics, 0),
      clock: () => now,
      logger: silentLogger(),
      queryGranuleMs: 15_000,
    });
    for (let i = 0; i < 60 && asked.length < 2; i++) {
      const next = await reconciler.reconcile(KEY);
      now = new Date(now.getTime() + Math.max(next ?? 60_000, 1_000) + 3_000);
    }
    expect(asked.length).toBeGreaterThanOrEqual(2);
    for (const request of asked) expect(request.now.getTime() % 15_000).toBe(0);
    // the second increment starts where the first one's data ended
    const [first, second] = asked;
    expect(second?.since?.['error-ratio']?.toISOString()).toBe(first?.now.toISOString());
  });
});
