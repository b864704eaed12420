/**
 * One e2e world: a real kube-apiserver + etcd, a real Prometheus scraping a mesh emitter, and
 * helpers to stand up a service the seeds' way (one Deployment per version, a DestinationRule with a
 * subset per version, a VirtualService) with synthetic traffic routed by its live VirtualService.
 */
import {
  CoreV1Api,
  CustomObjectsApi,
  PatchStrategy,
  setHeaderOptions,
  type KubeConfig,
} from '@kubernetes/client-node';
import type { CanaryReleaseSpecInput, CanaryReleaseStatus } from '../../src/api/canary-release.js';
import { API_GROUP, API_VERSION_NAME } from '../../src/api/meta.js';
import { readRouting } from '../../src/routers/istio/routes.js';
import { virtualService, type VirtualService } from '../../src/routers/istio/types.js';
import { istioRouting } from '../../src/api/canary-release.js';
import { gatewayApiRouting, type ResolvedGatewayApiRouting } from '../../src/api/gateway-api.js';
import { readSplit } from '../../src/routers/gateway-api/routes.js';
import { httpRoute as httpRouteSchema, type HttpRoute } from '../../src/routers/gateway-api/types.js';
import { controllerServiceAccount, deployVersions } from '../harness/controller-process.js';
import { markDeploymentReady } from '../harness/deployments.js';
import type { Values } from '../harness/helm.js';
import { startKubeEnv, type KubeEnv } from '../harness/kube-env.js';
import { startMeshEmitter, type MeshEmitter } from '../harness/mesh-emitter.js';
import { startPrometheus, type PrometheusServer } from '../harness/prometheus.js';
import { startTraffic, type Behaviour, type RequestClass, type Traffic } from '../harness/traffic.js';
import { waitUntil } from '../harness/wait.js';
import { watchHistory, type WatchHistory } from '../harness/watch-history.js';

export const CONTROLLER_NAMESPACE = 'canaria-system';

export interface World {
  env: KubeEnv;
  admin: KubeConfig;
  mesh: MeshEmitter;
  prometheus: PrometheusServer;
  controllerKubeconfig: string;
  stop(): Promise<void>;
}

/** `chartValues`: what the controller's RBAC is rendered with (the chart's defaults when absent). */
export async function startWorld(options: { chartValues?: Values } = {}): Promise<World> {
  const stops: (() => Promise<void>)[] = [];
  try {
    const env = await startKubeEnv();
    stops.push(() => env.stop());
    const mesh = await startMeshEmitter();
    stops.push(() => mesh.close());
    const prometheus = await startPrometheus({ targets: [mesh.target] });
    stops.push(() => prometheus.stop());
    const sa = await controllerServiceAccount(env, CONTROLLER_NAMESPACE, options.chartValues);
    const { path } = await env.serviceAccountKubeconfig(sa);
    return {
      env,
      admin: env.adminKubeConfig(),
      mesh,
      prometheus,
      controllerKubeconfig: path,
      stop: async () => {
        for (const stop of stops.reverse()) await stop();
      },
    };
  } catch (err) {
    for (const stop of stops.reverse()) await stop();
    throw err;
  }
}

const istioObject = (plural: string) => ({ group: 'networking.istio.io', version: 'v1', plural });
const releaseObject = { group: API_GROUP, version: API_VERSION_NAME, plural: 'canaryreleases' };

/** The user's VirtualService: a pinned /admin route and the managed route with the user's retries. */
export function userVirtualService(service: string): VirtualService {
  return {
    apiVersion: 'networking.istio.io/v1',
    kind: 'VirtualService',
    metadata: { name: service },
    spec: {
      hosts: [service],
      http: [
        {
          name: 'admin',
          match: [{ uri: { prefix: '/admin' } }],
          route: [{ destination: { host: service, subset: 'v1' } }],
          timeout: '3s',
        },
        {
          name: 'primary',
          route: [{ destination: { host: service, subset: 'v1' }, weight: 100 }],
          retries: { attempts: 3, perTryTimeout: '2s', retryOn: '5xx' },
        },
      ],
    },
  };
}

/** The routing every e2e release uses: the route named primary, stable subset v1, canary subset v2. */
const routingInputOf = (name: string) => ({
  virtualService: { name, routes: ['primary'] },
  destinationRule: { name },
  stableSubset: 'v1',
  canarySubset: 'v2',
});
const routingOf = (name: string) => istioRouting.parse(routingInputOf(name));

/**
 * The Gateway API way (Istio's ambient mode): a Service per version beside the user's Service, and an
 * HTTPRoute attached to the user's Service (GAMMA) whose rule `primary` weighs the two; a pinned
 * /admin rule and the user's timeout on the managed rule, which canaria must leave alone.
 */
export function userHttpRoute(service: string): HttpRoute {
  return {
    apiVersion: 'gateway.networking.k8s.io/v1',
    kind: 'HTTPRoute',
    metadata: { name: service },
    spec: {
      parentRefs: [{ group: '', kind: 'Service', name: service, port: 9080 }],
      rules: [
        {
          name: 'admin',
          matches: [{ path: { type: 'PathPrefix', value: '/admin' } }],
          backendRefs: [{ name: `${service}-v1`, port: 9080 }],
        },
        {
          name: 'primary',
          backendRefs: [{ name: `${service}-v1`, port: 9080, weight: 100 }],
          timeouts: { request: '10s' },
        },
      ],
    },
  };
}
const gatewayInputOf = (name: string) => ({
  httpRoute: { name, rule: 'primary' },
  stableService: `${name}-v1`,
  canaryService: `${name}-v2`,
});
const gatewayRoutingOf = (name: string) =>
  gatewayApiRouting.parse(gatewayInputOf(name)) as ResolvedGatewayApiRouting;
const httpRouteObject = { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes' };

/** The traffic router a test service is stood up for. */
export type RouterKind = 'istio' | 'gatewayAPI';

export interface Service {
  namespace: string;
  name: string;
  router: RouterKind;
  traffic: Traffic;
  readHttpRoute(): Promise<HttpRoute>;
  readVirtualService(): Promise<VirtualService>;
  /** [stable, canary] weights of the managed route, as the API server has them. */
  weights(): Promise<[number, number]>;
  createRelease(spec: Omit<CanaryReleaseSpecInput, 'trafficRouting' | 'subsets'>): Promise<void>;
  patchRelease(patch: Record<string, unknown>): Promise<void>;
  status(): Promise<CanaryReleaseStatus | undefined>;
  waitForPhase(phase: string, timeoutMs: number): Promise<CanaryReleaseStatus>;
  events(): Promise<{ type?: string; reason?: string; message?: string }[]>;
  stop(): Promise<void>;
}

/**
 * A service with versions v1 (stable) and v2 (canary), serving `requestsPerSecond` synthetic requests
 * routed by its live VirtualService.
 */
export async function standUpService(
  world: World,
  options: {
    namespace: string;
    name: string;
    behaviour: Record<string, Behaviour>;
    classes?: RequestClass[];
    requestsPerSecond?: number;
    /** Default istio: a DestinationRule and a VirtualService; gatewayAPI: Services and an HTTPRoute. */
    router?: RouterKind;
  },
): Promise<Service> {
  const { namespace, name } = options;
  const router = options.router ?? 'istio';
  const core = world.admin.makeApiClient(CoreV1Api);
  const objects = world.admin.makeApiClient(CustomObjectsApi);
  await core.createNamespace({ body: { metadata: { name: namespace } } });
  await deployVersions(world.admin, namespace, name, ['v1', 'v2'], (d) =>
    markDeploymentReady(world.admin, namespace, d),
  );
  if (router === 'gatewayAPI') {
    const port = { name: 'http', port: 9080, targetPort: 9080 };
    for (const [svc, selector] of [
      [name, { app: name }],
      [`${name}-v1`, { app: name, version: 'v1' }],
      [`${name}-v2`, { app: name, version: 'v2' }],
    ] as const) {
      await core.createNamespacedService({
        namespace,
        body: { metadata: { name: svc }, spec: { selector, ports: [port] } },
      });
    }
    await objects.createNamespacedCustomObject({ ...httpRouteObject, namespace, body: userHttpRoute(name) });
  } else {
    await objects.createNamespacedCustomObject({
      ...istioObject('destinationrules'),
      namespace,
      body: {
        apiVersion: 'networking.istio.io/v1',
        kind: 'DestinationRule',
        metadata: { name },
        spec: {
          host: name,
          trafficPolicy: { loadBalancer: { simple: 'RANDOM' } },
          subsets: [
            { name: 'v1', labels: { version: 'v1' } },
            { name: 'v2', labels: { version: 'v2' } },
          ],
        },
      },
    });
    await objects.createNamespacedCustomObject({
      ...istioObject('virtualservices'),
      namespace,
      body: userVirtualService(name),
    });
  }
  for (const version of ['v1', 'v2']) {
    const reportedAs = router === 'gatewayAPI' ? `${name}-${version}` : name;
    world.mesh.declare({ namespace, service: reportedAs, version });
  }
  await world.prometheus.waitForScrape(Date.now() + 1100);
  const traffic = startTraffic({
    kubeConfig: world.admin,
    namespace,
    virtualService: name,
    destinationRule: name,
    service: name,
    ...(router === 'gatewayAPI' ? { httpRoute: name } : {}),
    mesh: world.mesh,
    requestsPerSecond: options.requestsPerSecond ?? 200,
    behaviour: options.behaviour,
    classes: options.classes ?? [{ share: 1, request: { host: name } }],
  });
  const routingInput = routingInputOf(name);
  const routing = routingOf(name);
  const readHttpRoute = async () =>
    httpRouteSchema.parse(await objects.getNamespacedCustomObject({ ...httpRouteObject, namespace, name }));
  const readVirtualService = async () =>
    virtualService.parse(
      await objects.getNamespacedCustomObject({ ...istioObject('virtualservices'), namespace, name }),
    );
  const status = async () => {
    const release = (await objects
      .getNamespacedCustomObject({ ...releaseObject, namespace, name })
      .catch(() => undefined)) as { status?: CanaryReleaseStatus } | undefined;
    return release?.status;
  };
  return {
    namespace,
    name,
    router,
    traffic,
    readVirtualService,
    readHttpRoute,
    async weights() {
      if (router === 'gatewayAPI') {
        const split = readSplit(await readHttpRoute(), gatewayRoutingOf(name));
        if (!split.ok) throw split.error;
        return [split.value.stableWeight, split.value.canaryWeight];
      }
      const reading = readRouting(await readVirtualService(), routing);
      if (!reading.ok) throw reading.error;
      return [reading.value.stableWeight, reading.value.canaryWeight];
    },
    async createRelease(spec) {
      await objects.createNamespacedCustomObject({
        ...releaseObject,
        namespace,
        body: {
          apiVersion: `${API_GROUP}/${API_VERSION_NAME}`,
          kind: 'CanaryRelease',
          metadata: { name },
          spec: {
            subsets: {},
            trafficRouting:
              router === 'gatewayAPI' ? { gatewayAPI: gatewayInputOf(name) } : { istio: routingInput },
            ...spec,
          },
        },
      });
    },
    async patchRelease(patch) {
      // a merge patch: custom resources reject strategic merge
      await objects.patchNamespacedCustomObject(
        { ...releaseObject, namespace, name, body: patch },
        setHeaderOptions('Content-Type', PatchStrategy.MergePatch),
      );
    },
    status,
    async waitForPhase(phase, timeoutMs) {
      let last: CanaryReleaseStatus | undefined;
      await waitUntil(
        `${namespace}/${name} to reach ${phase}`,
        async () => {
          last = await status();
          if (last?.phase === phase) return true;
          if (last?.phase === 'Failed' && phase !== 'Failed')
            throw new Error(`release failed: ${last.message ?? ''}`);
          return false;
        },
        { deadline: Date.now() + timeoutMs, intervalMs: 250 },
      ).catch((err: unknown) => {
        throw new Error(
          `${(err as Error).message}; last status: ${JSON.stringify(last?.decisions?.slice(-5) ?? last)}`,
          { cause: err },
        );
      });
      return last ?? {};
    },
    async events() {
      const list = await core.listNamespacedEvent({ namespace });
      return list.items.map((e) => ({
        ...(e.type ? { type: e.type } : {}),
        ...(e.reason ? { reason: e.reason } : {}),
        ...(e.message ? { message: e.message } : {}),
      }));
    },
    stop: () => traffic.stop(),
  };
}

export interface WeightHistory {
  /** Every distinct [stable, canary] pair the managed route went through, in order, as `stable/canary`. */
  readonly seen: string[];
  /** The VirtualService (or HTTPRoute) at every resourceVersion the API server stored. */
  readonly history: WatchHistory<VirtualService>;
  /** Resolves once the route has shown `weights` (`stable/canary`). */
  waitFor(weights: string, timeoutMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** `stable/canary` of the managed rule of an HTTPRoute version; undefined when it cannot be read. */
export function httpRouteWeightsOf(service: string, route: unknown): string | undefined {
  const parsed = httpRouteSchema.safeParse(route);
  if (!parsed.success) return undefined;
  const split = readSplit(parsed.data, gatewayRoutingOf(service));
  return split.ok ? `${split.value.stableWeight}/${split.value.canaryWeight}` : undefined;
}

/** `stable/canary` of the managed route of a VirtualService version; undefined when it cannot be read. */
export function weightsOf(service: string, vs: unknown): string | undefined {
  if (vs === undefined) return undefined;
  const parsed = virtualService.safeParse(vs);
  if (!parsed.success) return undefined;
  const reading = readRouting(parsed.data, routingOf(service));
  return reading.ok ? `${reading.value.stableWeight}/${reading.value.canaryWeight}` : undefined;
}

/**
 * Records the weights of the service's VirtualService from the API server's watch: every version it
 * went through, so a state that lived a few milliseconds is there too (a poll could miss it).
 */
export async function recordWeights(world: World, service: Service): Promise<WeightHistory> {
  const gateway = service.router === 'gatewayAPI';
  const history = await watchHistory<VirtualService>(
    world.env.admin,
    gateway
      ? `/apis/gateway.networking.k8s.io/v1/namespaces/${service.namespace}/httproutes`
      : `/apis/networking.istio.io/v1/namespaces/${service.namespace}/virtualservices`,
    service.name,
  );
  const read = (object: unknown) =>
    gateway ? httpRouteWeightsOf(service.name, object) : weightsOf(service.name, object);
  const states = () => history.states(read);
  return {
    get seen() {
      return states();
    },
    history,
    waitFor: (weights, timeoutMs = 10_000) =>
      history.waitFor(`weights ${weights}`, (object) => read(object) === weights, timeoutMs),
    stop: () => history.stop(),
  };
}
