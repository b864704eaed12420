/** The values the chart's tests render it with: the defaults and the variants users pick. */
import type { Values } from '../harness/helm.js';

export const WATCHED = ['team-a', 'team-b'];

export const VARIANTS: Record<string, Values> = {
  default: {},
  namespaced: { watchNamespaces: WATCHED },
  'CRDs off': { installCRDs: false },
  'ServiceMonitor on': { 'serviceMonitor.enabled': true, 'serviceMonitor.labels': { release: 'monitoring' } },
  'trackSecrets on': { trackSecrets: true },
  'managed mode off': { 'managedMode.enabled': false },
  'namespaced, managed mode off': { watchNamespaces: WATCHED, 'managedMode.enabled': false },
  'Gateway API router only': { 'routers.istio.enabled': false, 'routers.gatewayAPI.enabled': true },
  'both routers, namespaced': { 'routers.gatewayAPI.enabled': true, watchNamespaces: WATCHED },
  'namespaced with trackSecrets': { watchNamespaces: WATCHED, trackSecrets: true },
  'webhook headers from Secrets': { 'webhooks.headersFromSecrets': true },
  'namespaced, webhook headers from Secrets': {
    watchNamespaces: WATCHED,
    'webhooks.headersFromSecrets': true,
  },
  'webhook headers and release sinks': {
    'webhooks.headersFromSecrets': true,
    'notifications.releaseSinks': true,
  },
  notifications: {
    notifications: {
      releaseSinks: true,
      sinks: [
        {
          name: 'ops-slack',
          type: 'slack',
          secretRef: { name: 'canaria-slack', key: 'url' },
          severity: 'warning',
        },
        { name: 'ops-teams', type: 'teams', secretRef: { name: 'canaria-teams', key: 'webhook' } },
      ],
    },
  },
  'named metrics providers': {
    metricsProviders: [
      {
        name: 'thanos',
        address: 'http://thanos-query.monitoring:9090',
        timeout: '20s',
        headers: { 'X-Scope-OrgID': 'team-a' },
        bearerToken: { secretName: 'thanos-token', key: 'token' },
        ca: { configMapName: 'thanos-ca' },
      },
      {
        name: 'mimir',
        address: 'https://mimir.monitoring:8080/prometheus',
        basicAuth: { secretName: 'mimir-auth' },
      },
    ],
    'errorRules.httpCodes': ['5xx', '429'],
    'errorRules.grpcCodes': ['UNAVAILABLE'],
  },
  'everything set': {
    watchNamespaces: WATCHED,
    trackSecrets: true,
    keepCRDs: false,
    replicaCount: 3,
    'image.digest': `sha256:${'0'.repeat(64)}`,
    'prometheus.url': 'https://mimir.monitoring:8080/prometheus',
    'prometheus.headers': ['X-Scope-OrgID: team-a'],
    'prometheus.bearerToken.secretName': 'prometheus-token',
    'prometheus.basicAuth.secretName': 'prometheus-basic-auth',
    'prometheus.ca.configMapName': 'prometheus-ca',
    'serviceMonitor.enabled': true,
    'dashboards.namespace': 'monitoring',
    'dashboards.annotations': { grafana_folder: 'canaria' },
    extraArgs: ['--leader-election-id=canaria-blue'],
    extraEnv: [{ name: 'NODE_OPTIONS', value: '--max-old-space-size=300 --enable-source-maps' }],
    podAnnotations: { 'example.com/team': 'platform' },
    tolerations: [{ key: 'dedicated', operator: 'Equal', value: 'platform', effect: 'NoSchedule' }],
  },
};
