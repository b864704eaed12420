/**
 * The seeds' scenarios end to end: the controller runs as its own process with exactly the chart's
 * RBAC, against a real kube-apiserver, reading a real Prometheus that scrapes what the synthetic
 * traffic — routed by the live VirtualService — served. Subsets mode needs nothing of managed mode:
 * the whole file runs with `managedMode.enabled=false`, so RBAC without Deployment writes and without
 * ConfigMap access, and the controller with `--managed-mode=false`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { API_GROUP, API_VERSION_NAME } from '../../src/api/meta.js';
import { startControllerProcess, type ControllerProcess } from '../harness/controller-process.js';
import { isAllowed } from '../harness/access.js';
import { virtualService } from '../../src/routers/istio/types.js';
import { deployVersions } from '../harness/controller-process.js';
import { markDeploymentReady } from '../harness/deployments.js';
import { kubeRequest } from '../harness/kube-http.js';
import { waitUntil } from '../harness/wait.js';
import {
  CONTROLLER_NAMESPACE,
  recordWeights,
  standUpService,
  startWorld,
  userVirtualService,
  weightsOf,
  type World,
} from './support.js';

let world: World;
/** What beforeAll started, stopped in reverse order even when it failed half way. */
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  world = await startWorld({ chartValues: { 'managedMode.enabled': false } });
  cleanups.push(() => world.stop());
  const controller: ControllerProcess = await startControllerProcess({
    kubeconfigPath: world.controllerKubeconfig,
    prometheusUrl: world.prometheus.url,
    leaseNamespace: CONTROLLER_NAMESPACE,
    identity: 'canaria-0',
    extraArgs: ['--managed-mode=false'],
  });
  cleanups.push(() => controller.kill('SIGTERM'));
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

/** The shipped error-ratio template's judge (sequential), on canaria's defaults, analysed every 3 s. */
const analysis = (extra: Record<string, unknown> = {}) => ({
  interval: '3s',
  metrics: [
    {
      name: 'error-ratio',
      type: 'errorRatio' as const,
      judge: { type: 'sequential' as const, tolerance: 0.25 },
    },
  ],
  ...extra,
});

describe('canaria on a real API server and a real Prometheus', () => {
  it('S1/S2: a healthy canary goes 0 -> 10 -> 50 -> 100 and the VirtualService shows every planned weight', async () => {
    const service = await standUpService(world, {
      namespace: 's2',
      name: 'reviews',
      behaviour: { v1: { errorRate: 0.005, latencyMs: 30 }, v2: { errorRate: 0.005, latencyMs: 30 } },
    });
    const weights = await recordWeights(world, service);
    try {
      await service.createRelease({
        strategy: {
          steps: [
            { setWeight: 10 },
            { analysis: { duration: '6s' } },
            { setWeight: 50 },
            { analysis: { duration: '6s' } },
          ],
        },
        analysis: analysis(),
      });
      const status = await service.waitForPhase('Succeeded', 120_000);
      expect(status.decisions?.some((d) => d.reason === 'AnalysisPassed')).toBe(true);
      // Succeeded is written once the VirtualService shows 0/100; the watch may deliver it a moment later
      await weights.waitFor('0/100');
    } finally {
      await weights.stop();
      await service.stop();
    }
    expect(weights.seen).toEqual(['100/0', '90/10', '50/50', '0/100']);
    expect(weights.history.gaps).toEqual([]);
    const served = service.traffic.served();
    expect(served.v2?.total).toBeGreaterThan(0);
  });

  it('S7: a canary with 5x the errors is rolled back to 0 and an Event says why with the numbers', async () => {
    const service = await standUpService(world, {
      namespace: 's7',
      name: 'reviews',
      behaviour: { v1: { errorRate: 0.02, latencyMs: 30 }, v2: { errorRate: 0.1, latencyMs: 30 } },
    });
    try {
      await service.createRelease({
        strategy: {
          steps: [
            { setWeight: 10 },
            { analysis: { duration: '6s' } },
            { setWeight: 50 },
            { analysis: { duration: '6s' } },
          ],
        },
        analysis: analysis(),
      });
      const status = await service.waitForPhase('RolledBack', 120_000);
      expect(await service.weights()).toEqual([100, 0]);
      expect(status.decisions?.at(-1)).toMatchObject({
        action: 'Rollback',
        reason: 'AnalysisFailed',
        verdict: 'Fail',
      });
      const events = await service.events();
      const why = events.find((e) => e.reason === 'AnalysisFailed' && e.type === 'Warning');
      expect(why?.message).toMatch(
        /rolled back at \d+% over \d+s: error-ratio Fail: canary [\d.]+% of \d+, stable [\d.]+% of \d+; ratio [\d.]+ \(99% interval [\d.]+-[\d.]+\); e-value \S+ >= 100/,
      );
    } finally {
      await service.stop();
    }
  });

  it("S3: the A/B route for end-user: testuser exists during its stage, is gone afterwards, and the user's fields survive", async () => {
    const service = await standUpService(world, {
      namespace: 's3',
      name: 'reviews',
      behaviour: { v1: { errorRate: 0, latencyMs: 30 }, v2: { errorRate: 0, latencyMs: 30 } },
      classes: [
        { share: 0.8, request: { host: 'reviews' } },
        { share: 0.2, request: { host: 'reviews', headers: { 'end-user': 'testuser' } } },
      ],
    });
    const original = userVirtualService('reviews').spec.http ?? [];
    const history = await recordWeights(world, service);
    try {
      await service.createRelease({
        strategy: {
          steps: [
            {
              match: {
                headers: [{ name: 'end-user', exact: 'testuser' }],
                canaryWeight: 100,
                duration: '8s',
              },
            },
            { setWeight: 20 },
            { pause: { duration: '3s' } },
          ],
        },
      });
      await service.waitForPhase('Succeeded', 90_000);
      await history.waitFor('0/100');
    } finally {
      await history.stop();
      await service.stop();
    }
    // every version of the VirtualService the API server stored, from its watch
    const versions = history.history.versions.flatMap((v) =>
      v.object ? [virtualService.parse(v.object)] : [],
    );
    const abRoutes: string[] = [];
    const userFieldsChanged: string[] = [];
    for (const vs of versions) {
      const http = vs.spec.http ?? [];
      const ab = http.find((r) => r.name?.startsWith('canaria-ab'));
      if (ab) abRoutes.push(JSON.stringify(ab.match));
      const admin = http.find((r) => r.name === 'admin');
      const primary = http.find((r) => r.name === 'primary');
      if (JSON.stringify(admin) !== JSON.stringify(original[0]))
        userFieldsChanged.push(`admin: ${JSON.stringify(admin)}`);
      if (JSON.stringify(primary?.retries) !== JSON.stringify(original[1]?.retries))
        userFieldsChanged.push('retries');
    }
    expect(history.history.gaps).toEqual([]);
    expect(abRoutes.length).toBeGreaterThan(0);
    expect(JSON.parse(abRoutes[0] ?? '[]')).toEqual([{ headers: { 'end-user': { exact: 'testuser' } } }]);
    const final = await service.readVirtualService();
    expect(final.spec.http?.some((r) => r.name?.startsWith('canaria-ab'))).toBe(false);
    expect(final.spec.http?.[0]).toEqual(original[0]);
    expect(final.spec.http?.[1]).toMatchObject({ name: 'primary', retries: original[1]?.retries });
    expect(userFieldsChanged).toEqual([]);
    expect(service.traffic.served().v2?.total).toBeGreaterThan(0);
  });

  it('S2/003: v1 -> v2 -> v3 in subsets mode as a user does it; no weight ever moves to a revision older than the serving one', async () => {
    const ns = 'v1-v2-v3';
    const service = await standUpService(world, {
      namespace: ns,
      name: 'reviews',
      behaviour: {
        v1: { errorRate: 0, latencyMs: 30 },
        v2: { errorRate: 0, latencyMs: 30 },
        v3: { errorRate: 0, latencyMs: 30 },
      },
    });
    // v3 is deployed beside the others and gets its subset, as seed 003's DestinationRule has it
    await deployVersions(world.admin, ns, 'reviews', ['v3'], (d) => markDeploymentReady(world.admin, ns, d));
    world.mesh.declare({ namespace: ns, service: 'reviews', version: 'v3' });
    const subsets = ['v1', 'v2', 'v3'].map((v) => ({ name: v, labels: { version: v } }));
    const patched = await kubeRequest(world.env.admin, {
      method: 'PATCH',
      path: `/apis/networking.istio.io/v1/namespaces/${ns}/destinationrules/reviews`,
      body: { spec: { subsets } },
      contentType: 'application/merge-patch+json',
    });
    expect(patched.status).toBe(200);

    const weights = await recordWeights(world, service);
    const decisions = async () => (await service.status())?.decisions ?? [];
    let ignored = 0;
    const strategy = (pause: string) => ({ steps: [{ setWeight: 50 }, { pause: { duration: pause } }] });
    /** Done with the release as it is now: Succeeded, decided from its latest generation. */
    const settled = async (what: string) => {
      await waitUntil(
        what,
        async () => {
          const response = await kubeRequest(world.env.admin, {
            method: 'GET',
            path: `/apis/${API_GROUP}/${API_VERSION_NAME}/namespaces/${ns}/canaryreleases/reviews`,
          });
          const release = response.body as {
            metadata?: { generation?: number };
            status?: { phase?: string; observedGeneration?: number };
          };
          return (
            release.status?.phase === 'Succeeded' &&
            release.status.observedGeneration === release.metadata?.generation
          );
        },
        { deadline: Date.now() + 90_000, intervalMs: 250 },
      );
    };
    try {
      // v1 -> v2
      await service.createRelease({ strategy: strategy('3s') });
      await settled('v2 to be promoted');
      await weights.waitFor('0/100');

      // an edit of the finished release's strategy: whatever canaria does, no weight moves back to v1
      await service.patchRelease({ spec: { strategy: strategy('4s') } });
      await settled('the spec edit to be handled');
      await new Promise((resolve) => setTimeout(resolve, 3_000));

      // v2 -> v3: the user points stableSubset at v2, which serves, and canarySubset at v3
      await service.patchRelease({
        spec: { trafficRouting: { istio: { stableSubset: 'v2', canarySubset: 'v3' } } },
      });
      await settled('v3 to be promoted');
      await weights.history.waitFor('v3 at 100 %', (vs) => subsetWeights(vs).v3 === 100, 10_000);

      // and an edit of the finished v3 release
      await service.patchRelease({ spec: { strategy: strategy('5s') } });
      await settled('the second spec edit to be handled');
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      ignored = (await decisions()).filter((d) => d.action === 'Ignore' && d.reason === 'SpecChanged').length;
    } finally {
      await weights.stop();
      await service.stop();
    }

    // the VirtualService at every resourceVersion the API server stored
    const states = weights.history.states((vs) => (vs === undefined ? undefined : format(subsetWeights(vs))));
    const order: Record<string, number> = { v1: 1, v2: 2, v3: 3 };
    let serving = 'v1';
    let previous: Record<string, number> = { v1: 100 };
    const wrong: string[] = [];
    for (const version of weights.history.versions) {
      if (!version.object) continue;
      const now = subsetWeights(version.object);
      for (const [subset, weight] of Object.entries(now)) {
        if (weight > (previous[subset] ?? 0) && (order[subset] ?? 0) < (order[serving] ?? 0))
          wrong.push(
            `${format(previous)} -> ${format(now)}: weight moved to ${subset} while ${serving} served`,
          );
      }
      for (const [subset, weight] of Object.entries(now))
        if (weight === 100 && (order[subset] ?? 0) > (order[serving] ?? 0)) serving = subset;
      previous = now;
    }
    console.log(`the managed route went through: ${states.join(' -> ')}`);
    expect(wrong).toEqual([]);
    expect(serving).toBe('v3');
    expect(states[0]).toBe('v1=100');
    expect(states).toContain('v1=50 v2=50');
    expect(states.at(-1)).toMatch(/(^| )v3=100( |$)/);
    expect(states.some((state) => /v2=50/.test(state) && /v3=50/.test(state))).toBe(true);
    expect(weights.history.gaps).toEqual([]);
    // canaria says why nothing moved on the edits: they apply to the next canary revision
    expect(ignored).toBe(2);
  });

  it('holds while Prometheus is stopped for 30 s during an analysis, then goes on', async () => {
    const service = await standUpService(world, {
      namespace: 'outage',
      name: 'reviews',
      behaviour: { v1: { errorRate: 0.005, latencyMs: 30 }, v2: { errorRate: 0.005, latencyMs: 30 } },
    });
    try {
      await service.createRelease({
        strategy: {
          steps: [
            { setWeight: 20 },
            { analysis: { duration: '6s' } },
            { setWeight: 60 },
            { analysis: { duration: '6s' } },
          ],
        },
        analysis: analysis(),
      });
      await waitUntil(
        'the release to analyse at 20 %',
        async () => (await service.status())?.currentStepIndex === 1 && (await service.weights())[1] === 20,
        { deadline: Date.now() + 60_000, intervalMs: 200 },
      );
      const weights = await recordWeights(world, service);
      world.prometheus.pause();
      const pausedAt = Date.now();
      try {
        await new Promise((resolve) => setTimeout(resolve, 30_000));
        expect((await service.status())?.phase).not.toBe('RolledBack');
      } finally {
        world.prometheus.resume();
        await weights.stop();
      }
      // every version the VirtualService went through while Prometheus was away kept the canary at 20 %
      const during = weights.history.versions.filter((v) => v.seenAt <= pausedAt + 30_000);
      expect(during.length).toBeGreaterThan(0);
      expect([...new Set(during.map((v) => weightsOf('reviews', v.object)))]).toEqual(['80/20']);
      expect(weights.history.gaps).toEqual([]);
      const held = await service.status();
      expect(held?.decisions?.some((d) => d.action === 'Hold' && d.reason === 'MetricsUnavailable')).toBe(
        true,
      );
      const status = await service.waitForPhase('Succeeded', 90_000);
      expect(status.decisions?.some((d) => d.action === 'Rollback')).toBe(false);
    } finally {
      await service.stop();
    }
  });

  it('runs subsets mode with least privilege: no Deployment writes, no ConfigMap, Secret or autoscaler access, and a targetRef refused with the fix', async () => {
    const account = { namespace: CONTROLLER_NAMESPACE, name: 'canaria' };
    const denied: string[] = [];
    for (const access of [
      { verb: 'create', group: 'apps', resource: 'deployments' },
      { verb: 'patch', group: 'apps', resource: 'deployments' },
      { verb: 'delete', group: 'apps', resource: 'deployments' },
      { verb: 'patch', group: 'networking.istio.io', resource: 'destinationrules' },
      { verb: 'list', group: '', resource: 'configmaps' },
      { verb: 'watch', group: '', resource: 'configmaps' },
      { verb: 'create', group: '', resource: 'configmaps' },
      { verb: 'list', group: '', resource: 'secrets' },
      { verb: 'list', group: 'autoscaling', resource: 'horizontalpodautoscalers' },
      { verb: 'create', group: 'autoscaling', resource: 'horizontalpodautoscalers' },
    ]) {
      if (!(await isAllowed(world.env, account, { ...access, namespace: 'least-privilege' })))
        denied.push(`${access.verb} ${access.resource}`);
    }
    expect(denied).toHaveLength(10);
    expect(
      await isAllowed(world.env, account, { verb: 'list', group: 'apps', resource: 'deployments' }),
    ).toBe(true);

    const service = await standUpService(world, {
      namespace: 'least-privilege',
      name: 'ratings',
      behaviour: { v1: { errorRate: 0.005, latencyMs: 30 }, v2: { errorRate: 0.005, latencyMs: 30 } },
    });
    try {
      // a managed-mode release of the same service: spec.targetRef instead of spec.subsets
      await world.admin.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
        group: API_GROUP,
        version: API_VERSION_NAME,
        plural: 'canaryreleases',
        namespace: service.namespace,
        body: {
          apiVersion: `${API_GROUP}/${API_VERSION_NAME}`,
          kind: 'CanaryRelease',
          metadata: { name: service.name },
          spec: {
            targetRef: { name: 'ratings-v2' },
            trafficRouting: {
              istio: {
                virtualService: { name: service.name, routes: ['primary'] },
                destinationRule: { name: service.name },
                stableSubset: 'v1',
                canarySubset: 'v2',
              },
            },
            strategy: { steps: [{ setWeight: 10 }] },
          },
        },
      });
      const status = await service.waitForPhase('Failed', 60_000);
      expect(status.conditions?.find((c) => c.type === 'ConfigValid')).toMatchObject({
        status: 'False',
        message: expect.stringContaining(
          'spec.targetRef: managed mode is turned off in this controller (--managed-mode=false; chart value managedMode.enabled=false)',
        ) as unknown,
      });
      expect(await service.weights()).toEqual([100, 0]);
    } finally {
      await service.stop();
    }
  });
});

/** Weight by subset of the managed route (named primary) of a VirtualService version. */
function subsetWeights(vs: unknown): Record<string, number> {
  const parsed = virtualService.safeParse(vs);
  const route = parsed.success ? parsed.data.spec.http?.find((r) => r.name === 'primary') : undefined;
  return Object.fromEntries(
    (route?.route ?? []).map((d) => [d.destination.subset ?? d.destination.host, d.weight ?? 0]),
  );
}

const format = (weights: Record<string, number>): string =>
  Object.entries(weights)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([subset, weight]) => `${subset}=${weight}`)
    .join(' ');
