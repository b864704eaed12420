import { describe, expect, it } from 'vitest';
import type { CanaryReleaseStatus } from '../api/canary-release.js';
import type { Measurement } from '../analysis/types.js';
import { silentLogger } from '../telemetry/logger.js';
import { baseSpecInput, counts, errorRatioAnalysis, requests } from '../../test/builders/release.js';
import { fakeMetrics, managedPrimary, NAMESPACE, reviewsCluster } from '../../test/builders/cluster.js';
import type { MemoryKube } from '../kube/memory.js';
import { MeasureBatcher } from './measure-batcher.js';
import type { Priority, Run } from './queue.js';
import { Reconciler } from './reconciler.js';

const KEY = `${NAMESPACE}/reviews`;
const REF = { namespace: NAMESPACE, name: 'reviews' };
const healthy = (): Measurement => requests(counts(1000, 2), counts(9000, 20));
const failing = (): Measurement => requests(counts(1000, 80), counts(9000, 20));

/** A release with an analysis at each step, reconciled as the queue would, with a lease per run. */
function setup(answer: () => Measurement) {
  const kube: MemoryKube = reviewsCluster({
    ...managedPrimary(baseSpecInput()),
    strategy: { steps: [{ setWeight: 10 }, { analysis: { duration: '10m' } }] },
    analysis: errorRatioAnalysis(),
  });
  const metrics = fakeMetrics(answer);
  let now = new Date('2026-11-21T10:00:00Z');
  const reconciler = new Reconciler({
    kube,
    measurer: new MeasureBatcher(metrics, 0),
    clock: () => now,
    logger: silentLogger(),
  });
  const status = () => kube.get('CanaryRelease', REF)?.status as CanaryReleaseStatus | undefined;
  /** One reconcile in `priority`'s lane: its requeue, and whether it escalated. */
  const reconcile = async (priority: Priority = 'low') => {
    let escalated = false;
    const run: Run = {
      priority,
      // the queue nudges once nothing else runs; here nothing else ever does
      park: (wait, nudge) => {
        nudge?.(Infinity);
        return wait;
      },
      escalate: () => {
        escalated = true;
      },
      anchor: () => undefined,
    };
    const next = await reconciler.reconcile(KEY, run);
    return { next, escalated };
  };
  const advance = (ms: number) => (now = new Date(now.getTime() + ms));
  return { kube, metrics, status, reconcile, advance };
}

describe('the priority of what a reconcile leaves to do', () => {
  it('escalates the requeue of a rollback the analysis decided, and of no routine step', async () => {
    const s = setup(failing);
    const escalatedIn: string[] = [];
    for (let i = 0; i < 100 && s.status()?.phase !== 'RolledBack'; i++) {
      const { next, escalated } = await s.reconcile();
      if (escalated) escalatedIn.push(s.status()?.phase ?? '');
      s.advance(Math.max(next ?? 60_000, 1_000));
    }
    expect(s.status()?.phase).toBe('RolledBack');
    expect(escalatedIn).toEqual(['RolledBack']);
    // once the stable routing took effect nothing is left to hurry
    s.advance(10_000);
    expect((await s.reconcile()).escalated).toBe(false);
  });

  it('does not measure for a new Abort: decide rolls back whatever the metrics say', async () => {
    const s = setup(healthy);
    for (let i = 0; i < 100 && s.status()?.lastAnalysis === undefined; i++) {
      const { next } = await s.reconcile();
      s.advance(Math.max(next ?? 60_000, 1_000));
    }
    const calls = s.metrics.calls;
    s.advance(120_000); // the next analysis is due
    await s.kube.patch('CanaryRelease', REF, [
      { op: 'add', path: '/spec/request', value: { action: 'Abort', id: 'abort-1' } },
    ]);
    const { escalated } = await s.reconcile('high');
    expect(s.metrics.calls).toBe(calls);
    expect(s.status()?.phase).toBe('RolledBack');
    expect(escalated).toBe(true);
  });
});
