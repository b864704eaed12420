import { describe, expect, it } from 'vitest';
import { fakeMetrics } from '../../test/builders/cluster.js';
import type { KubeObject } from '../kube/resources.js';
import { namespaceOf, scaleWorld, serviceOf } from '../sim/scale/world.js';
import { silentLogger } from '../telemetry/logger.js';
import { dependents } from './dependents.js';
import { MeasureBatcher } from './measure-batcher.js';
import { Reconciler } from './reconciler.js';

/** Three subsets-mode releases in one namespace, each with its two Deployments, all reconciled once. */
async function neighbours() {
  const kube = scaleWorld({ releases: 3, perNamespace: 3, realisticObjects: false });
  const reconciler = new Reconciler({
    kube,
    measurer: new MeasureBatcher(
      fakeMetrics(() => ({ kind: 'scalar', canary: null, stable: null })),
      0,
    ),
    clock: () => new Date('2026-12-01T10:00:00Z'),
    logger: silentLogger(),
  });
  const namespace = namespaceOf(0, 3);
  const keys = [0, 1, 2].map((i) => `${namespace}/${serviceOf(i)}`);
  for (const key of keys) await reconciler.reconcile(key);
  const woken = (
    kind: 'Deployment' | 'HorizontalPodAutoscaler' | 'ClusterAnalysisTemplate',
    object: KubeObject,
  ) =>
    dependents(
      kube,
      kind,
      object,
      () => true,
      (key) => reconciler.interestOf(key),
    );
  const deploymentOf = (i: number, version: string) =>
    structuredClone(kube.get('Deployment', { namespace, name: `${serviceOf(i)}-${version}` }) as KubeObject);
  return { kube, namespace, keys, woken, deploymentOf, reconciler };
}

describe('which releases an event wakes', () => {
  it('a Deployment: only the release that runs on it, not its neighbours', async () => {
    const { keys, woken, deploymentOf } = await neighbours();
    const canary = deploymentOf(1, 'v2');
    canary.status = { ...(canary.status as object), readyReplicas: 1 };
    expect(woken('Deployment', canary)).toEqual([keys[1]]);
  });

  it('a Deployment whose pods move to another release: the one it left and the one it joined', async () => {
    const { keys, woken, deploymentOf } = await neighbours();
    const moved = deploymentOf(0, 'v2') as KubeObject & {
      spec: { template: { metadata: { labels: Record<string, string> } } };
    };
    moved.spec.template.metadata.labels = { app: serviceOf(2), version: 'v2' };
    expect(woken('Deployment', moved).sort()).toEqual([keys[0], keys[2]]);
  });

  it('a new Deployment nobody selects wakes nobody; one a release was not reconciled for wakes it', async () => {
    const { kube, namespace, keys, woken } = await neighbours();
    const stranger: KubeObject = {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name: 'batch-job', namespace },
      spec: { template: { metadata: { labels: { app: 'batch' } } } },
    };
    expect(woken('Deployment', stranger)).toEqual([]);
    kube.apply('CanaryRelease', {
      ...structuredClone(kube.get('CanaryRelease', { namespace, name: serviceOf(0) }) as KubeObject),
      metadata: { name: 'fresh', namespace },
    });
    expect(woken('Deployment', stranger)).toEqual([`${namespace}/fresh`]);
    expect(keys).toHaveLength(3);
  });

  it('an autoscaler: the release whose Deployment it scales', async () => {
    const { namespace, keys, woken } = await neighbours();
    const hpa: KubeObject = {
      apiVersion: 'autoscaling/v2',
      kind: 'HorizontalPodAutoscaler',
      metadata: { name: 'scaler', namespace },
      spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: `${serviceOf(2)}-v1` } },
    };
    expect(woken('HorizontalPodAutoscaler', hpa)).toEqual([keys[2]]);
  });

  it('a template: the releases that use it', async () => {
    const { kube, keys, woken } = await neighbours();
    const used = kube.get('ClusterAnalysisTemplate', { namespace: '', name: 'error-ratio' }) as KubeObject;
    expect(woken('ClusterAnalysisTemplate', used).sort()).toEqual(keys);
    expect(woken('ClusterAnalysisTemplate', { ...used, metadata: { name: 'unused' } })).toEqual([]);
  });
});
