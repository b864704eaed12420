/**
 * Proves the e2e environment behaves like the cluster canaria will meet: a ready API server with
 * Istio's CRDs, JSON patches guarded by `test`, no strategic merge on custom resources, Deployment
 * status written through the status subresource, and RBAC enforced for ServiceAccounts.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ApiException,
  AppsV1Api,
  CustomObjectsApi,
  KubernetesObjectApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { markDeploymentReady } from '../harness/deployments.js';
import { kubeRequest } from '../harness/kube-http.js';
import { startKubeEnv, type KubeEnv } from '../harness/kube-env.js';
import { waitUntil } from '../harness/wait.js';

const ISTIO_GROUP = 'networking.istio.io';

interface Weighted {
  destination: { host: string; subset: string };
  weight?: number;
}

interface VirtualServiceLike {
  apiVersion: string;
  kind: 'VirtualService';
  metadata: { name: string; namespace?: string; resourceVersion?: string };
  spec: { hosts: string[]; http: { route: Weighted[] }[] };
}

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
}

/** The documents of a seed fixture (test/fixtures/seeds), by kind and name. */
function seedFixture(file: string): (kind: string, name: string) => Manifest {
  const text = readFileSync(new URL(`../fixtures/seeds/${file}`, import.meta.url), 'utf8');
  const manifests = parseAllDocuments(text).map((doc) => doc.toJS() as Manifest);
  return (kind, name) => {
    const found = manifests.find((m) => m.kind === kind && m.metadata.name === name);
    if (found === undefined) throw new Error(`seed fixture ${file} has no ${kind} ${name}`);
    return structuredClone(found);
  };
}

const s1 = seedFixture('s1-myweb-fixed.yaml');
const s1AsPublished = seedFixture('s1-myweb.yaml');

function weights(vs: VirtualServiceLike): (number | undefined)[] {
  return vs.spec.http[0]!.route.map((destination) => destination.weight);
}

/** The HTTP status a rejected client-node call failed with. */
async function rejection(call: Promise<unknown>): Promise<{ code: number; body: string }> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ApiException) return { code: error.code, body: String(error.body) };
    throw error;
  }
  throw new Error('expected the API server to reject the request, but it accepted it');
}

describe('the e2e Kubernetes environment (kube-apiserver + etcd, no kubelet)', () => {
  let env: KubeEnv;
  let admin: KubeConfig;
  let namespaceCount = 0;

  beforeAll(async () => {
    env = await startKubeEnv();
    admin = env.adminKubeConfig();
  });

  afterAll(async () => {
    // beforeAll may have failed before env was set; that failure is what the run reports.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    await env?.stop();
  });

  /** A fresh namespace per test, so tests share nothing but the server. */
  async function namespace(prefix: string): Promise<string> {
    const name = `${prefix}-${++namespaceCount}`;
    await KubernetesObjectApi.makeApiClient(admin).create({
      apiVersion: 'v1',
      kind: 'Namespace',
      metadata: { name },
    });
    return name;
  }

  async function createS1(ns: string): Promise<VirtualServiceLike> {
    const custom = admin.makeApiClient(CustomObjectsApi);
    const dr = s1('DestinationRule', 'myweb');
    await custom.createNamespacedCustomObject({
      group: ISTIO_GROUP,
      version: 'v1alpha3',
      namespace: ns,
      plural: 'destinationrules',
      body: dr,
    });
    return (await custom.createNamespacedCustomObject({
      group: ISTIO_GROUP,
      version: 'v1alpha3',
      namespace: ns,
      plural: 'virtualservices',
      body: s1('VirtualService', 'myweb'),
    })) as VirtualServiceLike;
  }

  function patchWeights(ns: string, ops: object[]): Promise<unknown> {
    return admin.makeApiClient(CustomObjectsApi).patchNamespacedCustomObject(
      {
        group: ISTIO_GROUP,
        version: 'v1',
        namespace: ns,
        plural: 'virtualservices',
        name: 'myweb',
        body: ops,
      },
      setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
    );
  }

  const moveWeights = (from: [number, number], to: [number, number]): object[] => [
    { op: 'test', path: '/spec/http/0/route/0/weight', value: from[0] },
    { op: 'test', path: '/spec/http/0/route/1/weight', value: from[1] },
    { op: 'replace', path: '/spec/http/0/route/0/weight', value: to[0] },
    { op: 'replace', path: '/spec/http/0/route/1/weight', value: to[1] },
  ];

  it('serves a ready API at the pinned Kubernetes version, with TLS and token authentication', async () => {
    const ready = await kubeRequest(env.admin, { method: 'GET', path: '/readyz' });
    expect(ready.status).toBe(200);
    const version = await kubeRequest(env.admin, { method: 'GET', path: '/version' });
    expect((version.body as { gitVersion: string }).gitVersion).toMatch(/^v1\.34\.\d+$/);
    const stranger = await kubeRequest(
      { ...env.admin, token: 'not-a-token' },
      { method: 'GET', path: '/api' },
    );
    expect(stranger.status).toBe(401);
    console.log(`kube-apiserver ${(version.body as { gitVersion: string }).gitVersion} at ${env.serverUrl}`);
  });

  it("establishes Istio's VirtualService and DestinationRule CRDs in networking.istio.io v1, v1beta1 and v1alpha3", () => {
    for (const plural of ['virtualservices', 'destinationrules']) {
      const crd = env.crds.find((c) => c.name === `${plural}.${ISTIO_GROUP}`);
      expect(crd, `CRD ${plural}.${ISTIO_GROUP}`).toBeDefined();
      expect([...crd!.servedVersions].sort()).toEqual(['v1', 'v1alpha3', 'v1beta1']);
      console.log(`${crd!.name}: served ${crd!.servedVersions.join(', ')}; stored as ${crd!.storageVersion}`);
    }
  });

  it('creates the seed S1 VirtualService (myweb: v1 90, v2 10) and DestinationRule, readable in every served version', async () => {
    const ns = await namespace('s1');
    await createS1(ns);
    const custom = admin.makeApiClient(CustomObjectsApi);
    for (const version of ['v1', 'v1beta1', 'v1alpha3']) {
      const vs = (await custom.getNamespacedCustomObject({
        group: ISTIO_GROUP,
        version,
        namespace: ns,
        plural: 'virtualservices',
        name: 'myweb',
      })) as VirtualServiceLike;
      expect(vs.apiVersion).toBe(`${ISTIO_GROUP}/${version}`);
      expect(vs.spec.hosts).toEqual(['myweb']);
      expect(vs.spec.http[0]!.route.map((r) => [r.destination.subset, r.weight])).toEqual([
        ['v1', 90],
        ['v2', 10],
      ]);
    }
    const dr = (await custom.getNamespacedCustomObject({
      group: ISTIO_GROUP,
      version: 'v1',
      namespace: ns,
      plural: 'destinationrules',
      name: 'myweb',
    })) as { spec: { subsets: { name: string; labels: Record<string, string> }[] } };
    expect(dr.spec.subsets).toEqual([
      { name: 'v1', labels: { version: 'v1' } },
      { name: 'v2', labels: { version: 'v2' } },
    ]);
  });

  it('applies an RFC 6902 JSON patch guarded by `test` ops: 90/10 becomes 80/20', async () => {
    const ns = await namespace('json-patch');
    await createS1(ns);
    const patched = (await patchWeights(ns, moveWeights([90, 10], [80, 20]))) as VirtualServiceLike;
    expect(weights(patched)).toEqual([80, 20]);
    const readBack = (await admin.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
      group: ISTIO_GROUP,
      version: 'v1',
      namespace: ns,
      plural: 'virtualservices',
      name: 'myweb',
    })) as VirtualServiceLike;
    expect(weights(readBack)).toEqual([80, 20]);
    expect(readBack.spec.hosts).toEqual(['myweb']);
  });

  it('rejects a JSON patch whose `test` no longer holds with 422, leaving the weights alone', async () => {
    const ns = await namespace('stale-patch');
    await createS1(ns);
    await patchWeights(ns, moveWeights([90, 10], [80, 20]));
    // A writer that still believes the route is at 90/10, e.g. after a hand edit it did not see.
    const stale = await rejection(patchWeights(ns, moveWeights([90, 10], [50, 50])));
    // A failed `test` op comes back as a generic 422 Invalid, with no word about which op failed: a
    // guarded weight patch must read a 422 as "someone else changed the route", re-read and decide again.
    expect(stale.code).toBe(422);
    expect(JSON.parse(stale.body)).toMatchObject({ reason: 'Invalid', code: 422 });
    const readBack = (await admin.makeApiClient(CustomObjectsApi).getNamespacedCustomObject({
      group: ISTIO_GROUP,
      version: 'v1',
      namespace: ns,
      plural: 'virtualservices',
      name: 'myweb',
    })) as VirtualServiceLike;
    expect(weights(readBack)).toEqual([80, 20]);
    console.log(`stale JSON patch rejected with HTTP ${stale.code}: ${stale.body}`);
  });

  it("rejects a strategic-merge patch on the VirtualService with 415 (client-node's KubernetesObjectApi default)", async () => {
    const ns = await namespace('smp');
    const vs = await createS1(ns);
    vs.spec.http[0]!.route[0]!.weight = 50;
    vs.spec.http[0]!.route[1]!.weight = 50;
    const objects = KubernetesObjectApi.makeApiClient(admin);
    const defaulted = await rejection(objects.patch(vs));
    expect(defaulted.code).toBe(415);
    const explicit = await rejection(
      objects.patch(vs, undefined, undefined, undefined, undefined, PatchStrategy.StrategicMergePatch),
    );
    expect(explicit.code).toBe(415);
    // The same call with a merge patch goes through: the content type is the whole difference.
    const merged = await objects.patch(
      vs,
      undefined,
      undefined,
      undefined,
      undefined,
      PatchStrategy.MergePatch,
    );
    expect(weights(merged)).toEqual([50, 50]);
  });

  it("rejects the seed's misplaced `destination.weight` under strict field validation, naming the field", async () => {
    const ns = await namespace('seed-mistake');
    const strict = await rejection(
      admin.makeApiClient(CustomObjectsApi).createNamespacedCustomObject({
        group: ISTIO_GROUP,
        version: 'v1alpha3',
        namespace: ns,
        plural: 'virtualservices',
        body: s1AsPublished('VirtualService', 'myweb'),
        fieldValidation: 'Strict',
      }),
    );
    expect(strict.code).toBe(400);
    expect(strict.body).toContain('spec.http[0].route[0].destination.weight');
  });

  it('writes a Deployment status (readyReplicas, conditions) through the status subresource', async () => {
    const ns = await namespace('deployment');
    const apps = admin.makeApiClient(AppsV1Api);
    const deployment = s1('Deployment', 'myweb-v2') as Manifest & { spec: { replicas?: number } };
    deployment.metadata.namespace = ns;
    deployment.spec.replicas = 3;
    await KubernetesObjectApi.makeApiClient(admin).create(deployment);
    const created = await apps.readNamespacedDeploymentStatus({ namespace: ns, name: 'myweb-v2' });
    expect(created.status?.readyReplicas).toBeUndefined();

    await markDeploymentReady(admin, ns, 'myweb-v2', 2);
    const partly = await apps.readNamespacedDeploymentStatus({ namespace: ns, name: 'myweb-v2' });
    expect(partly.status).toMatchObject({
      replicas: 3,
      readyReplicas: 2,
      availableReplicas: 2,
      observedGeneration: 1,
    });
    expect(partly.status?.conditions?.find((c) => c.type === 'Available')?.status).toBe('False');

    await markDeploymentReady(admin, ns, 'myweb-v2');
    const ready = await apps.readNamespacedDeploymentStatus({ namespace: ns, name: 'myweb-v2' });
    expect(ready.status).toMatchObject({
      replicas: 3,
      readyReplicas: 3,
      updatedReplicas: 3,
      availableReplicas: 3,
    });
    expect(ready.status?.conditions?.find((c) => c.type === 'Available')?.status).toBe('True');
    // The status subresource leaves spec as it was.
    expect(ready.spec?.replicas).toBe(3);
  });

  it('enforces RBAC: a ServiceAccount with no grants gets 403 listing VirtualServices, by token and by impersonation', async () => {
    const ns = await namespace('rbac');
    await createS1(ns);
    const account = { namespace: ns, name: 'canaria' };
    const objects = KubernetesObjectApi.makeApiClient(admin);
    await objects.create({
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: account.name, namespace: ns },
    });
    const list = (kubeConfig: KubeConfig) =>
      kubeConfig.makeApiClient(CustomObjectsApi).listNamespacedCustomObject({
        group: ISTIO_GROUP,
        version: 'v1',
        namespace: ns,
        plural: 'virtualservices',
      });

    const { kubeConfig: byToken } = await env.serviceAccountKubeconfig(account);
    const impersonated = env.impersonatingKubeConfig(account);
    const denied = await rejection(list(byToken));
    expect(denied.code).toBe(403);
    expect(denied.body).toContain(`system:serviceaccount:${ns}:canaria`);
    expect((await rejection(list(impersonated))).code).toBe(403);

    // The same identity, once granted, can list: the 403 was RBAC, not a broken login.
    await objects.create({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'Role',
      metadata: { name: 'read-virtualservices', namespace: ns },
      rules: [{ apiGroups: [ISTIO_GROUP], resources: ['virtualservices'], verbs: ['get', 'list', 'watch'] }],
    });
    await objects.create({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'RoleBinding',
      metadata: { name: 'canaria-reads-virtualservices', namespace: ns },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'read-virtualservices' },
      subjects: [{ kind: 'ServiceAccount', name: account.name, namespace: ns }],
    });
    // The authorizer sees new bindings through its informer, a moment later.
    await waitUntil('the RoleBinding to take effect', () => list(byToken).then(() => true), {
      deadline: Date.now() + 10_000,
    });
    const allowed = (await list(byToken)) as { items: VirtualServiceLike[] };
    expect(allowed.items.map((vs) => vs.metadata.name)).toEqual(['myweb']);
    expect(((await list(impersonated)) as { items: unknown[] }).items).toHaveLength(1);
    // Reading is not writing.
    expect((await rejection(patchWithKubeConfig(byToken, ns))).code).toBe(403);
  });
});

function patchWithKubeConfig(kubeConfig: KubeConfig, ns: string): Promise<unknown> {
  return kubeConfig.makeApiClient(CustomObjectsApi).patchNamespacedCustomObject(
    {
      group: ISTIO_GROUP,
      version: 'v1',
      namespace: ns,
      plural: 'virtualservices',
      name: 'myweb',
      body: [{ op: 'replace', path: '/spec/http/0/route/0/weight', value: 0 }],
    },
    setHeaderOptions('Content-Type', PatchStrategy.JsonPatch),
  );
}
