import { API_GROUP, API_VERSION_NAME } from '../api/meta.js';

/** The kinds canaria reads and writes, with where the API server keeps them. */
export const KINDS = {
  CanaryRelease: { group: API_GROUP, version: API_VERSION_NAME, plural: 'canaryreleases', namespaced: true },
  AnalysisTemplate: {
    group: API_GROUP,
    version: API_VERSION_NAME,
    plural: 'analysistemplates',
    namespaced: true,
  },
  ClusterAnalysisTemplate: {
    group: API_GROUP,
    version: API_VERSION_NAME,
    plural: 'clusteranalysistemplates',
    namespaced: false,
  },
  VirtualService: {
    group: 'networking.istio.io',
    version: 'v1',
    plural: 'virtualservices',
    namespaced: true,
  },
  DestinationRule: {
    group: 'networking.istio.io',
    version: 'v1',
    plural: 'destinationrules',
    namespaced: true,
  },
  /** The Gateway API router: the user's route, whose rule's backendRefs canaria weighs. */
  HTTPRoute: { group: 'gateway.networking.k8s.io', version: 'v1', plural: 'httproutes', namespaced: true },
  Deployment: { group: 'apps', version: 'v1', plural: 'deployments', namespaced: true },
  /** The Gateway API router: the per-version Services, and managed mode's -primary and -canary. */
  Service: { group: '', version: 'v1', plural: 'services', namespaced: true },
  /** Managed mode: a pod template's ConfigMaps and Secrets are part of its revision. */
  ConfigMap: { group: '', version: 'v1', plural: 'configmaps', namespaced: true },
  Secret: { group: '', version: 'v1', plural: 'secrets', namespaced: true },
  HorizontalPodAutoscaler: {
    group: 'autoscaling',
    version: 'v2',
    plural: 'horizontalpodautoscalers',
    namespaced: true,
  },
} as const;
export type Kind = keyof typeof KINDS;
export const ALL_KINDS = Object.keys(KINDS) as Kind[];
/**
 * What the traffic routers read. Each is watched only when a router that reads it is enabled: a
 * cluster without Gateway API's CRDs has no httproutes to list, and the chart grants access only to
 * what the enabled routers need.
 */
export const ROUTING_KINDS: readonly Kind[] = ['VirtualService', 'DestinationRule', 'HTTPRoute', 'Service'];
/** The routers' kinds when none are named: Istio's. */
const ISTIO_KINDS: readonly Kind[] = ['VirtualService', 'DestinationRule'];
/** What only managed mode reads: without it the controller needs no access to them at all. */
export const MANAGED_ONLY_KINDS: readonly Kind[] = ['ConfigMap', 'Secret', 'HorizontalPodAutoscaler'];

/**
 * The kinds the controller watches: the enabled routers' (`routerKinds`, Istio's by default), Secrets
 * only when they count, managed mode's only with it.
 */
export function watchedKinds(options: {
  managedMode: boolean;
  trackSecrets: boolean;
  routerKinds?: readonly Kind[];
}): Kind[] {
  const routing = options.routerKinds ?? ISTIO_KINDS;
  return ALL_KINDS.filter((kind) => {
    if (ROUTING_KINDS.includes(kind)) return routing.includes(kind);
    if (!options.managedMode && MANAGED_ONLY_KINDS.includes(kind)) return false;
    return kind !== 'Secret' || options.trackSecrets;
  });
}
/** What the controller watches with the defaults. */
export const CONTROLLER_KINDS = watchedKinds({ managedMode: true, trackSecrets: false });

export const apiVersionOf = (kind: Kind): string =>
  KINDS[kind].group ? `${KINDS[kind].group}/${KINDS[kind].version}` : KINDS[kind].version;

/** The REST path of a kind's collection, in one namespace or in all of them. */
export function collectionPath(kind: Kind, namespace?: string): string {
  const { group, version, plural } = KINDS[kind];
  const root = group ? `/apis/${group}/${version}` : `/api/${version}`;
  return `${root}${namespace === undefined ? '' : `/namespaces/${namespace}`}/${plural}`;
}

/** A namespaced object's address; cluster-scoped objects have namespace ''. */
export interface Ref {
  namespace: string;
  name: string;
}

/** Where an object lives; '' namespace for a cluster-scoped one. */
export const refOf = (object: { metadata: { name: string; namespace?: string | undefined } }): Ref => ({
  namespace: object.metadata.namespace ?? '',
  name: object.metadata.name,
});

export const refKey = (ref: Ref): string => (ref.namespace ? `${ref.namespace}/${ref.name}` : ref.name);

export function parseRefKey(key: string): Ref {
  const slash = key.indexOf('/');
  return slash < 0
    ? { namespace: '', name: key }
    : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

// Optional fields admit `undefined` so objects parsed with zod (which types them that way) fit.
export interface ObjectMetadata {
  name: string;
  namespace?: string | undefined;
  uid?: string | undefined;
  resourceVersion?: string | undefined;
  generation?: number | undefined;
  creationTimestamp?: string | undefined;
  labels?: Record<string, string> | undefined;
  annotations?: Record<string, string> | undefined;
  [key: string]: unknown;
}

/** Any Kubernetes object as the API returns it; adapters never drop fields they do not know. */
export interface KubeObject {
  apiVersion?: string | undefined;
  kind?: string | undefined;
  metadata: ObjectMetadata;
  spec?: unknown;
  status?: unknown;
  [key: string]: unknown;
}

/** The parts of apps/v1 Deployment canaria reads. */
export interface Deployment extends KubeObject {
  spec?: {
    replicas?: number;
    selector?: { matchLabels?: Record<string, string> };
    template?: {
      metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
      spec?: unknown;
    };
    [key: string]: unknown;
  };
  status?: {
    observedGeneration?: number;
    replicas?: number;
    updatedReplicas?: number;
    readyReplicas?: number;
    availableReplicas?: number;
    [key: string]: unknown;
  };
}
