import type { Manifest } from '../../src/istio/manifests.js';
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
