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
import { waitUntil } from '../harness/wait.js';
import {
  CONTROLLER_NAMESPACE,
  recordWeights,
  standUpService,
  startWorld,
  userVirtualService,
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
    const weights = recordWeights(service);
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
      await waitUntil(
        'the last weight to be recorded',
        () => Promise.resolve(weights.seen.at(-1) === '0/100'),
        {
          deadline: Date.now() + 5_000,
        },
      );
    } finally {
      await weights.stop();
      await service.stop();
    }
    expect(weights.seen).toEqual(['100/0', '90/10', '50/50', '0/100']);
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
    const abRoutes: string[] = [];
    const userFieldsChanged: string[] = [];
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        const vs = await service.readVirtualService().catch(() => undefined);
        const http = vs?.spec.http ?? [];
        const ab = http.find((r) => r.name?.startsWith('canaria-ab'));
        if (ab) abRoutes.push(JSON.stringify(ab.match));
        const admin = http.find((r) => r.name === 'admin');
        const primary = http.find((r) => r.name === 'primary');
        if (vs && JSON.stringify(admin) !== JSON.stringify(original[0]))
          userFieldsChanged.push(`admin: ${JSON.stringify(admin)}`);
        if (vs && JSON.stringify(primary?.retries) !== JSON.stringify(original[1]?.retries))
          userFieldsChanged.push('retries');
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    })();
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
    } finally {
      watching = false;
      await watcher;
      await service.stop();
    }
    expect(abRoutes.length).toBeGreaterThan(0);
    expect(JSON.parse(abRoutes[0] ?? '[]')).toEqual([{ headers: { 'end-user': { exact: 'testuser' } } }]);
    const final = await service.readVirtualService();
    expect(final.spec.http?.some((r) => r.name?.startsWith('canaria-ab'))).toBe(false);
    expect(final.spec.http?.[0]).toEqual(original[0]);
    expect(final.spec.http?.[1]).toMatchObject({ name: 'primary', retries: original[1]?.retries });
    expect(userFieldsChanged).toEqual([]);
    expect(service.traffic.served().v2?.total).toBeGreaterThan(0);
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
      world.prometheus.pause();
      const pausedAt = Date.now();
      try {
        while (Date.now() - pausedAt < 30_000) {
          const status = await service.status();
          expect(status?.phase).not.toBe('RolledBack');
          expect((await service.weights())[1]).toBe(20);
          await new Promise((resolve) => setTimeout(resolve, 1_000));
        }
      } finally {
        world.prometheus.resume();
      }
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
