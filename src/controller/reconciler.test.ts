import { describe, expect, it } from 'vitest';
import type { CanaryReleaseStatus } from '../api/canary-release.js';
import type { Measurement } from '../analysis/types.js';
import { readRouting } from '../routers/istio/routes.js';
import { KubeError } from '../kube/errors.js';
import { virtualService as vsSchema } from '../routers/istio/types.js';
import type { MemoryKube } from '../kube/memory.js';
import { silentLogger } from '../telemetry/logger.js';
import { ControllerMetrics } from '../telemetry/metrics.js';
import { aSpec, baseSpecInput, counts, errorRatioAnalysis, requests } from '../../test/builders/release.js';
import {
  deployment,
  fakeMetrics,
  managedPrimary,
  NAMESPACE,
  releaseObject,
  reviewsCluster,
} from '../../test/builders/cluster.js';
import { MeasureBatcher } from './measure-batcher.js';
import { Reconciler } from './reconciler.js';

const KEY = `${NAMESPACE}/reviews`;
const healthy = (): Measurement => requests(counts(1000, 2), counts(9000, 20));
const failing = (): Measurement => requests(counts(1000, 80), counts(9000, 20));

const analysedSpec = () => ({
  ...managedPrimary(baseSpecInput()),
  strategy: { steps: [{ setWeight: 10 }, { analysis: {} }, { setWeight: 50 }, { analysis: {} }] },
  analysis: errorRatioAnalysis(),
});

/** Reconciles one release over and over on a virtual clock, as the queue would. */
function harness(kube: MemoryKube, answer: () => Measurement = healthy) {
  let now = new Date('2026-11-21T10:00:00Z');
  const metrics = fakeMetrics(answer);
  const telemetry = new ControllerMetrics();
  const reconciler = new Reconciler({
    kube,
    measurer: new MeasureBatcher(metrics, 0),
    clock: () => now,
    logger: silentLogger(),
    metrics: telemetry,
  });
  const status = () =>
    kube.get('CanaryRelease', { namespace: NAMESPACE, name: 'reviews' })?.status as
      CanaryReleaseStatus | undefined;
  const weights = () => {
    const vs = vsSchema.parse(kube.get('VirtualService', { namespace: NAMESPACE, name: 'reviews' }));
    const reading = readRouting(
      vs,
      aSpec({ trafficRouting: { istio: { virtualService: { routes: ['primary'] } } } }).trafficRouting.istio!,
    );
    return reading.ok ? [reading.value.stableWeight, reading.value.canaryWeight] : undefined;
  };
  return {
    metrics,
    telemetry,
    status,
    weights,
    reconciler,
    advance: (ms: number) => (now = new Date(now.getTime() + ms)),
    /** Runs reconciles until `done`, jumping the clock by each requeue; returns the weights seen. */
    async runUntil(done: (s: CanaryReleaseStatus | undefined) => boolean, max = 200) {
      const seen: string[] = [];
      for (let i = 0; i < max; i++) {
        const next = await reconciler.reconcile(KEY);
        const w = weights()?.join('/') ?? '?';
        if (seen.at(-1) !== w) seen.push(w);
        if (done(status())) return seen;
        now = new Date(now.getTime() + Math.max(next ?? 60_000, 1_000));
      }
      throw new Error(
        `not done after ${max} reconciles: ${status()?.phase ?? 'no status'} ${status()?.message ?? ''}`,
      );
    },
  };
}

describe('Reconciler on an in-memory cluster', () => {
  it('takes a healthy canary through every weight to Succeeded, patching only the managed weights', async () => {
    const kube = reviewsCluster(analysedSpec());
    const h = harness(kube);
    const seen = await h.runUntil((s) => s?.phase === 'Succeeded');
    expect(seen).toEqual(['100/0', '90/10', '50/50', '0/100']);
    const vs = kube.get('VirtualService', { namespace: NAMESPACE, name: 'reviews' }) as {
      spec: { http: unknown[] };
    };
    // the user's /admin route and the retries block are exactly as they were written
    expect(vs.spec.http[0]).toEqual({
      name: 'admin',
      match: [{ uri: { prefix: '/admin' } }],
      route: [{ destination: { host: 'reviews', subset: 'v1' }, weight: 100 }],
    });
    expect(vs.spec.http[1]).toMatchObject({ name: 'primary', retries: { attempts: 3, perTryTimeout: '2s' } });
    expect(h.status()?.stableRevision).toBe(h.status()?.canaryRevision);
    expect(kube.events.map((e) => e.event.reason)).toEqual(
      expect.arrayContaining(['NewRevision', 'AnalysisPassed', 'Promoted']),
    );
    const exposition = await h.telemetry.registry.metrics();
    expect(exposition).toContain('canaria_release_weight{namespace="default",name="reviews"} 100');
    expect(exposition).toContain(
      'canaria_release_phase{namespace="default",name="reviews",phase="Succeeded"} 1',
    );
    expect(exposition).toMatch(
      /canaria_analysis_total\{namespace="default",name="reviews",result="Pass"\} [1-9]/,
    );
  });

  it('rolls a failing canary back to 0 with a Warning Event that carries the numbers', async () => {
    const kube = reviewsCluster(analysedSpec());
    const h = harness(kube, failing);
    await h.runUntil((s) => s?.phase === 'RolledBack');
    expect(h.weights()).toEqual([100, 0]);
    const warning = kube.events.find((e) => e.event.severity === 'Warning');
    expect(warning?.event.reason).toBe('AnalysisFailed');
    expect(warning?.event.message).toMatch(/canary 0\.08 > stable 0\.002222 x \(1 \+ 0\.5\) \+ 0\.001/);
  });

  it('asks the metrics provider with the revisions Istio reports and the namespace, service and window', async () => {
    const kube = reviewsCluster(analysedSpec());
    const seen: unknown[] = [];
    const h = harness(kube);
    h.metrics.measure = (reqs) => {
      seen.push(...reqs);
      return Promise.resolve(
        new Map(reqs.map((r) => [r.key, new Map(r.metrics.map((m) => [m.name, healthy()]))])),
      );
    };
    await h.runUntil((s) => s?.lastAnalysis !== undefined);
    expect(seen[0]).toMatchObject({
      key: KEY,
      namespace: NAMESPACE,
      service: 'reviews',
      canaryRevision: 'v2',
      stableRevision: 'v1',
      revisionLabel: 'destination_canonical_revision',
      reporter: 'auto',
    });
  });

  it('exposes the release info with the same service and revisions it measures, for dashboards to join on', async () => {
    const kube = reviewsCluster(analysedSpec());
    const h = harness(kube);
    await h.runUntil((s) => s?.lastAnalysis !== undefined);
    const info = (await h.telemetry.registry.metrics())
      .split('\n')
      .filter((line) => line.startsWith('canaria_release_info{'));
    expect(info).toEqual([
      'canaria_release_info{namespace="default",name="reviews",service="reviews",router="istio",' +
        'stable_revision="v1",canary_revision="v2",revision_label="destination_canonical_revision",reporter="destination"} 1',
    ]);
  });

  it('writes a Failed status naming the field when the spec does not parse, and leaves traffic alone', async () => {
    const kube = reviewsCluster();
    kube.apply(
      'CanaryRelease',
      releaseObject({ ...baseSpecInput(), strategy: { steps: [{ setWeight: 150 }] } }),
    );
    const h = harness(kube);
    await h.reconciler.reconcile(KEY);
    expect(h.status()).toMatchObject({ phase: 'Failed' });
    expect(h.status()?.message).toMatch(/spec\.strategy\.steps\[0\]\.setWeight: setWeight must be <= 100/);
    expect(h.weights()).toEqual([100, 0]);
    expect(kube.calls.patch).toBe(0);
  });

  it('fails with the missing VirtualService named, and recovers when it appears', async () => {
    const kube = reviewsCluster();
    const vs = kube.get('VirtualService', { namespace: NAMESPACE, name: 'reviews' });
    kube.remove('VirtualService', { namespace: NAMESPACE, name: 'reviews' });
    const h = harness(kube);
    await h.reconciler.reconcile(KEY);
    expect(h.status()?.message).toMatch(
      /spec\.trafficRouting\.istio\.virtualService\.name: VirtualService "reviews" not found in namespace "default"/,
    );
    if (vs) kube.apply('VirtualService', vs);
    await h.runUntil((s) => s?.phase === 'Succeeded');
  });

  it('never overwrites a concurrent edit of the VirtualService: the guarded patch fails and is planned again', async () => {
    const kube = reviewsCluster();
    const h = harness(kube);
    const ref = { namespace: NAMESPACE, name: 'reviews' };
    await h.reconciler.reconcile(KEY); // starts the rollout at weight 0, which the VirtualService already shows
    // the cache still holds 100/0 when a user sets 77/23 by hand
    const stale = kube.get('VirtualService', ref);
    await kube.patch('VirtualService', ref, [
      { op: 'replace', path: '/spec/http/1/route/0/weight', value: 77 },
      { op: 'replace', path: '/spec/http/1/route/1/weight', value: 23 },
    ]);
    const edited = kube.get('VirtualService', ref);
    const get = kube.get.bind(kube);
    kube.get = (kind, r) => (kind === 'VirtualService' ? structuredClone(stale) : get(kind, r));
    const patches = kube.calls.patch;
    const next = await h.reconciler.reconcile(KEY); // step 1 plans 90/10 against the stale copy
    kube.get = get;
    expect(kube.calls.patch).toBe(patches + 1);
    expect(kube.get('VirtualService', ref)?.spec).toEqual(edited?.spec);
    expect(next).toBeLessThanOrEqual(1_000);
    // with a fresh cache the next reconcile plans against what is really there
    await h.reconciler.reconcile(KEY);
    expect(h.weights()).toEqual([90, 10]);
  });

  it('says in an Applied condition and a Warning what the API server refused, and clears it once carried out', async () => {
    const kube = reviewsCluster();
    const h = harness(kube);
    await h.reconciler.reconcile(KEY); // starts at weight 0, which the VirtualService already shows
    kube.failNext(
      'patch',
      new KubeError('Forbidden', 'virtualservices.networking.istio.io "reviews" is forbidden', 403),
    );
    const next = await h.reconciler.reconcile(KEY); // step 1 wants 90/10
    expect(h.weights()).toEqual([100, 0]);
    expect(next).toBeLessThanOrEqual(30_000);
    const refused = h.status()?.conditions?.find((c) => c.type === 'Applied');
    expect(refused).toMatchObject({ status: 'False', reason: 'Refused' });
    expect(refused?.message).toMatch(
      /setRouting: virtualservices.* is forbidden \(the controller lacks this permission: grant it in the rules of charts\/canaria\/files\/rbac-\*\.yaml\)/,
    );
    expect(kube.events.at(-1)?.event).toMatchObject({ severity: 'Warning', reason: 'Refused' });
    await h.reconciler.reconcile(KEY);
    expect(h.weights()).toEqual([90, 10]);
    expect(h.status()?.conditions?.find((c) => c.type === 'Applied')?.status).toBe('True');
  });

  it('a new image on the canary Deployment mid-rollout restarts from weight 0', async () => {
    const kube = reviewsCluster();
    const h = harness(kube);
    await h.runUntil((s) => s?.currentStepIndex === 3);
    expect(h.weights()).toEqual([50, 50]);
    kube.apply('Deployment', deployment('reviews-v2', 'v2', 'reviews:2.1'));
    await h.reconciler.reconcile(KEY);
    expect(h.weights()).toEqual([100, 0]);
    expect(h.status()?.decisions?.at(-1)).toMatchObject({ action: 'Restart', reason: 'NewRevision' });
  });

  it('holds while the canary Deployment is not ready', async () => {
    const kube = reviewsCluster();
    kube.apply('Deployment', deployment('reviews-v2', 'v2', 'reviews:2', false));
    const h = harness(kube);
    for (let i = 0; i < 4; i++) {
      await h.reconciler.reconcile(KEY);
      h.advance(30_000);
    }
    expect(h.weights()).toEqual([100, 0]);
    expect(h.status()?.message).toMatch(/not ready/);
  });

  it('reconciling twice at the same instant changes nothing the second time', async () => {
    const kube = reviewsCluster();
    const h = harness(kube);
    await h.runUntil((s) => s?.currentStepIndex === 1);
    const calls = { ...kube.calls };
    await h.reconciler.reconcile(KEY);
    await h.reconciler.reconcile(KEY);
    expect(kube.calls.patch).toBe(calls.patch);
    expect(kube.calls.status).toBeLessThanOrEqual(calls.status + 1);
  });
});
