import type { Manifest } from '../../src/routers/istio/manifests.js';
import type { KubeObject } from '../../src/kube/resources.js';
import { reviewsObjects } from '../../src/sim/demo.js';

/**
 * Judges over the step window, as releases wrote them before the sequential judge: a relative error
 * ratio gated by minSamples, and a relative p99 latency. The report draws these as value-and-bound
 * charts and the requests chart against minSamples.
 */
export const RELATIVE_ANALYSIS = {
  interval: '1m',
  minSamples: 100,
  failureLimit: 2,
  metrics: [
    { name: 'error-ratio', type: 'errorRatio', judge: { type: 'relative', tolerance: 0.5, slack: 0.005 } },
    {
      name: 'latency-p99',
      type: 'latencyQuantile',
      quantile: 0.99,
      judge: { type: 'relative', tolerance: 0.5, slack: 50 },
    },
  ],
};

/** The demo's reviews objects with the release's spec changed by `edit`. */
export function reviewsWith(edit: (spec: Record<string, unknown>) => void, canary = 'v2'): KubeObject[] {
  const [release, ...rest] = reviewsObjects(canary);
  const copy = structuredClone(release!);
  edit(copy.spec as Record<string, unknown>);
  return [copy, ...rest];
}

/** The demo's reviews release judged by RELATIVE_ANALYSIS instead of the shipped sequential templates. */
export const relativeReviews = (canary = 'v2'): KubeObject[] =>
  reviewsWith((spec) => {
    spec.analysis = structuredClone(RELATIVE_ANALYSIS);
  }, canary);

/** Objects as the manifests of one file, for loadCluster. */
export const asManifests = (objects: readonly KubeObject[], file = 'reviews.yaml'): Manifest[] =>
  objects.map((doc) => ({ file, doc, line: () => undefined }));

const service = (name: string, selector: Record<string, string>): KubeObject => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: 'default' },
  spec: { selector, ports: [{ name: 'http', port: 9080 }] },
});

/** An HTTPRoute attached to Service `parent` (the mesh, an ambient waypoint) whose one rule sends to `backend`. */
export const meshRoute = (parent: string, backend: string): KubeObject => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name: parent, namespace: 'default' },
  spec: {
    parentRefs: [{ group: '', kind: 'Service', name: parent, port: 9080 }],
    rules: [{ backendRefs: [{ name: backend, port: 9080 }] }],
  },
});

/**
 * The demo's reviews release through Gateway API in subsets mode: HTTPRoute reviews on the Service
 * reviews, a Service per version (reviews-v1, -v2, -v3 selecting version vN), no Deployments (the
 * simulator makes them up from the selectors).
 */
export function gatewayReviewsObjects(canary = 'v2'): KubeObject[] {
  const [release] = reviewsWith((spec) => {
    spec.trafficRouting = {
      gatewayAPI: {
        httpRoute: { name: 'reviews' },
        stableService: 'reviews-v1',
        canaryService: `reviews-${canary}`,
      },
    };
  }, canary);
  return [
    release!,
    meshRoute('reviews', 'reviews-v1'),
    service('reviews', { app: 'reviews' }),
    ...['v1', 'v2', 'v3'].map((v) => service(`reviews-${v}`, { app: 'reviews', version: v })),
  ];
}

/**
 * Managed mode through Gateway API: the user's Deployment and Service podinfo, an HTTPRoute whose
 * rule sends to podinfo-primary (canaria creates podinfo-primary and podinfo-canary), and the release.
 */
export function managedGatewayObjects(): KubeObject[] {
  const labels = { app: 'podinfo', version: 'canary' };
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'podinfo', namespace: 'default' },
      spec: {
        replicas: 2,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: { containers: [{ name: 'podinfo', image: 'ghcr.io/stefanprodan/podinfo:6.7.0' }] },
        },
      },
    },
    service('podinfo', { app: 'podinfo' }),
    meshRoute('podinfo', 'podinfo-primary'),
    {
      apiVersion: 'canaria.dev/v1alpha1',
      kind: 'CanaryRelease',
      metadata: { name: 'podinfo', namespace: 'default' },
      spec: {
        targetRef: { name: 'podinfo' },
        trafficRouting: { gatewayAPI: { httpRoute: { name: 'podinfo' } } },
        strategy: {
          steps: [
            { setWeight: 10 },
            { analysis: { duration: '5m' } },
            { setWeight: 50 },
            { analysis: { duration: '5m' } },
          ],
        },
        analysis: {
          interval: '1m',
          templates: [{ name: 'error-ratio', kind: 'ClusterAnalysisTemplate' }],
        },
      },
    },
  ];
}
