import { API_VERSION } from '../api/meta.js';
import type { Manifest } from '../routers/istio/manifests.js';
import type { KubeObject } from '../kube/resources.js';
import { scenarioSpec, type Scenario } from './scenario.js';

/**
 * Bookinfo's `reviews`, as in the seeds: v1 takes all traffic through the VirtualService, the
 * DestinationRule has subsets v1, v2 and v3, and the canary goes 10 % -> 20 % -> 50 % -> 100 %.
 */
export function reviewsObjects(canarySubset: string): KubeObject[] {
  const release: KubeObject = {
    apiVersion: API_VERSION,
    kind: 'CanaryRelease',
    metadata: { name: 'reviews', namespace: 'default' },
    spec: {
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
      // the shipped templates, on canaria's defaults: sequential tests of errors and slow requests
      analysis: {
        templates: [
          { name: 'error-ratio', kind: 'ClusterAnalysisTemplate' },
          { name: 'slow-ratio', kind: 'ClusterAnalysisTemplate' },
        ],
      },
    },
  };
  const virtualService: KubeObject = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: 'reviews', namespace: 'default' },
    spec: { hosts: ['reviews'], http: [{ route: [{ destination: { host: 'reviews', subset: 'v1' } }] }] },
  };
  const destinationRule: KubeObject = {
    apiVersion: 'networking.istio.io/v1',
    kind: 'DestinationRule',
    metadata: { name: 'reviews', namespace: 'default' },
    spec: {
      host: 'reviews',
      subsets: ['v1', 'v2', 'v3'].map((name) => ({ name, labels: { version: name } })),
    },
  };
  return [release, virtualService, destinationRule];
}

const asManifests = (objects: readonly KubeObject[]): Manifest[] =>
  objects.map((doc) => ({ file: 'demo', doc, line: () => undefined }));

export interface DemoCase {
  title: string;
  description: string;
  manifests: Manifest[];
  scenario: Scenario;
  expected: 'Succeeded' | 'RolledBack';
}

const healthy = { errorRate: 0.005, latency: { p50: 40, p99: 200 } };

export const DEMO_CASES: DemoCase[] = [
  {
    title: 'reviews v1 -> v2: a healthy canary',
    description: '50 req/s, steps 10% -> 20% -> 50% -> 100%, analysed every minute against v1',
    manifests: asManifests(reviewsObjects('v2')),
    scenario: scenarioSpec.parse({ revisions: { v1: healthy, v2: healthy } }),
    expected: 'Succeeded',
  },
  {
    title: 'reviews v1 -> v3: a canary that fails 5x as often and is slower',
    description: '50 req/s; v3 answers 2.5% of requests with errors (v1: 0.5%), p99 600 ms (v1: 200 ms)',
    manifests: asManifests(reviewsObjects('v3')),
    scenario: scenarioSpec.parse({
      revisions: { v1: healthy, v3: { errorRate: 0.025, latency: { p50: 60, p99: 600 } } },
    }),
    expected: 'RolledBack',
  },
];
