/**
 * One release per VirtualService route: the real reconciler on the in-memory API server, two releases
 * that claim one route, the second refused with a condition naming the first and patching nothing.
 */
import { describe, expect, it } from 'vitest';
import type { CanaryReleaseStatus } from '../api/canary-release.js';
import type { MemoryKube } from '../kube/memory.js';
import { silentLogger } from '../telemetry/logger.js';
import { baseSpecInput, counts, requests } from '../../test/builders/release.js';
import { fakeMetrics, managedPrimary, NAMESPACE, reviewsCluster } from '../../test/builders/cluster.js';
import { MeasureBatcher } from './measure-batcher.js';
import { Reconciler } from './reconciler.js';

const VS = { namespace: NAMESPACE, name: 'reviews' };

function reconcilerOn(kube: MemoryKube) {
  let now = new Date('2026-11-21T10:00:00Z');
  const reconciler = new Reconciler({
    kube,
    measurer: new MeasureBatcher(
      fakeMetrics(() => requests(counts(1000, 1), counts(9000, 9))),
      0,
    ),
    clock: () => now,
    logger: silentLogger(),
  });
  return {
    async reconcile(name: string) {
      const next = await reconciler.reconcile(`${NAMESPACE}/${name}`);
      now = new Date(now.getTime() + 5_000);
      return next;
    },
  };
}

const status = (kube: MemoryKube, name: string) =>
  kube.get('CanaryRelease', { namespace: NAMESPACE, name })?.status as CanaryReleaseStatus | undefined;
const weights = (kube: MemoryKube) =>
  (
    kube.get('VirtualService', VS)?.spec as { http: { name?: string; route: { weight?: number }[] }[] }
  ).http.map((h) => [h.name, h.route.map((d) => d.weight)]);

describe('one release per route', () => {
  const release = (name: string, created: string, spec: unknown = managedPrimary(baseSpecInput())) => ({
    apiVersion: 'canaria.dev/v1alpha1',
    kind: 'CanaryRelease',
    metadata: { name, namespace: NAMESPACE, creationTimestamp: created },
    spec,
  });

  it('refuses the second release to claim a route, naming the first, and it patches nothing', async () => {
    const kube = reviewsCluster();
    kube.remove('CanaryRelease', { namespace: NAMESPACE, name: 'reviews' });
    // "zeta" was created first; "alpha", created later, would win a tie by name
    kube.apply('CanaryRelease', release('zeta', '2026-11-20T09:00:00Z'));
    kube.apply('CanaryRelease', release('alpha', '2026-11-21T09:00:00Z'));
    const r = reconcilerOn(kube);
    const patches = kube.calls.patch;
    for (let i = 0; i < 5; i++) await r.reconcile('alpha');
    expect(kube.calls.patch).toBe(patches);
    expect(status(kube, 'alpha')).toMatchObject({ phase: 'Failed' });
    const refused = status(kube, 'alpha')?.conditions?.find((c) => c.type === 'ConfigValid');
    expect(refused).toMatchObject({ status: 'False', reason: 'InvalidConfiguration' });
    expect(refused?.message).toMatch(
      /spec\.trafficRouting\.istio\.virtualService: CanaryRelease "zeta" already manages route "primary" of VirtualService reviews \(it was created first\)/,
    );

    // the first goes on, its weights undisturbed by the second, which still patches nothing
    for (let i = 0; i < 6; i++) {
      await r.reconcile('zeta');
      const before = kube.calls.patch;
      await r.reconcile('alpha');
      expect(kube.calls.patch).toBe(before);
    }
    expect(status(kube, 'zeta')?.phase).toBe('Progressing');
    expect(weights(kube)[1]).toEqual(['primary', [90, 10]]);
    expect(status(kube, 'alpha')?.phase).toBe('Failed');
  });

  it('breaks a tie of creation times by name, and lets releases share a VirtualService on different routes', async () => {
    const kube = reviewsCluster();
    kube.remove('CanaryRelease', { namespace: NAMESPACE, name: 'reviews' });
    const same = '2026-11-20T09:00:00Z';
    const admin = baseSpecInput();
    admin.trafficRouting.istio!.virtualService.routes = ['admin'];
    kube.apply('CanaryRelease', release('b-reviews', same));
    kube.apply('CanaryRelease', release('a-reviews', same));
    kube.apply('CanaryRelease', release('admin', '2026-11-22T09:00:00Z', admin));
    const r = reconcilerOn(kube);
    for (const name of ['b-reviews', 'a-reviews', 'admin']) await r.reconcile(name);
    expect(status(kube, 'b-reviews')?.message).toMatch(
      /CanaryRelease "a-reviews" already manages route "primary"/,
    );
    expect(status(kube, 'a-reviews')?.phase).toBe('Progressing');
    expect(status(kube, 'admin')?.phase).toBe('Progressing');
  });
});
