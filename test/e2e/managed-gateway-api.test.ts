/**
 * Managed mode through a Gateway API HTTPRoute: the user runs one Deployment and one Service; canaria
 * keeps the primary copy and creates `podinfo-primary` and `podinfo-canary`, the Services the route's
 * rule weighs. The controller runs as its own process with only the Gateway API router and the
 * chart's RBAC for it, on a real API server with Gateway API's CRDs and a real Prometheus fed by
 * traffic routed by the live HTTPRoute, each request reported under the Service it reached.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
} from '@kubernetes/client-node';
import type { CanaryReleaseSpecInput, CanaryReleaseStatus } from '../../src/api/canary-release.js';
import { API_GROUP, API_VERSION_NAME } from '../../src/api/meta.js';
import { MANAGED_BY, PRIMARY_LABEL, RELEASE_LABEL } from '../../src/managed/labels.js';
import { managedSpecInput } from '../builders/managed.js';
import { errorRatioAnalysis } from '../builders/release.js';
import { startControllerProcess, type ControllerProcess } from '../harness/controller-process.js';
import { startDeploymentController } from '../harness/deployments.js';
import { startTraffic, type Behaviour, type RequestClass } from '../harness/traffic.js';
import { waitUntil } from '../harness/wait.js';
import { watchHistory } from '../harness/watch-history.js';
import { httpRoute as httpRouteSchema } from '../../src/routers/gateway-api/types.js';
import { CONTROLLER_NAMESPACE, startWorld, type World } from './support.js';

let world: World;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  world = await startWorld({
    chartValues: { 'routers.istio.enabled': false, 'routers.gatewayAPI.enabled': true },
  });
  cleanups.push(() => world.stop());
  const controller: ControllerProcess = await startControllerProcess({
    kubeconfigPath: world.controllerKubeconfig,
    prometheusUrl: world.prometheus.url,
    leaseNamespace: CONTROLLER_NAMESPACE,
    identity: 'canaria-managed-gw',
    extraArgs: ['--routers=gatewayAPI'],
  });
  cleanups.push(() => controller.kill('SIGTERM'));
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

const GOOD: Behaviour = { errorRate: 0.01, latencyMs: 30 };
const BAD: Behaviour = { errorRate: 0.05, latencyMs: 30 };
const release = { group: API_GROUP, version: API_VERSION_NAME, plural: 'canaryreleases' };
const routes = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' };

/** `stable/canary` weights of the rule `main`: the backendRefs to podinfo-primary and podinfo-canary. */
function weightsOf(route: unknown): string | undefined {
  const parsed = httpRouteSchema.safeParse(route);
  if (!parsed.success) return undefined;
  const refs = parsed.data.spec.rules?.find((r) => r.name === 'main')?.backendRefs ?? [];
  const weight = (name: string) => refs.find((r) => r.name === name)?.weight ?? 0;
  return `${weight('podinfo-primary')}/${weight('podinfo-canary')}`;
}

/** podinfo as its user deploys it: a Deployment, its Service, and an HTTPRoute attached to the Service. */
async function standUp(
  namespace: string,
  extra: Partial<CanaryReleaseSpecInput> = {},
  classes: RequestClass[] = [{ share: 1, request: { host: 'podinfo' } }],
) {
  const core = world.admin.makeApiClient(CoreV1Api);
  const apps = world.admin.makeApiClient(AppsV1Api);
  const objects = world.admin.makeApiClient(CustomObjectsApi);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const deployments = startDeploymentController(world.admin, namespace);
  await apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: 'podinfo', labels: { app: 'podinfo' } },
      spec: {
        replicas: 2,
        selector: { matchLabels: { app: 'podinfo', version: 'canary' } },
        template: {
          metadata: { labels: { app: 'podinfo', version: 'canary' } },
          spec: { containers: [{ name: 'podinfo', image: 'podinfo:1.0' }] },
        },
      },
    },
  });
  await core.createNamespacedService({
    namespace,
    body: {
      metadata: { name: 'podinfo' },
      spec: { selector: { app: 'podinfo' }, ports: [{ name: 'http', port: 9898, targetPort: 9898 }] },
    },
  });
  // the managed rule names the primary Service canaria creates; the canary's backendRef canaria adds
  await objects.createNamespacedCustomObject({
    ...routes,
    namespace,
    body: {
      apiVersion: 'gateway.networking.k8s.io/v1',
      kind: 'HTTPRoute',
      metadata: { name: 'podinfo' },
      spec: {
        parentRefs: [{ group: '', kind: 'Service', name: 'podinfo', port: 9898 }],
        rules: [{ name: 'main', backendRefs: [{ name: 'podinfo-primary', port: 9898, weight: 100 }] }],
      },
    },
  });
  const traffic = startTraffic({
    kubeConfig: world.admin,
    namespace,
    virtualService: 'podinfo',
    destinationRule: 'podinfo',
    httpRoute: 'podinfo',
    service: 'podinfo',
    mesh: world.mesh,
    requestsPerSecond: 200,
    behaviour: { 'podinfo:1.0': GOOD, 'podinfo:2.0': GOOD, 'podinfo:bad': BAD },
    classes,
    workloads: async () =>
      (await apps.listNamespacedDeployment({ namespace })).items
        .filter((d) => (d.status?.readyReplicas ?? 0) > 0)
        .map((d) => ({
          labels: d.spec?.template.metadata?.labels ?? {},
          behaviour: d.spec?.template.spec?.containers[0]?.image ?? '',
        })),
  });
  const spec = managedSpecInput({
    trafficRouting: { gatewayAPI: { httpRoute: { name: 'podinfo', rule: 'main' } } },
    strategy: {
      steps: [
        { setWeight: 20 },
        { analysis: { duration: '4s' } },
        { setWeight: 60 },
        { analysis: { duration: '4s' } },
      ],
    },
    analysis: errorRatioAnalysis({
      interval: '2s',
      minSamples: 100,
      metrics: [
        { name: 'error-ratio', type: 'errorRatio', judge: { type: 'relative', tolerance: 0.5, slack: 0.02 } },
      ],
    }),
    ...extra,
  });
  await objects.createNamespacedCustomObject({
    ...release,
    namespace,
    body: {
      apiVersion: `${API_GROUP}/${API_VERSION_NAME}`,
      kind: 'CanaryRelease',
      metadata: { name: 'podinfo' },
      spec,
    },
  });
  const history = await watchHistory<{ metadata: { resourceVersion?: string } }>(
    world.env.admin,
    `/apis/gateway.networking.k8s.io/v1/namespaces/${namespace}/httproutes`,
    'podinfo',
  );
  cleanups.push(async () => {
    await history.stop();
    await traffic.stop();
    await deployments.stop();
  });
  const status = async () =>
    (
      (await objects
        .getNamespacedCustomObject({ ...release, namespace, name: 'podinfo' })
        .catch(() => undefined)) as { status?: CanaryReleaseStatus } | undefined
    )?.status;
  const read = async (name: string) => apps.readNamespacedDeployment({ namespace, name });
  const service = {
    namespace,
    traffic,
    /** Every version of the HTTPRoute the API server stored, parsed. */
    routes: () => history.versions.flatMap((v) => (v.object ? [httpRouteSchema.parse(v.object)] : [])),
    history,
    get seen() {
      return history.states(weightsOf);
    },
    read,
    readService: (name: string) => core.readNamespacedService({ namespace, name }),
    image: async (name: string) => (await read(name)).spec?.template.spec?.containers[0]?.image,
    async setImage(image: string) {
      await apps.patchNamespacedDeployment(
        {
          namespace,
          name: 'podinfo',
          body: { spec: { template: { spec: { containers: [{ name: 'podinfo', image }] } } } },
        },
        setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
      );
    },
    async lastWeightRecorded(weights: string) {
      await waitUntil(
        `${namespace}: ${weights} recorded`,
        () => Promise.resolve(history.states(weightsOf).at(-1) === weights),
        { deadline: Date.now() + 5_000, intervalMs: 50 },
      );
    },
    async waitFor(
      what: string,
      check: (s: CanaryReleaseStatus | undefined) => boolean | Promise<boolean>,
      timeoutMs = 150_000,
    ) {
      let last: CanaryReleaseStatus | undefined;
      await waitUntil(
        `${namespace}: ${what}`,
        async () => {
          last = await status();
          if (last?.phase === 'Failed') throw new Error(`release failed: ${last.message ?? ''}`);
          return check(last);
        },
        { deadline: Date.now() + timeoutMs, intervalMs: 250 },
      ).catch((err: unknown) => {
        throw new Error(
          `${(err as Error).message}; last status: ${JSON.stringify(last?.decisions?.slice(-4) ?? last)}`,
          { cause: err },
        );
      });
      return last ?? {};
    },
  };
  await service.waitFor(
    'initialized',
    async (s) => s?.phase === 'Succeeded' && (await read('podinfo')).spec?.replicas === 0,
  );
  return service;
}

describe('managed mode through a Gateway API HTTPRoute', () => {
  it('S1/S2: an image change goes 20 -> 60 -> 100 between podinfo-primary and podinfo-canary, which canaria creates and owns', async () => {
    const service = await standUp('gw-managed-image');
    for (const [name, selector] of [
      ['podinfo-primary', { app: 'podinfo', [PRIMARY_LABEL]: 'true' }],
      ['podinfo-canary', { app: 'podinfo', version: 'canary' }],
    ] as const) {
      const svc = await service.readService(name);
      expect(svc.spec?.selector).toEqual(selector);
      expect(svc.spec?.ports?.map((p) => p.port)).toEqual([9898]);
      expect(svc.metadata?.labels).toMatchObject({ ...MANAGED_BY, [RELEASE_LABEL]: 'podinfo' });
    }
    await service.setImage('podinfo:2.0');
    const status = await service.waitFor(
      'the new image promoted',
      async (s) =>
        s?.phase === 'Succeeded' &&
        s.decisions?.at(-1)?.reason === 'Promoted' &&
        (await service.read('podinfo')).spec?.replicas === 0,
    );
    expect(await service.image('podinfo-primary')).toBe('podinfo:2.0');
    await service.lastWeightRecorded('100/0');
    expect(service.seen).toEqual(['100/0', '80/20', '40/60', '100/0']);
    expect(service.history.gaps).toEqual([]);
    expect(status.decisions?.some((d) => d.reason === 'AnalysisPassed')).toBe(true);
    expect(service.traffic.served().canary?.total).toBeGreaterThan(0);
  });

  it('S7: a bad image (5x the errors) is rolled back to 0 with the primary untouched', async () => {
    const service = await standUp('gw-managed-bad');
    await service.setImage('podinfo:bad');
    const status = await service.waitFor('rolled back', (s) => s?.phase === 'RolledBack');
    expect(status.decisions?.at(-1)).toMatchObject({ action: 'Rollback', reason: 'AnalysisFailed' });
    expect(await service.image('podinfo-primary')).toBe('podinfo:1.0');
    await service.lastWeightRecorded('100/0');
    expect(service.seen[0]).toBe('100/0');
    expect(service.seen).toContain('80/20');
    expect(service.seen.at(-1)).toBe('100/0');
  });

  it('S3: a header-matched test group reaches the canary through an A/B rule in front of the managed rule, gone after promotion', async () => {
    const service = await standUp(
      'gw-managed-ab',
      {
        strategy: {
          steps: [
            {
              match: {
                headers: [{ name: 'end-user', exact: 'testuser' }],
                canaryWeight: 100,
                duration: '6s',
              },
            },
            { setWeight: 20 },
            { pause: { duration: '3s' } },
          ],
        },
      },
      [
        { share: 0.8, request: { host: 'podinfo' } },
        { share: 0.2, request: { host: 'podinfo', headers: { 'end-user': 'testuser' } } },
      ],
    );
    await service.setImage('podinfo:2.0');
    await service.waitFor(
      'the new image promoted',
      async (s) =>
        s?.phase === 'Succeeded' &&
        s.decisions?.at(-1)?.reason === 'Promoted' &&
        (await service.read('podinfo')).spec?.replicas === 0,
    );
    await service.lastWeightRecorded('100/0');
    const abRules = service.routes().flatMap((route) => {
      const rules = route.spec.rules ?? [];
      const at = rules.findIndex((r) => r.name?.startsWith('canaria-ab'));
      return at < 0 ? [] : [{ rule: rules[at], before: rules[at + 1]?.name }];
    });
    expect(abRules.length).toBeGreaterThan(0);
    expect(abRules.every((r) => r.before === 'main')).toBe(true);
    expect(abRules[0]?.rule?.matches?.[0]?.headers).toEqual([
      { type: 'Exact', name: 'end-user', value: 'testuser' },
    ]);
    const last = service.routes().at(-1);
    expect(last?.spec.rules?.map((r) => r.name)).toEqual(['main']);
    expect(service.traffic.served().canary?.total).toBeGreaterThan(0);
  });
});
