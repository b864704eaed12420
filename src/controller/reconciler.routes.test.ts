/**
 * What canaria patches is the route it manages: the real reconciler on the in-memory API server, with
 * a deterministic interleaving of a user's edit between canaria's read and its patch.
 */
import { describe, expect, it } from 'vitest';
import type { CanaryReleaseStatus } from '../api/canary-release.js';
import type { KubeObject } from '../kube/resources.js';
import type { MemoryKube } from '../kube/memory.js';
import { silentLogger } from '../telemetry/logger.js';
import { baseSpecInput, counts, requests } from '../../test/builders/release.js';
import { fakeMetrics, NAMESPACE, reviewsCluster } from '../../test/builders/cluster.js';
import { route, to, virtualService } from '../../test/fixtures/seeds/builders.js';
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
    async reconcile(name = 'reviews') {
      const next = await reconciler.reconcile(`${NAMESPACE}/${name}`);
      now = new Date(now.getTime() + 5_000);
      return next;
    },
  };
}

const status = (kube: MemoryKube, name = 'reviews') =>
  kube.get('CanaryRelease', { namespace: NAMESPACE, name })?.status as CanaryReleaseStatus | undefined;
const http = (kube: MemoryKube) =>
  (kube.get('VirtualService', VS)?.spec as { http: { name?: string; route: { weight?: number }[] }[] }).http;

/** Serves the VirtualService from `stale` while everything else reads the store: a cache that lags. */
function withStaleVirtualService<T>(kube: MemoryKube, stale: KubeObject | undefined, fn: () => Promise<T>) {
  const get = kube.get.bind(kube);
  kube.get = (kind, ref) => (kind === 'VirtualService' ? structuredClone(stale) : get(kind, ref));
  return fn().finally(() => {
    kube.get = get;
  });
}

/** The user's own route: the same destinations as the managed route, for a /beta path, put in front. */
const userRoute = (name?: string) =>
  route([to('v1', 100), to('v2', 0)], {
    ...(name ? { name } : {}),
    match: [{ uri: { prefix: '/beta' } }],
  });

describe('the guarded weight patch lands only on the managed route', () => {
  it('refuses (Conflict) a patch planned before the user put a look-alike route in front of the named route', async () => {
    const kube = reviewsCluster(); // manages the route named "primary", at spec.http[1]
    const r = reconcilerOn(kube);
    await r.reconcile(); // starts the rollout at weight 0, which the VirtualService already shows
    const stale = kube.get('VirtualService', VS);
    await kube.patch('VirtualService', VS, [{ op: 'add', path: '/spec/http/1', value: userRoute('beta') }]);
    const edited = kube.get('VirtualService', VS);
    const patches = kube.calls.patch;

    const next = await withStaleVirtualService(kube, stale, () => r.reconcile()); // step 1 plans 90/10
    expect(kube.calls.patch).toBe(patches + 1); // it tried, and the API server refused it
    expect(kube.get('VirtualService', VS)?.spec).toEqual(edited?.spec);
    expect(next).toBeLessThanOrEqual(1_000);

    // read again: the weights go to "primary", now spec.http[2]; the user's route is as they wrote it
    await r.reconcile();
    expect(http(kube).map((h) => [h.name, h.route.map((d) => d.weight)])).toEqual([
      ['admin', [100]],
      ['beta', [100, 0]],
      ['primary', [90, 10]],
    ]);
  });

  it('refuses it for an unnamed managed route too, and then reports the routes as ambiguous', async () => {
    const kube = reviewsCluster(baseSpecInput()); // no route names: the only route to v1 is managed
    kube.apply(
      'VirtualService',
      virtualService([route([to('v1', 100), to('v2', 0)])], { namespace: NAMESPACE }),
    );
    const r = reconcilerOn(kube);
    await r.reconcile();
    const stale = kube.get('VirtualService', VS);
    await kube.patch('VirtualService', VS, [{ op: 'add', path: '/spec/http/0', value: userRoute() }]);
    const edited = kube.get('VirtualService', VS);

    await withStaleVirtualService(kube, stale, () => r.reconcile());
    expect(kube.get('VirtualService', VS)?.spec).toEqual(edited?.spec);

    await r.reconcile();
    expect(kube.get('VirtualService', VS)?.spec).toEqual(edited?.spec);
    expect(status(kube)?.conditions?.find((c) => c.type === 'ConfigValid')?.message).toMatch(
      /2 http routes of VirtualService reviews send traffic to subset v1/,
    );
  });
});
