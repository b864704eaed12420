import type { CanaryReleaseSpecInput } from '../../src/api/canary-release.js';
import { API_VERSION } from '../../src/api/meta.js';
import type { Measurement } from '../../src/analysis/types.js';
import { MemoryKube } from '../../src/kube/memory.js';
import type { Deployment, KubeObject } from '../../src/kube/resources.js';
import type { MeasurementRequest, Measurements, MetricsProvider } from '../../src/metrics/provider.js';
import { destinationRule, route, to, virtualService } from '../fixtures/seeds/builders.js';
import { baseSpecInput } from './release.js';

export const NAMESPACE = 'default';

/** A Deployment running one version of reviews, ready unless told otherwise. */
export function deployment(name: string, version: string, image: string, ready = true): Deployment {
  return {
    metadata: { name, namespace: NAMESPACE },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: 'reviews', version } },
      template: {
        metadata: { labels: { app: 'reviews', version } },
        spec: { containers: [{ name: 'reviews', image }] },
      },
    },
    status: ready
      ? { observedGeneration: 1, replicas: 2, updatedReplicas: 2, readyReplicas: 2, availableReplicas: 2 }
      : { observedGeneration: 1, replicas: 2, updatedReplicas: 0, readyReplicas: 0, availableReplicas: 0 },
  };
}

export function releaseObject(spec: unknown, name = 'reviews'): KubeObject {
  return { apiVersion: API_VERSION, kind: 'CanaryRelease', metadata: { name, namespace: NAMESPACE }, spec };
}

/** Names the route canaria manages: the /admin route also sends to v1, so it must be told apart. */
export function managedPrimary(spec: CanaryReleaseSpecInput): CanaryReleaseSpecInput {
  const istio = spec.trafficRouting.istio;
  if (!istio)
    throw new Error('managedPrimary names a VirtualService route: the spec needs trafficRouting.istio');
  return {
    ...spec,
    trafficRouting: { istio: { ...istio, virtualService: { ...istio.virtualService, routes: ['primary'] } } },
  };
}

/**
 * The seeds' reviews service in an in-memory cluster: v1 takes all traffic through a named route
 * that also carries the user's retries, a second route the user added for /admin, both versions
 * deployed and ready.
 */
export function reviewsCluster(spec: CanaryReleaseSpecInput = managedPrimary(baseSpecInput())): MemoryKube {
  const kube = new MemoryKube();
  const vs = virtualService(
    [
      route([to('v1', 100)], {
        name: 'admin',
        match: [{ uri: { prefix: '/admin' } }],
      }),
      route([to('v1', 100), to('v2', 0)], { name: 'primary', retries: { attempts: 3, perTryTimeout: '2s' } }),
    ],
    { namespace: NAMESPACE },
  );
  kube.apply('VirtualService', vs);
  kube.apply(
    'DestinationRule',
    destinationRule({ v1: { version: 'v1' }, v2: { version: 'v2' } }, { namespace: NAMESPACE }),
  );
  kube.apply('Deployment', deployment('reviews-v1', 'v1', 'reviews:1'));
  kube.apply('Deployment', deployment('reviews-v2', 'v2', 'reviews:2'));
  kube.apply('CanaryRelease', releaseObject(spec));
  return kube;
}

/** A metrics provider that answers every metric of every release with what `answer` says. */
export function fakeMetrics(
  answer: (request: MeasurementRequest) => Measurement,
): MetricsProvider & { calls: number } {
  const provider = {
    calls: 0,
    measure(requests: readonly MeasurementRequest[]): Promise<Measurements> {
      provider.calls++;
      return Promise.resolve(
        new Map(requests.map((r) => [r.key, new Map(r.metrics.map((m) => [m.name, answer(r)]))])),
      );
    },
  };
  return provider;
}
