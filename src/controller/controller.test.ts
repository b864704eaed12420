import { describe, expect, it } from 'vitest';
import { baseSpecInput } from '../../test/builders/release.js';
import {
  deployment,
  fakeMetrics,
  managedPrimary,
  NAMESPACE,
  releaseObject,
  reviewsCluster,
} from '../../test/builders/cluster.js';
import { MemoryKube } from '../kube/memory.js';
import type { KubeObject } from '../kube/resources.js';
import { silentLogger } from '../telemetry/logger.js';
import { Controller } from './controller.js';
import { MeasureBatcher } from './measure-batcher.js';
import type { Run } from './queue.js';
import { Reconciler } from './reconciler.js';

const KEY = `${NAMESPACE}/reviews`;

describe("the controller's own status writes", () => {
  it('are known to the reconciler by their resourceVersion, once', async () => {
    const kube = reviewsCluster(managedPrimary(baseSpecInput()));
    const reconciler = new Reconciler({
      kube,
      measurer: new MeasureBatcher(
        fakeMetrics(() => ({ kind: 'scalar', canary: null, stable: null })),
        0,
      ),
      clock: () => new Date('2026-11-21T10:00:00Z'),
      logger: silentLogger(),
    });
    const before = kube.get('CanaryRelease', { namespace: NAMESPACE, name: 'reviews' })?.metadata
      .resourceVersion;
    await reconciler.reconcile(KEY);
    const written = kube.get('CanaryRelease', { namespace: NAMESPACE, name: 'reviews' })?.metadata
      .resourceVersion;
    expect(written).not.toBe(before);
    expect(reconciler.echoOf(KEY, before)).toBe(false);
    expect(reconciler.echoOf(KEY, written)).toBe(true);
    // a later event at that version (a resync replaying it) is not taken for another echo
    expect(reconciler.echoOf(KEY, written)).toBe(false);
  });

  it('wake no second reconcile when they come back before the write has answered', async () => {
    // MemoryKube tells its watchers of a write before the write returns, as the API server's watch
    // often does before the write's own answer is read
    const kube = new MemoryKube();
    kube.apply('CanaryRelease', releaseObject(managedPrimary(baseSpecInput())));
    let mine: string | undefined;
    const reconciled: string[] = [];
    const reconciler = {
      reconcile: async (key: string) => {
        reconciled.push(key);
        if (reconciled.length === 1) {
          mine = await kube.writeReleaseStatus(
            { namespace: NAMESPACE, name: 'reviews' },
            { phase: 'Progressing' },
          );
        }
        return null;
      },
      echoOf: (_key: string, version: string | undefined) => version !== undefined && version === mine,
      interestOf: () => undefined,
    } as unknown as Reconciler;
    const controller = new Controller({ kube, reconciler, logger: silentLogger() });
    controller.start();
    await controller.queue.idle();
    expect(reconciled).toEqual([KEY]);
    // an event that is not its own write still wakes it
    kube.apply('CanaryRelease', {
      ...structuredClone(kube.get('CanaryRelease', { namespace: NAMESPACE, name: 'reviews' }) as KubeObject),
    });
    await controller.queue.idle();
    expect(reconciled).toEqual([KEY, KEY]);
    await controller.stop();
  });

  it('wake no reconcile when they come back through the watch; other events do', async () => {
    const kube = new MemoryKube();
    kube.apply('CanaryRelease', releaseObject(managedPrimary(baseSpecInput())));
    const reconciled: string[] = [];
    const echoes: string[] = [];
    const reconciler = {
      reconcile: (key: string) => {
        reconciled.push(key);
        return Promise.resolve(null);
      },
      echoOf: (_key: string, version: string | undefined) => {
        echoes.push(version ?? '');
        return true;
      },
      interestOf: () => undefined,
    } as unknown as Reconciler;
    const controller = new Controller({ kube, reconciler, logger: silentLogger() });
    controller.start();
    await controller.queue.idle();
    expect(reconciled).toEqual([KEY]);
    await kube.writeReleaseStatus({ namespace: NAMESPACE, name: 'reviews' }, { phase: 'Progressing' });
    await controller.queue.idle();
    expect(echoes).toHaveLength(1);
    expect(reconciled).toEqual([KEY]);
    kube.apply('Deployment', deployment('reviews-v2', 'v2', 'reviews:2'));
    await controller.queue.idle();
    expect(reconciled).toEqual([KEY, KEY]);
    await controller.stop();
  });
});

describe('priorities', () => {
  it('put a release whose spec changed ahead of the routine work queued before it; a status write does not', async () => {
    const kube = new MemoryKube();
    const names = ['r0', 'r1', 'r2', 'r3', 'r4', 'r5'];
    for (const name of names)
      kube.apply('CanaryRelease', releaseObject(managedPrimary(baseSpecInput()), name));
    const order: string[] = [];
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const reconciler = {
      reconcile: async (key: string) => {
        order.push(key.split('/')[1] ?? key);
        if (order.length === 1) await gate; // r0 holds the only slot while the rest queue up
        return null;
      },
      echoOf: () => false,
    } as unknown as Reconciler;
    const controller = new Controller({ kube, reconciler, logger: silentLogger(), concurrency: 1 });
    controller.start();
    // a user aborts r4: its generation moves
    await kube.patch('CanaryRelease', { namespace: NAMESPACE, name: 'r4' }, [
      { op: 'add', path: '/spec/request', value: { action: 'Abort', id: 'abort-1' } },
    ]);
    // someone else writes r2's status: same generation, routine
    await kube.writeReleaseStatus({ namespace: NAMESPACE, name: 'r2' }, { phase: 'Progressing' });
    expect(controller.queue.depth).toBe(5);
    open();
    await controller.queue.idle();
    expect(order).toEqual(['r0', 'r4', 'r1', 'r2', 'r3', 'r5']);
    await controller.stop();
  });

  it('stop the reconcile of a release that waits for its batch when its spec changes, and run it again at once', async () => {
    const kube = new MemoryKube();
    kube.apply('CanaryRelease', releaseObject(managedPrimary(baseSpecInput())));
    let answer!: () => void;
    const batch = new Promise<void>((resolve) => (answer = resolve));
    const runs: string[] = [];
    const reconciler = {
      reconcile: async (_key: string, run: Run) => {
        runs.push(run.priority);
        // the routine analysis waits for a batch that is far from full
        if (runs.length === 1) await run.park(batch);
        return null;
      },
      echoOf: () => false,
      interestOf: () => undefined,
    } as unknown as Reconciler;
    const controller = new Controller({ kube, reconciler, logger: silentLogger() });
    controller.start();
    await new Promise((r) => setTimeout(r, 1));
    expect(runs).toEqual(['low']);
    // a user aborts it: the event must not wait for the batch
    await kube.patch('CanaryRelease', { namespace: NAMESPACE, name: 'reviews' }, [
      { op: 'add', path: '/spec/request', value: { action: 'Abort', id: 'abort-1' } },
    ]);
    await new Promise((r) => setTimeout(r, 1));
    expect(runs).toEqual(['low', 'high']);
    answer();
    await controller.queue.idle();
    await controller.stop();
  });
});
