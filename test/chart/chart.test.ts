/**
 * The Helm chart as helm renders it: lint and template with the defaults and every variant, and what
 * the rendered objects must say (hardened pod, probes, flags the controller knows, RBAC exactly from
 * the chart's rule files, CRDs, keep policy, templates, dashboards). Needs only the helm binary.
 */
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { SETTINGS } from '../../src/controller/config.js';
import { parseProvidersFile } from '../../src/metrics/registry.js';
import { parseNotificationsFile } from '../../src/notify/registry.js';
import { REPO_ROOT } from '../harness/e2e-paths.js';
import {
  CHART_DIR,
  lintChart,
  renderChart,
  renderManifests,
  type Manifest,
  type Values,
} from '../harness/helm.js';
import { parseDockerfile } from './dockerfile.js';
import { VARIANTS, WATCHED } from './variants.js';

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

interface Container {
  name: string;
  image: string;
  args: string[];
  env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
  ports: { name: string; containerPort: number }[];
  livenessProbe: { httpGet: { path: string; port: string } };
  readinessProbe: { httpGet: { path: string; port: string } };
  resources: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext: Record<string, unknown>;
}

interface PodSpec {
  serviceAccountName: string;
  securityContext: Record<string, unknown>;
  containers: Container[];
}

const SERVED_TEMPLATES_API = 'canaria.dev/v1alpha1/ClusterAnalysisTemplate';
const rulesFile = (file: string): Rule[] =>
  parse(readFileSync(join(CHART_DIR, 'files', file), 'utf8')) as Rule[];
/** The namespaced rules the chart grants for the given routers and modes, in the order it renders them. */
const namespacedRules = (
  routers: ('istio' | 'gatewayAPI')[] = ['istio'],
  { managed = true, secrets = false }: { managed?: boolean; secrets?: boolean } = {},
): Rule[] => {
  const file = { istio: 'istio', gatewayAPI: 'gateway-api' };
  return [
    ...rulesFile('rbac-rules.yaml'),
    ...routers.flatMap((r) => rulesFile(`rbac-${file[r]}-rules.yaml`)),
    ...(managed
      ? [
          ...rulesFile('rbac-managed-rules.yaml'),
          ...routers.flatMap((r) => rulesFile(`rbac-${file[r]}-managed-rules.yaml`)),
          ...(secrets ? rulesFile('rbac-secrets-rules.yaml') : []),
        ]
      : []),
  ];
};
const byKind = (manifests: Manifest[], kind: string): Manifest[] => manifests.filter((m) => m.kind === kind);
const one = (manifests: Manifest[], kind: string, name?: string): Manifest => {
  const found = byKind(manifests, kind).filter((m) => name === undefined || m.metadata.name === name);
  if (found.length !== 1)
    throw new Error(`expected one ${kind}${name ? ` ${name}` : ''}, found ${found.length}`);
  return found[0]!;
};
const podSpec = (manifests: Manifest[]): PodSpec =>
  (one(manifests, 'Deployment').spec as { template: { spec: PodSpec } }).template.spec;
const controller = (manifests: Manifest[]): Container => podSpec(manifests).containers[0]!;
const rulesOf = (role: Manifest): Rule[] => role.rules as Rule[];
const grants = (rules: Rule[], resource: string): string[] =>
  rules.filter((r) => r.resources.includes(resource)).flatMap((r) => r.verbs);

describe('the Helm chart', () => {
  const rendered = new Map<string, Manifest[]>();

  beforeAll(async () => {
    for (const [name, values] of Object.entries(VARIANTS))
      rendered.set(name, await renderManifests({ values }));
  });

  const variant = (name: keyof typeof VARIANTS): Manifest[] => rendered.get(name)!;

  it.each(Object.entries(VARIANTS))('passes helm lint --strict: %s', async (_name, values) => {
    const result = await lintChart({ values });
    expect(result.ok, result.output).toBe(true);
  });

  it('runs the controller hardened: numeric non-root user (the image), read-only root, no capabilities', () => {
    const pod = podSpec(variant('default'));
    const container = controller(variant('default'));
    const image = parseDockerfile(readFileSync(join(REPO_ROOT, 'Dockerfile'), 'utf8')).stages.at(-1)!;
    const imageUser = image.instructions
      .filter((i) => i.keyword === 'USER')
      .at(-1)!
      .args.split(':')[0];
    for (const context of [pod.securityContext, container.securityContext]) {
      expect(context).toMatchObject({ runAsNonRoot: true, seccompProfile: { type: 'RuntimeDefault' } });
      expect(context.runAsUser).toBe(Number(imageUser));
    }
    expect(container.securityContext).toMatchObject({
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(Object.keys(container.resources.requests ?? {}).sort()).toEqual(['cpu', 'memory']);
    expect(Object.keys(container.resources.limits ?? {})).toContain('memory');
  });

  it('caps the heap at about 75 % of the memory limit, so Node collects garbage before it is OOM-killed', () => {
    const container = controller(variant('default'));
    const heap = container.env.find((e) => e.name === 'NODE_OPTIONS')?.value;
    expect(heap).toMatch(/^--max-old-space-size=\d+$/);
    const heapMiB = Number(heap?.split('=')[1]);
    const limitMiB = Number(/^(\d+)Mi$/.exec(container.resources.limits?.memory ?? '')?.[1]);
    expect(heapMiB / limitMiB).toBeGreaterThanOrEqual(0.6);
    expect(heapMiB / limitMiB).toBeLessThanOrEqual(0.8);
  });

  it('probes /healthz and /readyz on the port the controller serves them on', () => {
    const container = controller(variant('default'));
    const port = container.ports.find((p) => p.name === 'http-metrics')!;
    expect(container.args).toContain(`--metrics-port=${port.containerPort}`);
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http-metrics' });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http-metrics' });
  });

  it('elects a leader on a Lease in its namespace, as its own pod', () => {
    const container = controller(variant('default'));
    expect(container.args).toContain('--leader-elect=true');
    const fieldOf = (env: string) =>
      container.env.find((e) => e.name === env)?.valueFrom?.fieldRef?.fieldPath;
    expect(fieldOf(SETTINGS.leaderElectionNamespace.env)).toBe('metadata.namespace');
    expect(fieldOf(SETTINGS.identity.env)).toBe('metadata.name');
    expect(one(variant('default'), 'Deployment').spec).toMatchObject({ replicas: 2 });
    expect(one(variant('everything set'), 'Deployment').spec).toMatchObject({ replicas: 3 });
  });

  describe('sharding', () => {
    interface Deployment {
      metadata: { name: string; labels: Record<string, string> };
      spec: {
        replicas: number;
        selector: { matchLabels: Record<string, string> };
        template: { metadata: { labels: Record<string, string> }; spec: PodSpec };
      };
    }
    const deployments = (manifests: Manifest[]) => byKind(manifests, 'Deployment') as unknown as Deployment[];
    const shardArgs = (d: Deployment) =>
      d.spec.template.spec.containers[0]!.args.filter((a) => a.startsWith('--shard-'));
    const known = new Set(Object.values(SETTINGS).map((s) => s.flag));

    it('installs one unsharded Deployment by default, under its old name and selector', () => {
      const [only, ...rest] = deployments(variant('default'));
      expect(rest).toEqual([]);
      expect(only!.metadata.name).toBe('canaria');
      expect(only!.spec.selector.matchLabels).not.toHaveProperty(['canaria.dev/shard']);
      expect(shardArgs(only!)).toEqual([]);
    });

    it('renders one Deployment per hash shard, with its index, the count and its own pods', async () => {
      const shards = deployments(await renderManifests({ values: { 'sharding.count': 3 } }));
      expect(shards.map((d) => [d.metadata.name, shardArgs(d)])).toEqual(
        [0, 1, 2].map((i) => [`canaria-${i}-of-3`, [`--shard-index=${i}`, '--shard-count=3']]),
      );
      for (const d of shards) {
        expect(d.spec.replicas).toBe(2);
        expect(d.spec.template.metadata.labels).toMatchObject(d.spec.selector.matchLabels);
        for (const arg of shardArgs(d)) expect(known).toContain(arg.split('=')[0]);
      }
      // no Deployment may adopt another shard's pods
      const selectors = shards.map((d) => JSON.stringify(d.spec.selector.matchLabels));
      expect(new Set(selectors).size).toBe(3);
      // RBAC is the same whatever the sharding: the Lease rules name no Lease
      const rbac = (m: Manifest[]) => JSON.stringify(m.filter((x) => /Role/.test(x.kind)));
      expect(rbac(await renderManifests({ values: { 'sharding.count': 3 } }))).toBe(rbac(variant('default')));
    });

    it('renders one Deployment per label-selector shard, which wins over count', async () => {
      const shards = deployments(
        await renderManifests({
          values: {
            'sharding.count': 4,
            'sharding.selectors[0].name': 'team-a',
            'sharding.selectors[0].selector': 'team=a',
            'sharding.selectors[1].name': 'others',
            'sharding.selectors[1].selector': 'team!=a',
          },
        }),
      );
      expect(
        shards.map((d) => [d.metadata.name, shardArgs(d), d.spec.selector.matchLabels['canaria.dev/shard']]),
      ).toEqual([
        ['canaria-team-a', ['--shard-selector=team=a'], 'team-a'],
        ['canaria-others', ['--shard-selector=team!=a'], 'others'],
      ]);
    });

    it('refuses a shard count below 1 or a selector shard without a name', async () => {
      expect((await renderChart({ values: { 'sharding.count': 0 } })).output).toMatch(/sharding.*count/);
      const unnamed = await renderChart({ values: { 'sharding.selectors[0].selector': 'team=a' } });
      expect(unnamed.ok).toBe(false);
      expect(unnamed.output).toMatch(/sharding.*name/);
    });
  });

  it.each(Object.entries(VARIANTS))('passes only flags the controller knows: %s', (name) => {
    const known = new Set(Object.values(SETTINGS).map((s) => s.flag));
    for (const arg of controller(variant(name)).args) {
      expect(known, `${arg} is a flag of canaria controller`).toContain(arg.split('=')[0]);
    }
    for (const env of controller(variant(name)).env.filter((e) => e.name.startsWith('CANARIA_'))) {
      expect(Object.values(SETTINGS).map((s) => s.env)).toContain(env.name);
    }
  });

  it('uses the chart appVersion as the image tag, or the digest when pinned', () => {
    const chart = parse(readFileSync(join(CHART_DIR, 'Chart.yaml'), 'utf8')) as { appVersion: string };
    const pkg = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(chart.appVersion, 'Chart.yaml appVersion follows package.json version').toBe(pkg.version);
    expect(controller(variant('default')).image).toBe(`canaria:${chart.appVersion}`);
    expect(controller(variant('everything set')).image).toBe(`canaria@sha256:${'0'.repeat(64)}`);
  });

  it('wires Prometheus authentication to files and variables the controller reads', () => {
    const container = controller(variant('everything set'));
    expect(container.args).toEqual(
      expect.arrayContaining([
        '--prometheus-url=https://mimir.monitoring:8080/prometheus',
        '--prometheus-header=X-Scope-OrgID: team-a',
        '--prometheus-bearer-token-file=/var/run/canaria/prometheus-token/token',
        '--prometheus-ca-file=/var/run/canaria/prometheus-ca/ca.crt',
        '--leader-election-id=canaria-blue',
      ]),
    );
    expect(container.env.map((e) => e.name)).toEqual(
      expect.arrayContaining([
        SETTINGS.prometheusUsername.env,
        SETTINGS.prometheusPassword.env,
        'NODE_OPTIONS',
      ]),
    );
    // the operator's own NODE_OPTIONS replaces the chart's heap ceiling instead of doubling the variable
    expect(container.env.filter((e) => e.name === 'NODE_OPTIONS')).toEqual([
      { name: 'NODE_OPTIONS', value: '--max-old-space-size=300 --enable-source-maps' },
    ]);
  });

  it('gives the controller the named metrics providers as a file, each Secret mounted where the file says', () => {
    const manifests = variant('named metrics providers');
    const container = controller(manifests) as Container & {
      volumeMounts: { name: string; mountPath: string }[];
    };
    const volumes = (
      podSpec(manifests) as PodSpec & {
        volumes: { name: string; secret?: { secretName: string }; configMap?: { name: string } }[];
      }
    ).volumes;
    const flag = container.args.find((a) => a.startsWith(`${SETTINGS.metricsProvidersFile.flag}=`));
    expect(flag).toBe(`${SETTINGS.metricsProvidersFile.flag}=/etc/canaria/metrics-providers/providers.yaml`);
    const configMap = one(manifests, 'ConfigMap', 'canaria-metrics-providers') as Manifest & {
      data: Record<string, string>;
    };
    const problems: string[] = [];
    const providers = parseProvidersFile(
      parse(configMap.data['providers.yaml']!),
      'providers.yaml',
      problems,
    );
    expect(providers.map((p) => [p.name, p.settings.address, p.settings.timeoutMs])).toEqual([
      ['thanos', 'http://thanos-query.monitoring:9090', 20_000],
      ['mimir', 'https://mimir.monitoring:8080/prometheus', undefined],
    ]);
    expect(providers[0]?.settings.headers).toEqual({ 'X-Scope-OrgID': 'team-a' });
    // every file the providers file names is in a mount of the right Secret or ConfigMap
    const source = (file: string) => {
      const mount = container.volumeMounts.find((m) => file.startsWith(`${m.mountPath}/`));
      const volume = volumes.find((v) => v.name === mount?.name);
      return volume?.secret?.secretName ?? volume?.configMap?.name;
    };
    expect(source(providers[0]?.settings.bearerTokenFile ?? '')).toBe('thanos-token');
    expect(source(providers[0]?.settings.caFile ?? '')).toBe('thanos-ca');
    expect(source(flag?.split('=')[1] ?? '')).toBe('canaria-metrics-providers');
    // the basic-auth files exist only in the pod; they are the mimir-auth Secret's keys there
    expect(problems.map((p) => /cannot read (\S+):/.exec(p)?.[1]).map((f) => [f, source(f ?? '')])).toEqual([
      ['/var/run/canaria/metrics-providers/1/basic-auth/username', 'mimir-auth'],
      ['/var/run/canaria/metrics-providers/1/basic-auth/password', 'mimir-auth'],
    ]);
    expect(container.args).toEqual(
      expect.arrayContaining([
        '--error-http-codes=5xx,429',
        '--error-response-flags=',
        '--error-grpc-codes=UNAVAILABLE',
      ]),
    );
    expect(controller(variant('default')).args).toEqual(
      expect.arrayContaining([
        `--error-http-codes=${SETTINGS.errorHttpCodes.default}`,
        `--error-grpc-codes=${SETTINGS.errorGrpcCodes.default}`,
      ]),
    );
    const annotations = (
      one(manifests, 'Deployment').spec as { template: { metadata: { annotations: Record<string, string> } } }
    ).template.metadata.annotations;
    expect(annotations['checksum/metrics-providers']).toMatch(/^[0-9a-f]{64}$/);
  });

  it('gives the controller its notification sinks as a file, each URL a mounted Secret key', () => {
    const manifests = variant('notifications');
    const container = controller(manifests) as Container & {
      volumeMounts: { name: string; mountPath: string }[];
    };
    const volumes = (
      podSpec(manifests) as PodSpec & {
        volumes: { name: string; secret?: { secretName: string; items?: { key: string }[] } }[];
      }
    ).volumes;
    expect(container.args).toEqual(
      expect.arrayContaining([
        '--notifications-file=/etc/canaria/notifications/notifications.yaml',
        '--release-notifications=true',
      ]),
    );
    const configMap = one(manifests, 'ConfigMap', 'canaria-notifications') as Manifest & {
      data: Record<string, string>;
    };
    const problems: string[] = [];
    const sinks = parseNotificationsFile(
      parse(configMap.data['notifications.yaml']!),
      'notifications.yaml',
      problems,
    );
    expect(problems).toEqual([]);
    expect(sinks.map((s) => [s.name, s.type, s.severity])).toEqual([
      ['ops-slack', 'slack', 'warning'],
      ['ops-teams', 'teams', 'info'],
    ]);
    const source = (file: string) => {
      const mount = container.volumeMounts.find((m) => file.startsWith(`${m.mountPath}/`));
      const volume = volumes.find((v) => v.name === mount?.name);
      return `${volume?.secret?.secretName}:${volume?.secret?.items?.[0]?.key}`;
    };
    expect(sinks.map((s) => source(s.urlFile))).toEqual(['canaria-slack:url', 'canaria-teams:webhook']);
    const role = byKind(manifests, 'ClusterRole').flatMap(rulesOf);
    expect(grants(role, 'secrets')).toEqual(['get']);
    expect(controller(variant('default')).args).toContain('--release-notifications=false');
  });

  it('refuses a metrics provider without an address, or named default', async () => {
    const bad = await renderChart({ values: { metricsProviders: [{ name: 'thanos' }] } });
    expect(bad.ok).toBe(false);
    expect(bad.output).toContain('metricsProviders[0].address is required');
    const taken = await renderChart({
      values: { metricsProviders: [{ name: 'default', address: 'http://x' }] },
    });
    expect(taken.output).toContain('"default" is the provider of the prometheus values');
  });

  it('grants cluster-wide exactly the rules of files/rbac-rules.yaml, the Istio router and rbac-cluster-rules.yaml', () => {
    const manifests = variant('default');
    const role = one(manifests, 'ClusterRole');
    expect(rulesOf(role)).toEqual([...namespacedRules(), ...rulesFile('rbac-cluster-rules.yaml')]);
    expect(controller(manifests).args).toContain('--routers=istio');
    expect(byKind(manifests, 'Role').map((r) => r.metadata.name)).toEqual(['canaria-leader-election']);
    expect(rulesOf(one(manifests, 'Role'))).toEqual(rulesFile('leader-election-rules.yaml'));
    expect(controller(manifests).args.some((a) => a.startsWith('--namespaces'))).toBe(false);
    const account = one(manifests, 'ServiceAccount').metadata.name;
    expect(podSpec(manifests).serviceAccountName).toBe(account);
    for (const binding of [...byKind(manifests, 'ClusterRoleBinding'), ...byKind(manifests, 'RoleBinding')]) {
      expect(binding.subjects).toEqual([
        { kind: 'ServiceAccount', name: account, namespace: 'canaria-system' },
      ]);
    }
  });

  it('grants a watched-namespaces install its namespaced rules in each namespace only', () => {
    const manifests = variant('namespaced');
    expect(controller(manifests).args).toContain(`--namespaces=${WATCHED.join(',')}`);
    expect(rulesOf(one(manifests, 'ClusterRole'))).toEqual(rulesFile('rbac-cluster-rules.yaml'));
    for (const namespace of WATCHED) {
      const role = byKind(manifests, 'Role').find((r) => r.metadata.namespace === namespace)!;
      expect(rulesOf(role)).toEqual(namespacedRules());
      const binding = byKind(manifests, 'RoleBinding').find((r) => r.metadata.namespace === namespace)!;
      expect(binding.roleRef).toEqual({
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'Role',
        name: role.metadata.name,
      });
    }
    expect(
      byKind(manifests, 'Role')
        .map((r) => r.metadata.namespace)
        .sort(),
    ).toEqual(['canaria-system', ...WATCHED].sort());
  });

  it.each(['default', 'namespaced'] as const)(
    'gives the controller no access to Secrets without trackSecrets: %s',
    (name) => {
      const manifests = variant(name);
      for (const role of [...byKind(manifests, 'ClusterRole'), ...byKind(manifests, 'Role')]) {
        expect(grants(rulesOf(role), 'secrets'), `${role.kind} ${role.metadata.name}`).toEqual([]);
        expect(rulesOf(role).flatMap((r) => [...r.resources, ...r.verbs])).not.toContain('*');
      }
      expect(controller(manifests).args).not.toContain('--track-secrets=true');
    },
  );

  it('lets the controller watch Secrets where it watches, and tells it so, with trackSecrets', () => {
    const secretRules = rulesFile('rbac-secrets-rules.yaml');
    const cluster = variant('trackSecrets on');
    expect(rulesOf(one(cluster, 'ClusterRole'))).toEqual(expect.arrayContaining(secretRules));
    expect(controller(cluster).args).toContain('--track-secrets=true');
    const namespaced = variant('namespaced with trackSecrets');
    expect(grants(rulesOf(one(namespaced, 'ClusterRole')), 'secrets')).toEqual([]);
    for (const namespace of WATCHED) {
      const role = byKind(namespaced, 'Role').find((r) => r.metadata.namespace === namespace)!;
      expect(rulesOf(role)).toEqual(namespacedRules(['istio'], { secrets: true }));
    }
  });

  it("lets the controller get the Secrets of webhooks' headersFrom with webhooks.headersFromSecrets alone", () => {
    const webhookRules = rulesFile('rbac-webhook-secrets-rules.yaml');
    expect(grants(webhookRules, 'secrets')).toEqual(['get']);
    const cluster = variant('webhook headers from Secrets');
    expect(rulesOf(one(cluster, 'ClusterRole'))).toEqual([
      ...namespacedRules(),
      ...webhookRules,
      ...rulesFile('rbac-cluster-rules.yaml'),
    ]);
    // no list or watch: only the one Secret a hook names, at call time
    expect(grants(rulesOf(one(cluster, 'ClusterRole')), 'secrets')).toEqual(['get']);
    expect(controller(cluster).args).not.toContain('--track-secrets=true');
    expect(controller(cluster).args).toContain('--release-notifications=false');
    const namespaced = variant('namespaced, webhook headers from Secrets');
    expect(grants(rulesOf(one(namespaced, 'ClusterRole')), 'secrets')).toEqual([]);
    for (const namespace of WATCHED) {
      const role = byKind(namespaced, 'Role').find((r) => r.metadata.namespace === namespace)!;
      expect(rulesOf(role)).toEqual([...namespacedRules(), ...webhookRules]);
    }
    // with release sinks too, get on Secrets is granted once
    const both = variant('webhook headers and release sinks');
    const secretRules = rulesOf(one(both, 'ClusterRole')).filter((r) => r.resources.includes('secrets'));
    expect(secretRules).toHaveLength(1);
    expect(grants(secretRules, 'secrets')).toEqual(['get']);
  });

  it.each(['managed mode off', 'namespaced, managed mode off'] as const)(
    'grants no Deployment, autoscaler or DestinationRule writes and no ConfigMap or Secret access with managedMode.enabled=false, and tells the controller: %s',
    (name) => {
      const manifests = variant(name);
      const roles = [...byKind(manifests, 'ClusterRole'), ...byKind(manifests, 'Role')];
      for (const role of roles) {
        const rules = rulesOf(role);
        const what = `${role.kind} ${role.metadata.name}`;
        expect(
          grants(rules, 'deployments').filter((v) => !['list', 'watch'].includes(v)),
          what,
        ).toEqual([]);
        expect(
          grants(rules, 'destinationrules').filter((v) => !['list', 'watch'].includes(v)),
          what,
        ).toEqual([]);
        for (const resource of ['configmaps', 'secrets', 'horizontalpodautoscalers'])
          expect(grants(rules, resource), `${what} on ${resource}`).toEqual([]);
      }
      // subsets mode keeps all it needs
      const granted = roles.flatMap(rulesOf);
      expect(new Set(grants(granted, 'virtualservices'))).toEqual(new Set(['list', 'watch', 'patch']));
      expect(grants(granted, 'deployments')).toEqual(expect.arrayContaining(['list', 'watch']));
      expect(controller(manifests).args).toContain('--managed-mode=false');
      expect(controller(manifests).args).not.toContain('--track-secrets=true');
      expect(controller(variant('default')).args.some((a) => a.startsWith('--managed-mode'))).toBe(false);
    },
  );

  describe('traffic routers', () => {
    const ISTIO_GRANTS = {
      virtualservices: ['list', 'watch', 'patch'],
      destinationrules: ['list', 'watch', 'patch'],
    };
    const GATEWAY_GRANTS = {
      httproutes: ['list', 'watch', 'patch'],
      services: ['list', 'watch', 'create', 'patch', 'delete'],
    };
    const NONE = { virtualservices: [], destinationrules: [], httproutes: [], services: [] };
    const cases: [string, Values, string, Record<string, string[]>][] = [
      ['Istio only (the default)', {}, 'istio', { ...NONE, ...ISTIO_GRANTS }],
      [
        'Gateway API only',
        { 'routers.istio.enabled': false, 'routers.gatewayAPI.enabled': true },
        'gatewayAPI',
        { ...NONE, ...GATEWAY_GRANTS },
      ],
      [
        'both',
        { 'routers.gatewayAPI.enabled': true },
        'istio,gatewayAPI',
        { ...ISTIO_GRANTS, ...GATEWAY_GRANTS },
      ],
      [
        'Gateway API only, managed mode off',
        { 'routers.istio.enabled': false, 'routers.gatewayAPI.enabled': true, 'managedMode.enabled': false },
        'gatewayAPI',
        { ...NONE, httproutes: ['list', 'watch', 'patch'], services: ['list', 'watch'] },
      ],
      [
        'both, managed mode off',
        { 'routers.gatewayAPI.enabled': true, 'managedMode.enabled': false },
        'istio,gatewayAPI',
        {
          virtualservices: ['list', 'watch', 'patch'],
          destinationrules: ['list', 'watch'],
          httproutes: ['list', 'watch', 'patch'],
          services: ['list', 'watch'],
        },
      ],
    ];

    it.each(cases)(
      'runs the enabled routers and grants only what they need: %s',
      async (_name, values, routers, wanted) => {
        for (const namespaced of [false, true]) {
          const manifests = await renderManifests({
            values: namespaced ? { ...values, watchNamespaces: WATCHED } : values,
          });
          const args = controller(manifests).args;
          expect(args.filter((a) => a.startsWith('--routers'))).toEqual([`--routers=${routers}`]);
          const managed = values['managedMode.enabled'] !== false;
          const keys = routers.split(',') as ('istio' | 'gatewayAPI')[];
          const roles = namespaced
            ? WATCHED.map((ns) => byKind(manifests, 'Role').find((r) => r.metadata.namespace === ns)!)
            : [one(manifests, 'ClusterRole')];
          for (const role of roles) {
            const rules = rulesOf(role);
            expect(rules).toEqual([
              ...namespacedRules(keys, { managed }),
              ...(namespaced ? [] : rulesFile('rbac-cluster-rules.yaml')),
            ]);
            for (const [resource, verbs] of Object.entries(wanted))
              expect(new Set(grants(rules, resource)), `${role.kind} on ${resource}`).toEqual(new Set(verbs));
          }
          const lint = await lintChart({ values });
          expect(lint.ok, lint.output).toBe(true);
        }
      },
    );

    it("keeps Istio's grants exactly as they were with only Istio enabled", () => {
      // the rules files/rbac-rules.yaml and rbac-managed-rules.yaml held before the router split
      const istio = rulesOf(one(variant('default'), 'ClusterRole')).filter((r) =>
        r.apiGroups.includes('networking.istio.io'),
      );
      expect(istio).toEqual([
        {
          apiGroups: ['networking.istio.io'],
          resources: ['virtualservices'],
          verbs: ['list', 'watch', 'patch'],
        },
        { apiGroups: ['networking.istio.io'], resources: ['destinationrules'], verbs: ['list', 'watch'] },
        { apiGroups: ['networking.istio.io'], resources: ['destinationrules'], verbs: ['patch'] },
      ]);
      const gateway = rulesOf(one(variant('default'), 'ClusterRole')).filter(
        (r) => r.apiGroups.includes('gateway.networking.k8s.io') || r.resources.includes('services'),
      );
      expect(gateway).toEqual([]);
    });

    it('refuses a render with no router enabled, naming both values', async () => {
      for (const values of [
        { 'routers.istio.enabled': false },
        { 'routers.istio.enabled': false, watchNamespaces: WATCHED },
      ]) {
        const result = await renderChart({ values });
        expect(result.ok).toBe(false);
        expect(result.output).toContain(
          'no traffic router enabled: set routers.gatewayAPI.enabled=true or routers.istio.enabled=true (or several); the controller could route no release',
        );
      }
    });
  });

  it('refuses trackSecrets without managed mode, naming both values', async () => {
    const result = await renderChart({ values: { 'managedMode.enabled': false, trackSecrets: true } });
    expect(result.ok).toBe(false);
    expect(result.output).toContain('trackSecrets=true needs managedMode.enabled=true');
  });

  it('installs the generated CRDs, kept on uninstall unless keepCRDs is false', () => {
    const files = readdirSync(join(CHART_DIR, 'files', 'crds')).filter((f) => f.endsWith('.yaml'));
    const generated = files.map(
      (f) => parse(readFileSync(join(CHART_DIR, 'files', 'crds', f), 'utf8')) as Manifest,
    );
    const crds = byKind(variant('default'), 'CustomResourceDefinition');
    expect(crds.map((c) => c.metadata.name).sort()).toEqual(generated.map((c) => c.metadata.name).sort());
    for (const crd of crds) {
      const source = generated.find((g) => g.metadata.name === crd.metadata.name)!;
      // the body as generated; the chart only adds its labels and the keep policy
      expect(crd.spec).toEqual(source.spec);
      expect(crd.metadata.labels).toMatchObject({
        ...source.metadata.labels,
        'app.kubernetes.io/managed-by': 'Helm',
      });
      expect(crd.metadata.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    }
    for (const crd of byKind(variant('everything set'), 'CustomResourceDefinition'))
      expect(crd.metadata.annotations?.['helm.sh/resource-policy']).toBeUndefined();
    expect(byKind(variant('CRDs off'), 'CustomResourceDefinition')).toEqual([]);
  });

  it('installs the default ClusterAnalysisTemplates, a copy of analysis-templates/ in the repository', async () => {
    const root = join(REPO_ROOT, 'analysis-templates');
    const copy = join(CHART_DIR, 'files', 'analysis-templates');
    const fix = `copy them again: cp analysis-templates/*.yaml charts/canaria/files/analysis-templates/`;
    expect(readdirSync(copy).sort(), fix).toEqual(readdirSync(root).sort());
    for (const file of readdirSync(root))
      expect(readFileSync(join(copy, file), 'utf8'), `${file}: ${fix}`).toBe(
        readFileSync(join(root, file), 'utf8'),
      );

    const expected = readdirSync(root).map((f) => parse(readFileSync(join(root, f), 'utf8')) as Manifest);
    const served = await renderManifests({ apiVersions: [SERVED_TEMPLATES_API] });
    const templates = byKind(served, 'ClusterAnalysisTemplate');
    expect(templates.map((t) => t.metadata.name).sort()).toEqual(expected.map((t) => t.metadata.name).sort());
    for (const template of templates) {
      expect(template.spec).toEqual(expected.find((e) => e.metadata.name === template.metadata.name)!.spec);
      expect(template.metadata.annotations?.['helm.sh/hook']).toBeUndefined();
    }
    const off = await renderManifests({ values: { 'analysisTemplates.enabled': false } });
    expect(byKind(off, 'ClusterAnalysisTemplate')).toEqual([]);
  });

  it('makes the templates a post-install hook the next upgrade adopts when the CRDs come with the release', () => {
    // helm maps every object to an API before creating any: without the CRDs served, a
    // ClusterAnalysisTemplate can only be created after them, as a hook
    for (const template of byKind(variant('default'), 'ClusterAnalysisTemplate')) {
      expect(template.metadata.annotations).toEqual({
        'helm.sh/hook': 'post-install',
        'meta.helm.sh/release-name': 'canaria',
        'meta.helm.sh/release-namespace': 'canaria-system',
      });
      expect(template.metadata.labels?.['app.kubernetes.io/managed-by']).toBe('Helm');
    }
  });

  it('puts each Grafana dashboard in a ConfigMap labelled for the dashboard sidecar', () => {
    const dashboards = readdirSync(join(CHART_DIR, 'dashboards')).filter((f) => f.endsWith('.json'));
    expect(dashboards.length).toBeGreaterThan(0);
    const maps = byKind(variant('default'), 'ConfigMap');
    expect(maps).toHaveLength(dashboards.length);
    for (const file of dashboards) {
      const map = maps.find((m) => Object.keys(m.data as object).includes(file))!;
      expect(map.metadata.labels).toMatchObject({ grafana_dashboard: '1' });
      expect(map.metadata.namespace).toBe('canaria-system');
      const json = (map.data as Record<string, string>)[file]!;
      expect(JSON.parse(json)).toEqual(JSON.parse(readFileSync(join(CHART_DIR, 'dashboards', file), 'utf8')));
    }
    for (const map of byKind(variant('everything set'), 'ConfigMap')) {
      expect(map.metadata.namespace).toBe('monitoring');
      expect(map.metadata.annotations).toEqual({ grafana_folder: 'canaria' });
    }
  });

  it('serves /metrics through a Service, and a ServiceMonitor that keeps the release labels when asked', () => {
    const service = one(variant('default'), 'Service');
    const pod = one(variant('default'), 'Deployment').spec as { template: { metadata: { labels: object } } };
    expect(pod.template.metadata.labels).toMatchObject((service.spec as { selector: object }).selector);
    expect((service.spec as { ports: unknown[] }).ports).toEqual([
      { name: 'http-metrics', port: 8080, targetPort: 'http-metrics', protocol: 'TCP' },
    ]);
    expect(byKind(variant('default'), 'ServiceMonitor')).toEqual([]);
    const monitor = one(variant('ServiceMonitor on'), 'ServiceMonitor');
    expect(monitor.metadata.labels).toMatchObject({ release: 'monitoring' });
    expect(monitor.spec).toMatchObject({
      selector: { matchLabels: (service.spec as { selector: object }).selector },
      endpoints: [{ port: 'http-metrics', path: '/metrics', honorLabels: true }],
    });
  });

  it('keeps a replica through voluntary disruptions', () => {
    const budget = one(variant('default'), 'PodDisruptionBudget');
    const deployment = one(variant('default'), 'Deployment');
    expect(budget.spec).toEqual({
      maxUnavailable: 1,
      selector: (deployment.spec as { selector: object }).selector,
    });
  });

  it('puts every namespaced object in the release namespace or one it was told', () => {
    for (const [name, manifests] of rendered) {
      for (const manifest of manifests) {
        if (
          [
            'CustomResourceDefinition',
            'ClusterRole',
            'ClusterRoleBinding',
            'ClusterAnalysisTemplate',
          ].includes(manifest.kind)
        )
          expect(manifest.metadata.namespace, `${name}: ${manifest.kind}`).toBeUndefined();
        else
          expect(['canaria-system', 'monitoring', ...WATCHED], `${name}: ${manifest.kind}`).toContain(
            manifest.metadata.namespace,
          );
      }
    }
  });

  it('documents every value in values.yaml', () => {
    expect(undocumentedValues(readFileSync(join(CHART_DIR, 'values.yaml'), 'utf8'))).toEqual([]);
    // and the check itself sees a key without a comment
    expect(undocumentedValues('# -- documented\na: 1\ngroup:\n  # -- documented\n  b: 2\n  c: 3\n')).toEqual([
      'line 6: c: 3',
    ]);
  });
});

/**
 * values.yaml keys without a comment. A key is documented by the comment right above it, by a
 * documented key it belongs to (a default such as resources.requests), or is a group of keys that
 * are documented themselves.
 */
function undocumentedValues(text: string): string[] {
  const lines = text.split('\n');
  const parents: { indent: number; documented: boolean }[] = [];
  return lines.flatMap((line, index) => {
    const key = /^(\s*)[A-Za-z][\w.-]*:/.exec(line);
    if (key === null) return [];
    const indent = key[1]!.length;
    while (parents.length > 0 && parents.at(-1)!.indent >= indent) parents.pop();
    const documented = (lines[index - 1] ?? '').trim().startsWith('#');
    const covered = documented || parents.some((p) => p.documented) || /:\s*$/.test(line);
    parents.push({ indent, documented });
    return covered ? [] : [`line ${index + 1}: ${line.trim()}`];
  });
}

describe('the chart broken on purpose', () => {
  let copy: string;

  beforeAll(() => {
    copy = mkdtempSync(join(tmpdir(), 'canaria-chart-'));
  });

  afterAll(() => {
    rmSync(copy, { recursive: true, force: true });
  });

  /** A copy of the chart with one file changed. */
  function chartWith(file: string, change: (text: string) => string): string {
    const dir = join(copy, `${basename(file)}-${Math.random().toString(36).slice(2)}`);
    cpSync(CHART_DIR, dir, { recursive: true });
    const path = join(dir, file);
    const text = readFileSync(path, 'utf8');
    const changed = change(text);
    if (changed === text) throw new Error(`the change to ${file} changed nothing`);
    writeFileSync(path, changed);
    return dir;
  }

  const checks = async (chartDir: string, values: Values = {}) => ({
    lint: await lintChart({ chartDir, values }),
    template: await renderChart({ chartDir, values }),
  });

  it('fails lint and template on a template that does not parse', async () => {
    const dir = chartWith('templates/deployment.yaml', (t) =>
      t.replace('{{- with .Values.podAnnotations }}', '{{- with .Values.podAnnotations'),
    );
    const { lint, template } = await checks(dir);
    expect(lint.ok).toBe(false);
    expect(template.ok).toBe(false);
    expect(template.output).toMatch(/deployment\.yaml/);
  });

  it('fails lint and template on a template that renders invalid YAML', async () => {
    const dir = chartWith('templates/service.yaml', (t) =>
      t.replace('  type: {{ .Values.service.type }}', 'type: [{{ .Values.service.type }}'),
    );
    const { lint, template } = await checks(dir);
    expect(lint.ok).toBe(false);
    expect(template.ok).toBe(false);
  });

  // helm lint only logs a template's `fail`; helm template is what refuses these charts
  it('fails when a rule file is not a list of rules', async () => {
    const dir = chartWith('files/rbac-rules.yaml', (t) => `${t}\n- resources: [pods]\n`);
    const { template } = await checks(dir);
    expect(template.ok).toBe(false);
    expect(template.output).toMatch(/files\/rbac-rules\.yaml must be a YAML list of RBAC rules/);
  });

  it('fails with trackSecrets when the Secrets rule file is missing', async () => {
    const dir = chartWith('files/rbac-secrets-rules.yaml', () => '');
    const { template } = await checks(dir, { trackSecrets: true });
    expect(template.ok).toBe(false);
    expect(template.output).toMatch(/files\/rbac-secrets-rules\.yaml is missing from the chart/);
  });

  it('fails when a default template is not a ClusterAnalysisTemplate', async () => {
    const dir = chartWith('files/analysis-templates/error-ratio.yaml', (t) =>
      t.replace('kind: ClusterAnalysisTemplate', 'kind: AnalysisTemplate'),
    );
    const { template } = await checks(dir);
    expect(template.output).toMatch(/error-ratio\.yaml: expected a ClusterAnalysisTemplate/);
  });
});
