import { canaryReleaseSpec, type CanaryReleaseSpec } from '../api/canary-release.js';
import type { TrafficScenario } from './simulate.js';

/** Bookinfo's `reviews`, as in the seeds: v1 is stable; the canary goes 10 % -> 20 % -> 50 % -> 100 %. */
export function reviewsRelease(canarySubset: string): CanaryReleaseSpec {
  return canaryReleaseSpec.parse({
    subsets: {},
    trafficRouting: {
      istio: {
        virtualService: { name: 'reviews' },
        destinationRule: { name: 'reviews' },
        stableSubset: 'v1',
        canarySubset,
      },
    },
    strategy: {
      steps: [
        { setWeight: 10 },
        { analysis: { duration: '2m' } },
        { setWeight: 20 },
        { analysis: { duration: '2m' } },
        { setWeight: 50 },
        { analysis: { duration: '2m' } },
      ],
    },
    analysis: {
      interval: '1m',
      minSamples: 100,
      failureLimit: 2,
      metrics: [
        {
          name: 'error-ratio',
          type: 'errorRatio',
          judge: { type: 'relative', tolerance: 0.5, slack: 0.005 },
        },
        {
          name: 'latency-p99',
          type: 'latencyQuantile',
          quantile: 0.99,
          judge: { type: 'relative', tolerance: 0.5, slack: 50 },
        },
      ],
    },
  });
}

const v1 = { name: 'v1', errorRate: 0.005, latencyP50Ms: 40, latencyP99Ms: 200 };

export interface DemoCase {
  title: string;
  spec: CanaryReleaseSpec;
  scenario: TrafficScenario;
}

export const DEMO_CASES: DemoCase[] = [
  {
    title: 'reviews v1 -> v2: a healthy canary',
    spec: reviewsRelease('v2'),
    scenario: { requestsPerSecond: 50, stable: v1, canary: { ...v1, name: 'v2' } },
  },
  {
    title: 'reviews v1 -> v3: a canary that fails 5x as often and is slower',
    spec: reviewsRelease('v3'),
    scenario: {
      requestsPerSecond: 50,
      stable: v1,
      canary: { name: 'v3', errorRate: 0.025, latencyP50Ms: 60, latencyP99Ms: 600 },
    },
  },
];
