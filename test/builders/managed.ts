import type { CanaryReleaseSpecInput } from '../../src/api/canary-release.js';
import { MemoryKube } from '../../src/kube/memory.js';
import type { Deployment, KubeObject } from '../../src/kube/resources.js';
import { destinationRule, route, to, virtualService } from '../fixtures/seeds/builders.js';
import { errorRatioAnalysis } from './release.js';
import { NAMESPACE, releaseObject } from './cluster.js';

/** A managed-mode release of `podinfo`: one user Deployment, subsets named stable and canary. */
export const managedSpecInput = (extra: Partial<CanaryReleaseSpecInput> = {}): CanaryReleaseSpecInput => ({
  targetRef: { name: 'podinfo' },
  trafficRouting: {
    istio: {
      virtualService: { name: 'podinfo' },
      destinationRule: { name: 'podinfo' },
      stableSubset: 'stable',
      canarySubset: 'canary',
    },
  },
  strategy: { steps: [{ setWeight: 20 }, { analysis: {} }, { setWeight: 60 }, { analysis: {} }] },
  analysis: errorRatioAnalysis(),
  ...extra,
});

/**
 * The user's Deployment: `version: canary` on its pods and in its selector (so that it does not select
 * the primary's pods), a ConfigMap read through envFrom.
 */
export function userDeployment(image = 'podinfo:1.0', replicas = 3): Deployment {
  const labels = { app: 'podinfo', version: 'canary' };
  return {
    metadata: { name: 'podinfo', namespace: NAMESPACE, labels: { app: 'podinfo' } },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          containers: [{ name: 'podinfo', image, envFrom: [{ configMapRef: { name: 'podinfo-config' } }] }],
        },
      },
    },
  };
}

export const configMap = (data: Record<string, string>): KubeObject => ({
  metadata: { name: 'podinfo-config', namespace: NAMESPACE },
  data,
});

/** A cluster where the user has just applied podinfo, its Service's VirtualService and DestinationRule. */
export function podinfoCluster(spec: CanaryReleaseSpecInput = managedSpecInput()): MemoryKube {
  const kube = new MemoryKube();
  kube.apply(
    'VirtualService',
    virtualService([route([to('stable', 100, 'podinfo'), to('canary', 0, 'podinfo')], { name: 'main' })], {
      name: 'podinfo',
      namespace: NAMESPACE,
      hosts: ['podinfo'],
    }),
  );
  kube.apply(
    'DestinationRule',
    destinationRule(
      { stable: { app: 'podinfo' }, canary: { app: 'podinfo' } },
      { name: 'podinfo', namespace: NAMESPACE, host: 'podinfo' },
    ),
  );
  kube.apply('ConfigMap', configMap({ color: 'blue' }));
  kube.apply('Deployment', userDeployment());
  kube.apply('CanaryRelease', releaseObject(spec, 'podinfo'));
  return kube;
}

/**
 * Plays the deployment controller: every Deployment's status catches up with its spec, unless its
 * name is in `stuck` (pods that never become ready).
 */
export function rollOutDeployments(kube: MemoryKube, stuck: ReadonlySet<string> = new Set()): void {
  for (const object of kube.list('Deployment')) {
    const d = object as Deployment;
    const replicas = d.spec?.replicas ?? 1;
    const ready = stuck.has(d.metadata.name) ? 0 : replicas;
    const status = {
      observedGeneration: d.metadata.generation ?? 1,
      replicas,
      updatedReplicas: replicas,
      readyReplicas: ready,
      availableReplicas: ready,
    };
    if (JSON.stringify(d.status) !== JSON.stringify(status)) kube.apply('Deployment', { ...d, status });
  }
}
