import { API_VERSION } from '../../api/meta.js';
import { MemoryKube } from '../../kube/memory.js';
import type { Deployment, Kind, KubeObject } from '../../kube/resources.js';
import { defaultTemplates } from '../cluster.js';

/** How the cluster of the scale benchmark is made. */
export interface ScaleWorldOptions {
  releases: number;
  /** Releases per namespace: teams keep tens to hundreds of services in one namespace. */
  perNamespace: number;
  /**
   * Deployments as the API server hands them out: managedFields of kubectl and the deployment
   * controller and a last-applied-configuration annotation make one about 4 KB, and each of them is
   * read, parsed and maybe copied on every reconcile that looks at the namespace.
   */
  realisticObjects: boolean;
  /** The releases' analysis interval; 1m when absent. A bench in real time needs a shorter one. */
  analysisInterval?: string;
}

export const namespaceOf = (i: number, perNamespace: number): string =>
  `team-${String(Math.floor(i / perNamespace)).padStart(3, '0')}`;
export const serviceOf = (i: number): string => `svc-${String(i).padStart(5, '0')}`;

/** The README's S1 policy, with analyses long enough that every release is still rolling out at the end. */
function releaseSpec(service: string, interval: string): Record<string, unknown> {
  return {
    subsets: {},
    trafficRouting: {
      istio: {
        virtualService: { name: service },
        destinationRule: { name: service },
        stableSubset: 'v1',
        canarySubset: 'v2',
      },
    },
    strategy: {
      steps: [
        { setWeight: 10 },
        { analysis: { duration: '1h' } },
        { setWeight: 50 },
        { analysis: { duration: '1h' } },
      ],
    },
    analysis: {
      interval,
      templates: [
        { name: 'error-ratio', kind: 'ClusterAnalysisTemplate' },
        { name: 'latency-p99', kind: 'ClusterAnalysisTemplate' },
      ],
    },
  };
}

/** The fields kubectl apply and the deployment controller leave on a Deployment, about 3 KB of them. */
function managedFields(name: string): unknown[] {
  const fields = (prefix: string, keys: string[]) =>
    Object.fromEntries(keys.map((k) => [`f:${prefix}${k}`, {}]));
  return [
    {
      manager: 'kubectl-client-side-apply',
      operation: 'Update',
      apiVersion: 'apps/v1',
      time: '2026-11-20T09:00:00Z',
      fieldsType: 'FieldsV1',
      fieldsV1: {
        'f:metadata': { 'f:annotations': fields('', ['kubectl.kubernetes.io/last-applied-configuration']) },
        'f:spec': {
          ...fields('', ['progressDeadlineSeconds', 'replicas', 'revisionHistoryLimit']),
          'f:selector': {},
          'f:strategy': { 'f:rollingUpdate': fields('', ['maxSurge', 'maxUnavailable']), 'f:type': {} },
          'f:template': {
            'f:metadata': { 'f:labels': fields('', ['app', 'version']) },
            'f:spec': {
              'f:containers': {
                [`k:{"name":"${name}"}`]: {
                  '.': {},
                  ...fields('', ['image', 'imagePullPolicy', 'name', 'terminationMessagePath']),
                  'f:ports': {
                    'k:{"containerPort":9080,"protocol":"TCP"}': fields('', ['containerPort', 'protocol']),
                  },
                  'f:resources': {
                    'f:limits': fields('', ['cpu', 'memory']),
                    'f:requests': fields('', ['cpu', 'memory']),
                  },
                  'f:readinessProbe': { 'f:httpGet': fields('', ['path', 'port', 'scheme']) },
                },
              },
              ...fields('', [
                'dnsPolicy',
                'restartPolicy',
                'schedulerName',
                'securityContext',
                'terminationGracePeriodSeconds',
              ]),
            },
          },
        },
      },
    },
    {
      manager: 'kube-controller-manager',
      operation: 'Update',
      apiVersion: 'apps/v1',
      time: '2026-11-20T09:01:00Z',
      fieldsType: 'FieldsV1',
      subresource: 'status',
      fieldsV1: {
        'f:metadata': { 'f:annotations': fields('', ['deployment.kubernetes.io/revision']) },
        'f:status': {
          ...fields('', [
            'availableReplicas',
            'observedGeneration',
            'readyReplicas',
            'replicas',
            'updatedReplicas',
          ]),
          'f:conditions': {
            'k:{"type":"Available"}': fields('', [
              'lastTransitionTime',
              'lastUpdateTime',
              'message',
              'reason',
              'status',
              'type',
            ]),
            'k:{"type":"Progressing"}': fields('', [
              'lastTransitionTime',
              'lastUpdateTime',
              'message',
              'reason',
              'status',
              'type',
            ]),
          },
        },
      },
    },
  ];
}

function deployment(namespace: string, service: string, version: string, realistic: boolean): Deployment {
  const name = `${service}-${version}`;
  const spec = {
    replicas: 3,
    selector: { matchLabels: { app: service, version } },
    template: {
      metadata: { labels: { app: service, version } },
      spec: {
        containers: [
          {
            name: service,
            image: `registry.example.com/${namespace}/${service}:${version === 'v1' ? '1.41.0' : '1.42.0'}`,
            ports: [{ containerPort: 9080, protocol: 'TCP' }],
            resources: { requests: { cpu: '100m', memory: '128Mi' }, limits: { cpu: '1', memory: '512Mi' } },
            readinessProbe: { httpGet: { path: '/healthz', port: 9080, scheme: 'HTTP' } },
          },
        ],
      },
    },
  };
  const d: Deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name, namespace, labels: { app: service, version } },
    spec,
    status: {
      observedGeneration: 1,
      replicas: 3,
      updatedReplicas: 3,
      readyReplicas: 3,
      availableReplicas: 3,
    },
  };
  if (realistic) {
    d.metadata.annotations = {
      'deployment.kubernetes.io/revision': '7',
      'kubectl.kubernetes.io/last-applied-configuration': JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace, labels: { app: service, version } },
        spec,
      }),
    };
    d.metadata.managedFields = managedFields(service);
    (d.status as Record<string, unknown>).conditions = ['Available', 'Progressing'].map((type) => ({
      type,
      status: 'True',
      lastTransitionTime: '2026-11-20T09:01:00Z',
      lastUpdateTime: '2026-11-20T09:01:00Z',
      reason: type === 'Available' ? 'MinimumReplicasAvailable' : 'NewReplicaSetAvailable',
      message:
        type === 'Available'
          ? 'Deployment has minimum availability.'
          : `ReplicaSet "${name}-5d8f7c9b6d" has successfully progressed.`,
    }));
  }
  return d;
}

function routingObjects(namespace: string, service: string): KubeObject[] {
  const host = `${service}.${namespace}.svc.cluster.local`;
  return [
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'VirtualService',
      metadata: { name: service, namespace },
      spec: {
        hosts: [service],
        http: [
          {
            name: 'primary',
            retries: { attempts: 3, perTryTimeout: '2s' },
            route: [
              { destination: { host, subset: 'v1' }, weight: 100 },
              { destination: { host, subset: 'v2' }, weight: 0 },
            ],
          },
        ],
      },
    },
    {
      apiVersion: 'networking.istio.io/v1',
      kind: 'DestinationRule',
      metadata: { name: service, namespace },
      spec: {
        host,
        subsets: [
          { name: 'v1', labels: { app: service, version: 'v1' } },
          { name: 'v2', labels: { app: service, version: 'v2' } },
        ],
      },
    },
  ];
}

/** Release `i` of the world and what it points at, in the order a user would create them. */
export function releaseObjects(i: number, options: ScaleWorldOptions): { kind: Kind; object: KubeObject }[] {
  const namespace = namespaceOf(i, options.perNamespace);
  const service = serviceOf(i);
  const [vs, dr] = routingObjects(namespace, service);
  return [
    ...(vs ? [{ kind: 'VirtualService' as const, object: vs }] : []),
    ...(dr ? [{ kind: 'DestinationRule' as const, object: dr }] : []),
    ...['v1', 'v2'].map((version) => ({
      kind: 'Deployment' as const,
      object: deployment(namespace, service, version, options.realisticObjects),
    })),
    {
      kind: 'CanaryRelease',
      object: {
        apiVersion: API_VERSION,
        kind: 'CanaryRelease',
        metadata: { name: service, namespace },
        spec: releaseSpec(service, options.analysisInterval ?? '1m'),
      },
    },
  ];
}

/** An in-memory cluster of `releases` subsets-mode releases, each with its routing and two Deployments. */
export function scaleWorld(options: ScaleWorldOptions): MemoryKube {
  const kube = new MemoryKube();
  for (const template of defaultTemplates()) kube.apply('ClusterAnalysisTemplate', template);
  for (let i = 0; i < options.releases; i++)
    for (const { kind, object } of releaseObjects(i, options)) kube.apply(kind, object);
  return kube;
}
