/**
 * The seeds' scenarios through a Gateway API HTTPRoute, the way Istio's ambient mode runs them: a
 * Service per version, an HTTPRoute attached to the user's Service whose rule `primary` weighs the
 * two, and the synthetic traffic routed by that live HTTPRoute and reported under the Service each
 * request reached. The controller runs as its own process with only the Gateway API router
 * (`--routers=gatewayAPI`) and exactly the RBAC the chart renders for it, against a real
 * kube-apiserver with Gateway API's own CRDs and a real Prometheus. Subsets mode here; managed mode
 * through an HTTPRoute is in managed-gateway-api.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControllerProcess, type ControllerProcess } from '../harness/controller-process.js';
import { httpRoute } from '../../src/routers/gateway-api/types.js';
import {
  CONTROLLER_NAMESPACE,
  recordWeights,
  standUpService,
  startWorld,
  userHttpRoute,
  type World,
} from './support.js';

let world: World;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  world = await startWorld({
    chartValues: {
      'managedMode.enabled': false,
      'routers.istio.enabled': false,
      'routers.gatewayAPI.enabled': true,
    },
  });
  cleanups.push(() => world.stop());
  const controller: ControllerProcess = await startControllerProcess({
    kubeconfigPath: world.controllerKubeconfig,
    prometheusUrl: world.prometheus.url,
    leaseNamespace: CONTROLLER_NAMESPACE,
    identity: 'canaria-0',
    extraArgs: ['--managed-mode=false', '--routers=gatewayAPI'],
  });
  cleanups.push(() => controller.kill('SIGTERM'));
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const analysis = () => ({
  interval: '3s',
  metrics: [
    {
      name: 'error-ratio',
      type: 'errorRatio' as const,
      judge: { type: 'sequential' as const, tolerance: 0.25 },
    },
  ],
});

const twoSteps = {
  steps: [
    { setWeight: 10 },
    { analysis: { duration: '6s' } },
    { setWeight: 50 },
    { analysis: { duration: '6s' } },
  ],
};

describe('canaria through a Gateway API HTTPRoute (subsets mode: a Service per version)', () => {
  it("S1/S2: a healthy canary goes 0 -> 10 -> 50 -> 100 on the rule's backendRefs, and the user's other rule and timeout stay", async () => {
    const service = await standUpService(world, {
      namespace: 'gw-s2',
      name: 'reviews',
      router: 'gatewayAPI',
      behaviour: { v1: { errorRate: 0.005, latencyMs: 30 }, v2: { errorRate: 0.005, latencyMs: 30 } },
    });
    const weights = await recordWeights(world, service);
    try {
      await service.createRelease({ strategy: twoSteps, analysis: analysis() });
      const status = await service.waitForPhase('Succeeded', 150_000);
      expect(status.decisions?.some((d) => d.reason === 'AnalysisPassed')).toBe(true);
      await weights.waitFor('0/100');
    } finally {
      await weights.stop();
      await service.stop();
    }
    expect(weights.seen).toEqual(['100/0', '90/10', '50/50', '0/100']);
    expect(weights.history.gaps).toEqual([]);
    // as the API server stored the user's route (with its defaults), before canaria touched it
    const versions = weights.history.versions.flatMap((v) => (v.object ? [httpRoute.parse(v.object)] : []));
    const original = versions[0]?.spec.rules ?? [];
    expect(original.map((r) => r.name)).toEqual(['admin', 'primary']);
    expect(original[1]?.timeouts).toEqual(userHttpRoute('reviews').spec.rules?.[1]?.timeouts);
    for (const route of versions) {
      const rules = route.spec.rules ?? [];
      expect(rules.find((r) => r.name === 'admin')).toEqual(original[0]);
      expect(rules.find((r) => r.name === 'primary')?.timeouts).toEqual(original[1]?.timeouts);
    }
    // both sides served, each reported under its own Service, and the analysis read them apart
    const served = service.traffic.served();
    expect(served.v2?.total).toBeGreaterThan(0);
    expect(served.v1?.total).toBeGreaterThan(0);
  });

  it('S7: a canary with 5x the errors is rolled back to 0 and an Event says why with the numbers', async () => {
    const service = await standUpService(world, {
      namespace: 'gw-s7',
      name: 'reviews',
      router: 'gatewayAPI',
      behaviour: { v1: { errorRate: 0.02, latencyMs: 30 }, v2: { errorRate: 0.1, latencyMs: 30 } },
    });
    try {
      await service.createRelease({ strategy: twoSteps, analysis: analysis() });
      const status = await service.waitForPhase('RolledBack', 150_000);
      expect(await service.weights()).toEqual([100, 0]);
      expect(status.decisions?.at(-1)).toMatchObject({
        action: 'Rollback',
        reason: 'AnalysisFailed',
        verdict: 'Fail',
      });
      const events = await service.events();
      const why = events.find((e) => e.reason === 'AnalysisFailed' && e.type === 'Warning');
      expect(why?.message).toMatch(
        /rolled back at \d+% over \d+s: error-ratio Fail: canary [\d.]+% of \d+, stable [\d.]+% of \d+/,
      );
    } finally {
      await service.stop();
    }
  });

  it('S3: the A/B rule for end-user: testuser sits in front of the managed rule during its stage and is gone afterwards', async () => {
    const service = await standUpService(world, {
      namespace: 'gw-s3',
      name: 'reviews',
      router: 'gatewayAPI',
      behaviour: { v1: { errorRate: 0, latencyMs: 30 }, v2: { errorRate: 0, latencyMs: 30 } },
      classes: [
        { share: 0.8, request: { host: 'reviews' } },
        { share: 0.2, request: { host: 'reviews', headers: { 'end-user': 'testuser' } } },
      ],
    });
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
    const versions = history.history.versions.flatMap((v) => (v.object ? [httpRoute.parse(v.object)] : []));
    const abRules = versions.flatMap((route) => {
      const rules = route.spec.rules ?? [];
      const at = rules.findIndex((r) => r.name?.startsWith('canaria-ab'));
      return at < 0 ? [] : [{ rule: rules[at], before: rules[at + 1]?.name }];
    });
    expect(history.history.gaps).toEqual([]);
    expect(abRules.length).toBeGreaterThan(0);
    expect(abRules[0]?.rule?.matches).toEqual([
      // the API server's default path match, as on every match of a stored route
      {
        headers: [{ type: 'Exact', name: 'end-user', value: 'testuser' }],
        path: { type: 'PathPrefix', value: '/' },
      },
    ]);
    // the stage's canaryWeight 100: the testers all go to the canary's Service
    const weightBy = Object.fromEntries(
      (abRules[0]?.rule?.backendRefs ?? []).map((b) => [b.name, b.weight ?? 1]),
    );
    expect(weightBy['reviews-v2']).toBeGreaterThan(0);
    expect(weightBy['reviews-v1'] ?? 0).toBe(0);
    expect(abRules.every((r) => r.before === 'primary')).toBe(true);
    const final = await service.readHttpRoute();
    expect(final.spec.rules?.some((r) => r.name?.startsWith('canaria-ab'))).toBe(false);
    // the testers reached the canary during the stage, through the A/B rule
    expect(service.traffic.served().v2?.total).toBeGreaterThan(0);
  });
});
