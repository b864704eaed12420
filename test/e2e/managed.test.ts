/**
 * Managed mode end to end: the user edits one Deployment through the API, as `kubectl set image`
 * and GitOps do; the controller (its own process, the chart's RBAC) keeps the primary copy, runs the
 * rollout on a real API server and reads a real Prometheus fed by traffic routed by the live
 * VirtualService and DestinationRule.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AppsV1Api,
  AutoscalingV2Api,
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  Watch,
  type V1Deployment,
  type V2HorizontalPodAutoscaler,
} from '@kubernetes/client-node';
import type { CanaryReleaseSpecInput, CanaryReleaseStatus } from '../../src/api/canary-release.js';
import { API_GROUP, API_VERSION_NAME } from '../../src/api/meta.js';
import { PRIMARY_LABEL } from '../../src/managed/labels.js';
import { managedSpecInput } from '../builders/managed.js';
import { errorRatioAnalysis } from '../builders/release.js';
import { startControllerProcess, type ControllerProcess } from '../harness/controller-process.js';
import { startDeploymentController } from '../harness/deployments.js';
import { startTraffic, type Behaviour, type Traffic } from '../harness/traffic.js';
import { waitUntil } from '../harness/wait.js';
import { watchHistory } from '../harness/watch-history.js';
import { CONTROLLER_NAMESPACE, startWorld, type World } from './support.js';

/** The part of the VirtualService the managed-mode tests read. */
interface VsSpec {
  http: { route: { weight?: number }[] }[];
}

let world: World;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  // with trackSecrets, so the primary's copies of Secrets are written with the chart's RBAC for them
  world = await startWorld({ chartValues: { trackSecrets: true } });
  cleanups.push(() => world.stop());
  const controller: ControllerProcess = await startControllerProcess({
    kubeconfigPath: world.controllerKubeconfig,
    prometheusUrl: world.prometheus.url,
    leaseNamespace: CONTROLLER_NAMESPACE,
    identity: 'canaria-managed',
    extraArgs: ['--track-secrets=true'],
  });
  cleanups.push(() => controller.kill('SIGTERM'));
});

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

// BAD has 5x the errors of GOOD; the judge's slack keeps a good canary's noise at ~100 requests from failing it
const GOOD: Behaviour = { errorRate: 0.01, latencyMs: 30 };
const BAD: Behaviour = { errorRate: 0.05, latencyMs: 30 };
const release = { group: API_GROUP, version: API_VERSION_NAME, plural: 'canaryreleases' };
const istio = (plural: string) => ({ group: 'networking.istio.io', version: 'v1', plural });

/** podinfo as its user deploys it: one Deployment, a ConfigMap, a Service's VirtualService and DestinationRule. */
async function standUp(namespace: string, extra: Partial<CanaryReleaseSpecInput> = {}) {
  const core = world.admin.makeApiClient(CoreV1Api);
  const apps = world.admin.makeApiClient(AppsV1Api);
  const objects = world.admin.makeApiClient(CustomObjectsApi);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  const deployments = startDeploymentController(world.admin, namespace);
  await core.createNamespacedConfigMap({
    namespace,
    body: { metadata: { name: 'podinfo-config' }, data: { color: 'blue' } },
  });
  await core.createNamespacedSecret({
    namespace,
    body: { metadata: { name: 'podinfo-token' }, type: 'Opaque', stringData: { token: 'one' } },
  });
  await apps.createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: 'podinfo', labels: { app: 'podinfo' } },
      spec: {
        replicas: 2,
        // the revision label in the selector too: the user's Deployment then leaves the primary's pods alone
        selector: { matchLabels: { app: 'podinfo', version: 'canary' } },
        template: {
          metadata: { labels: { app: 'podinfo', version: 'canary' } },
          spec: {
            containers: [
              {
                name: 'podinfo',
                image: 'podinfo:1.0',
                envFrom: [{ configMapRef: { name: 'podinfo-config' } }],
                env: [
                  { name: 'TOKEN', valueFrom: { secretKeyRef: { name: 'podinfo-token', key: 'token' } } },
                ],
              },
            ],
          },
        },
      },
    },
  });
  await objects.createNamespacedCustomObject({
    ...istio('destinationrules'),
    namespace,
    body: {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: 'podinfo' },
      spec: {
        host: 'podinfo',
        subsets: [
          { name: 'stable', labels: { app: 'podinfo' } },
          { name: 'canary', labels: { app: 'podinfo' } },
        ],
      },
    },
  });
  await objects.createNamespacedCustomObject({
    ...istio('virtualservices'),
    namespace,
    body: {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: 'podinfo' },
      spec: {
        hosts: ['podinfo'],
        http: [
          {
            name: 'main',
            route: [
              { destination: { host: 'podinfo', subset: 'stable' }, weight: 100 },
              { destination: { host: 'podinfo', subset: 'canary' }, weight: 0 },
            ],
            retries: { attempts: 2 },
          },
        ],
      },
    },
  });
  // the pods that run: each ready Deployment's pod labels, behaving as its image does
  const behaviour: Record<string, Behaviour> = {
    'podinfo:1.0': GOOD,
    'podinfo:2.0': GOOD,
    'podinfo:3.0': GOOD,
  };
  const traffic: Traffic = startTraffic({
    kubeConfig: world.admin,
    namespace,
    virtualService: 'podinfo',
    destinationRule: 'podinfo',
    service: 'podinfo',
    mesh: world.mesh,
    requestsPerSecond: 200,
    behaviour: { ...behaviour, 'podinfo:bad': BAD },
    classes: [{ share: 1, request: { host: 'podinfo' } }],
    workloads: async () =>
      (await apps.listNamespacedDeployment({ namespace })).items
        .filter((d) => (d.status?.readyReplicas ?? 0) > 0)
        .map((d) => ({
          labels: d.spec?.template.metadata?.labels ?? {},
          behaviour: d.spec?.template.spec?.containers[0]?.image ?? '',
        })),
  });
  // the unit tests' release, on a timescale of seconds
  const spec = managedSpecInput({
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

  const read = async (name: string) => apps.readNamespacedDeployment({ namespace, name });
  const status = async () =>
    (
      (await objects
        .getNamespacedCustomObject({ ...release, namespace, name: 'podinfo' })
        .catch(() => undefined)) as { status?: CanaryReleaseStatus } | undefined
    )?.status;
  const weights = async (): Promise<string> => {
    const vs = (await objects.getNamespacedCustomObject({
      ...istio('virtualservices'),
      namespace,
      name: 'podinfo',
    })) as {
      spec: { http: { route: { weight?: number }[] }[] };
    };
    return vs.spec.http[0]?.route.map((r) => r.weight ?? 0).join('/') ?? '';
  };
  // every version of the VirtualService, from the API server's watch: a poll can miss a short state
  const history = await watchHistory<{ metadata: { resourceVersion?: string }; spec: VsSpec }>(
    world.env.admin,
    `/apis/networking.istio.io/v1/namespaces/${namespace}/virtualservices`,
    'podinfo',
  );
  const weightsOf = (vs: { spec: VsSpec } | undefined) =>
    vs?.spec.http[0]?.route.map((r) => r.weight ?? 0).join('/');
  cleanups.push(async () => {
    await history.stop();
    await traffic.stop();
    await deployments.stop();
  });

  const service = {
    namespace,
    traffic,
    get seen() {
      return history.states(weightsOf);
    },
    history,
    read,
    status,
    weights,
    image: async (name: string) => (await read(name)).spec?.template.spec?.containers[0]?.image,
    /** As `kubectl set image deploy/podinfo podinfo=<image>` does: a strategic merge patch of the template. */
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
    async setConfig(color: string) {
      await core.patchNamespacedConfigMap(
        { namespace, name: 'podinfo-config', body: { data: { color } } },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    },
    /** The watch may deliver the last patch a moment after the status already says done. */
    async lastWeightRecorded(weights: string) {
      await waitUntil(
        `${namespace}: ${weights} recorded`,
        () => Promise.resolve(history.states(weightsOf).at(-1) === weights),
        { deadline: Date.now() + 5_000, intervalMs: 50 },
      );
    },
    async deleteRelease() {
      await objects.deleteNamespacedCustomObject({ ...release, namespace, name: 'podinfo' });
    },
    async waitFor(
      what: string,
      check: (s: CanaryReleaseStatus | undefined) => boolean | Promise<boolean>,
      timeoutMs = 120_000,
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
          {
            cause: err,
          },
        );
      });
      return last ?? {};
    },
  };
  /** Initialized: the primary runs the user's template, takes all traffic, the user's Deployment is at zero. */
  await service.waitFor(
    'initialized',
    async (s) => s?.phase === 'Succeeded' && (await read('podinfo')).spec?.replicas === 0,
  );
  return service;
}

const templateOf = (d: V1Deployment): unknown => d.spec?.template;

/**
 * Calls `seen` with every state of the object named `name` under `path`, as the API server's watch
 * sends them (the current one first). Returns the function that stops watching.
 */
async function watchObjects(
  path: string,
  name: string,
  seen: (object: unknown) => void,
): Promise<() => void> {
  let stopped = false;
  const errors: unknown[] = [];
  const request = await new Watch(world.admin).watch(
    path,
    { fieldSelector: `metadata.name=${name}` },
    (type: string, object: unknown) => {
      if (type === 'ADDED' || type === 'MODIFIED') seen(object);
    },
    (err: unknown) => {
      if (!stopped && err) errors.push(err);
    },
  );
  return () => {
    if (stopped) return;
    stopped = true;
    request.abort();
    if (errors.length) throw new Error(`the watch of ${path}/${name} ended: ${String(errors[0])}`);
  };
}

describe('managed mode on a real API server and a real Prometheus', () => {
  it('an image change rolls out step by step and ends with the primary on the new image and all traffic on it', async () => {
    const service = await standUp('managed-image');
    const primary = await service.read('podinfo-primary');
    expect(primary.spec?.selector.matchLabels).toEqual({ app: 'podinfo', [PRIMARY_LABEL]: 'true' });
    expect(await service.image('podinfo-primary')).toBe('podinfo:1.0');

    await service.setImage('podinfo:2.0');
    const status = await service.waitFor(
      'the new image promoted',
      async (s) =>
        s?.phase === 'Succeeded' &&
        s.decisions?.at(-1)?.reason === 'Promoted' &&
        (await service.read('podinfo')).spec?.replicas === 0,
    );
    expect(await service.image('podinfo-primary')).toBe('podinfo:2.0');
    expect(await service.weights()).toBe('100/0');
    await service.lastWeightRecorded('100/0');
    expect(service.seen).toEqual(['100/0', '80/20', '40/60', '100/0']);
    expect(service.history.gaps).toEqual([]);
    expect(status.decisions?.some((d) => d.reason === 'AnalysisPassed')).toBe(true);
    // the canary served traffic as itself, reported under its own revision label
    expect(service.traffic.served().canary?.total).toBeGreaterThan(0);
  });

  it("a change of a referenced ConfigMap alone is canaried; the primary's own copy keeps the old content until promotion", async () => {
    const service = await standUp('managed-config');
    const namespace = service.namespace;
    const core = world.admin.makeApiClient(CoreV1Api);
    const copy = async () =>
      (await core.readNamespacedConfigMap({ namespace, name: 'podinfo-config-primary' })).data;
    expect(await copy()).toEqual({ color: 'blue' });
    const primary = await service.read('podinfo-primary');
    // the primary reads its copy, the user's Deployment (the canary) the original
    expect(primary.spec?.template.spec?.containers[0]?.envFrom).toEqual([
      { configMapRef: { name: 'podinfo-config-primary' } },
    ]);
    expect((await service.read('podinfo')).spec?.template.spec?.containers[0]?.envFrom).toEqual([
      { configMapRef: { name: 'podinfo-config' } },
    ]);
    // and its own copy of the Secret, written with the RBAC the chart grants with trackSecrets
    expect(primary.spec?.template.spec?.containers[0]?.env?.[0]?.valueFrom?.secretKeyRef?.name).toBe(
      'podinfo-token-primary',
    );
    const secretCopy = await core.readNamespacedSecret({ namespace, name: 'podinfo-token-primary' });
    expect(secretCopy.type).toBe('Opaque');
    expect(Buffer.from(secretCopy.data?.token ?? '', 'base64').toString()).toBe('one');
    expect(secretCopy.metadata?.labels).toMatchObject({ 'canaria.dev/release': 'podinfo' });

    // every state of the copy and of the release, in the order the API server's watches sent them
    const log: string[] = [];
    const stopCopy = await watchObjects(
      `/api/v1/namespaces/${namespace}/configmaps`,
      'podinfo-config-primary',
      (o) => {
        log.push(`copy ${(o as { data?: { color?: string } }).data?.color ?? ''}`);
      },
    );
    const stopRelease = await watchObjects(
      `/apis/${API_GROUP}/${API_VERSION_NAME}/namespaces/${namespace}/canaryreleases`,
      'podinfo',
      (o) => {
        const s = (o as { status?: CanaryReleaseStatus }).status;
        const entry = `release ${s?.phase ?? ''} step ${String(s?.currentStepIndex ?? '-')}`;
        if (log.filter((l) => l.startsWith('release')).at(-1) !== entry) log.push(entry);
      },
    );
    const stopWatches = () => {
      stopCopy();
      stopRelease();
    };
    cleanups.push(() => {
      stopWatches();
      return Promise.resolve();
    });

    const before = (await service.status())?.stableRevision;
    await service.setConfig('green');
    const started = await service.waitFor('a rollout of the new configuration', (s) =>
      (s?.decisions ?? []).some((d) => d.reason === 'NewRevision'),
    );
    expect(started.canaryRevision).not.toBe(before);
    await waitUntil('the rollout at 60 %', async () => (await service.weights()) === '40/60', {
      deadline: Date.now() + 90_000,
      intervalMs: 100,
    });
    // the canary runs the new configuration; the primary's pods still read the old one
    expect(await copy()).toEqual({ color: 'blue' });
    const done = await service.waitFor(
      'the configuration promoted',
      (s) => s?.phase === 'Succeeded' && s.stableRevision !== before,
    );
    expect(done.stableRevision).toBe(started.canaryRevision);
    expect(await copy()).toEqual({ color: 'green' });
    expect(await service.image('podinfo-primary')).toBe('podinfo:1.0');
    await waitUntil('the watch to see the new copy', () => Promise.resolve(log.includes('copy green')), {
      deadline: Date.now() + 5_000,
    });
    stopWatches();
    // the copy changed once, and only after the last step (index 3) had begun
    const copies = log.filter((l) => l.startsWith('copy'));
    expect(copies).toEqual(['copy blue', 'copy green']);
    const releaseBeforeChange = log
      .slice(0, log.indexOf('copy green'))
      .filter((l) => l.startsWith('release'));
    expect(releaseBeforeChange.some((l) => l.startsWith('release Progressing'))).toBe(true);
    expect(releaseBeforeChange.at(-1), log.join('\n')).toMatch(/^release (Progressing step 3|Promoting)/);
  });

  it("keeps each side's autoscaler to its own pods: disjoint selectors, the mirror scales the primary", async () => {
    const service = await standUp('managed-hpa');
    const namespace = service.namespace;
    const autoscaling = world.admin.makeApiClient(AutoscalingV2Api);
    await autoscaling.createNamespacedHorizontalPodAutoscaler({
      namespace,
      body: {
        metadata: { name: 'podinfo' },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'podinfo' },
          minReplicas: 2,
          maxReplicas: 6,
        },
      },
    });
    let mirror: V2HorizontalPodAutoscaler | undefined;
    await waitUntil(
      'the mirror autoscaler',
      async () => {
        mirror = await autoscaling
          .readNamespacedHorizontalPodAutoscaler({ namespace, name: 'podinfo-primary' })
          .catch(() => undefined);
        return mirror !== undefined;
      },
      { deadline: Date.now() + 30_000, intervalMs: 250 },
    );
    expect(mirror?.spec?.scaleTargetRef).toEqual({
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      name: 'podinfo-primary',
    });
    // an autoscaler counts the pods of its target's scale subresource selector, as the API server gives it
    const apps = world.admin.makeApiClient(AppsV1Api);
    const scaleSelector = async (name: string) =>
      (await apps.readNamespacedDeploymentScale({ namespace, name })).status?.selector ?? '';
    const selects = (selector: string, labels: Record<string, string> = {}) =>
      selector.split(',').every((term) => {
        const [key, value] = term.split('=');
        return labels[key!] === value;
      });
    const podsOf = async (name: string) => (await service.read(name)).spec?.template.metadata?.labels;
    const [user, primary] = [await scaleSelector('podinfo'), await scaleSelector('podinfo-primary')];
    expect(user).toBe('app=podinfo,version=canary');
    expect(selects(user, await podsOf('podinfo'))).toBe(true);
    expect(selects(primary, await podsOf('podinfo-primary'))).toBe(true);
    expect(selects(user, await podsOf('podinfo-primary')), `${user} selects the primary's pods`).toBe(false);
    expect(selects(primary, await podsOf('podinfo')), `${primary} selects the canary's pods`).toBe(false);
  });

  it('a bad version (5x errors) is rolled back with the primary untouched, and revertTarget restores the previous image', async () => {
    const service = await standUp('managed-bad', { rollback: { revertTarget: true } });
    const primaryBefore = templateOf(await service.read('podinfo-primary'));
    await service.setImage('podinfo:bad');
    const status = await service.waitFor(
      'the bad version rolled back and reverted',
      async (s) => s?.phase === 'RolledBack' && (await service.image('podinfo')) === 'podinfo:1.0',
    );
    expect(status.decisions?.some((d) => d.action === 'Rollback' && d.reason === 'AnalysisFailed')).toBe(
      true,
    );
    expect(status.decisions?.at(-1)?.reason).toBe('TargetReverted');
    expect(templateOf(await service.read('podinfo-primary'))).toEqual(primaryBefore);
    expect(await service.weights()).toBe('100/0');
    await waitUntil(
      'the canary scaled down',
      async () => (await service.read('podinfo')).spec?.replicas === 0,
      {
        deadline: Date.now() + 30_000,
      },
    );
  });

  it('a second image change in the middle of a rollout restarts it from the first step', async () => {
    const service = await standUp('managed-restart');
    await service.setImage('podinfo:2.0');
    await waitUntil('the rollout at 60 %', async () => (await service.weights()) === '40/60', {
      deadline: Date.now() + 90_000,
      intervalMs: 100,
    });
    await service.setImage('podinfo:3.0');
    const status = await service.waitFor(
      'podinfo:3.0 promoted',
      async (s) => s?.phase === 'Succeeded' && (await service.image('podinfo-primary')) === 'podinfo:3.0',
    );
    const restart = status.decisions?.find((d) => d.action === 'Restart');
    // at 60 % it is on step 3 (setWeight) or 4 (its analysis)
    expect(restart?.message).toMatch(/restarting from step 1 \(was on step [34]\)/);
    await service.lastWeightRecorded('100/0');
    expect(service.seen).toEqual(['100/0', '80/20', '40/60', '100/0', '80/20', '40/60', '100/0']);
    expect(service.history.gaps).toEqual([]);
  });

  it('deleting the CanaryRelease gives all traffic back to the user Deployment first', async () => {
    const service = await standUp('managed-delete');
    await service.deleteRelease();
    await waitUntil(
      'the release gone',
      async () => (await service.status()) === undefined && (await service.weights()) === '0/100',
      {
        deadline: Date.now() + 60_000,
      },
    );
    const user = await service.read('podinfo');
    expect(user.spec?.replicas).toBe(2);
    expect(user.status?.readyReplicas).toBe(2);
    // kept: managed.cleanupOnDelete was not asked for
    expect(await service.image('podinfo-primary')).toBe('podinfo:1.0');
  });
});
