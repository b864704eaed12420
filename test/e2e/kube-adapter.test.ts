/**
 * The client-node adapter behind the Kube port, against a real kube-apiserver: informer caches and
 * their watch events for every kind, namespace-restricted mode, guarded JSON patches, status writes
 * through the status subresource, Events, recovery from broken and stalled watches, and the exact
 * RBAC the controller needs.
 */
import net from 'node:net';
import { Writable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { KubeConfig } from '@kubernetes/client-node';
import { API_VERSION } from '../../src/api/meta.js';
import type { CanaryReleaseStatus } from '../../src/api/canary-release.js';
import { LeaderElector } from '../../src/controller/leader.js';
import { connectKube, type ConnectOptions, type KubeClient } from '../../src/kube/client.js';
import { KubeError } from '../../src/kube/errors.js';
import { jsonEqual, type JsonPatchOperation } from '../../src/kube/json-patch.js';
import type { KubePort } from '../../src/kube/port.js';
import {
  ALL_KINDS,
  apiVersionOf,
  collectionPath,
  KINDS,
  refKey,
  type Kind,
  type KubeObject,
  type Ref,
} from '../../src/kube/resources.js';
import { createLogger, type Logger } from '../../src/telemetry/logger.js';
import { deployment, releaseObject } from '../builders/cluster.js';
import { baseSpecInput } from '../builders/release.js';
import { destinationRule, route, to, virtualService } from '../fixtures/seeds/builders.js';
import { controllerServiceAccount } from '../harness/controller-process.js';
import { kubeRequest } from '../harness/kube-http.js';
import { startKubeEnv, type KubeEnv } from '../harness/kube-env.js';
import { loadTemplates } from '../harness/templates.js';
import { waitUntil } from '../harness/wait.js';

describe('the Kubernetes adapter (connectKube) on a real API server', () => {
  let env: KubeEnv;
  let admin: KubeConfig;
  let namespaceCount = 0;
  const clients: KubeClient[] = [];
  const proxies: TcpProxy[] = [];

  beforeAll(async () => {
    env = await startKubeEnv();
    admin = env.adminKubeConfig();
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((client) => client.stop()));
    await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  });

  afterAll(async () => {
    // beforeAll may have failed before env was set; that failure is what the run reports.
    // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
    await env?.stop();
  });

  // ------------------------------------------------------------------ helpers

  async function call(
    method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE',
    path: string,
    body?: unknown,
    contentType?: string,
  ): Promise<KubeObject> {
    const response = await kubeRequest(env.admin, {
      method,
      path,
      ...(body === undefined ? {} : { body }),
      ...(contentType === undefined ? {} : { contentType }),
    });
    if (response.status < 200 || response.status > 299)
      throw new Error(`${method} ${path}: HTTP ${response.status}: ${JSON.stringify(response.body)}`);
    return response.body as KubeObject;
  }

  const pathOf = (kind: Kind, namespace: string): string =>
    collectionPath(kind, KINDS[kind].namespaced ? namespace : undefined);
  const objectPath = (kind: Kind, ref: Ref): string => `${pathOf(kind, ref.namespace)}/${ref.name}`;

  const create = (kind: Kind, object: KubeObject): Promise<KubeObject> =>
    call('POST', pathOf(kind, object.metadata.namespace ?? ''), {
      ...object,
      apiVersion: apiVersionOf(kind),
      kind,
    });
  const read = (kind: Kind, ref: Ref): Promise<KubeObject> => call('GET', objectPath(kind, ref));
  const label = (kind: Kind, ref: Ref, labels: Record<string, string>): Promise<KubeObject> =>
    call('PATCH', objectPath(kind, ref), { metadata: { labels } }, 'application/merge-patch+json');
  const remove = (kind: Kind, ref: Ref): Promise<KubeObject> => call('DELETE', objectPath(kind, ref));

  async function namespace(prefix: string): Promise<string> {
    const name = `${prefix}-${++namespaceCount}`;
    await call('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
    return name;
  }

  async function connect(options: Partial<ConnectOptions> = {}): Promise<KubeClient> {
    const client = await connectKube({
      kubeConfig: admin,
      logger: createLogger({ level: 'warn' }),
      ...options,
    });
    clients.push(client);
    return client;
  }

  /** One of each kind canaria reads, named after the test; the cluster-scoped template gets a unique name. */
  function objects(ns: string): Record<Kind, KubeObject> {
    const template = loadTemplates()[0]!.template;
    const release = releaseObject(baseSpecInput(), 'reviews');
    release.metadata.namespace = ns;
    const workload = deployment('reviews-v2', 'v2', 'reviews:2');
    workload.metadata.namespace = ns;
    delete workload.status;
    return {
      CanaryRelease: release,
      VirtualService: virtualService([route([to('v1', 90), to('v2', 10)], { name: 'primary' })], {
        namespace: ns,
      }),
      DestinationRule: destinationRule({ v1: { version: 'v1' }, v2: { version: 'v2' } }, { namespace: ns }),
      HTTPRoute: {
        apiVersion: 'gateway.networking.k8s.io/v1',
        kind: 'HTTPRoute',
        metadata: { name: 'reviews', namespace: ns },
        spec: {
          parentRefs: [{ group: '', kind: 'Service', name: 'reviews' }],
          rules: [{ backendRefs: [{ name: 'reviews-v1', port: 9080, weight: 90 }] }],
        },
      },
      Deployment: workload,
      Service: {
        apiVersion: 'v1',
        kind: 'Service',
        metadata: { name: 'reviews-v1', namespace: ns },
        spec: { selector: { app: 'reviews', version: 'v1' }, ports: [{ name: 'http', port: 9080 }] },
      },
      AnalysisTemplate: {
        apiVersion: API_VERSION,
        kind: 'AnalysisTemplate',
        metadata: { name: 'errors', namespace: ns },
        spec: template.spec,
      },
      ClusterAnalysisTemplate: {
        apiVersion: API_VERSION,
        kind: 'ClusterAnalysisTemplate',
        metadata: { name: `errors-${ns}` },
        spec: template.spec,
      },
      ConfigMap: { metadata: { name: 'reviews-config', namespace: ns }, data: { 'app.yaml': 'x: 1' } },
      Secret: { metadata: { name: 'reviews-secret', namespace: ns }, stringData: { token: 'abc' } },
      HorizontalPodAutoscaler: {
        metadata: { name: 'reviews', namespace: ns },
        spec: {
          scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'reviews' },
          minReplicas: 2,
          maxReplicas: 5,
          metrics: [
            {
              type: 'Resource',
              resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 80 } },
            },
          ],
        },
      },
    };
  }

  const refOf = (object: KubeObject): Ref => ({
    namespace: object.metadata.namespace ?? '',
    name: object.metadata.name,
  });

  const weights = (vs: KubeObject | undefined): unknown =>
    (vs?.spec as { http?: { route: { weight?: number }[] }[] } | undefined)?.http?.[0]?.route.map(
      (r) => r.weight,
    );

  const moveWeights = (from: [number, number], next: [number, number]): JsonPatchOperation[] => [
    { op: 'test', path: '/spec/http/0/route/0/weight', value: from[0] },
    { op: 'test', path: '/spec/http/0/route/1/weight', value: from[1] },
    { op: 'replace', path: '/spec/http/0/route/0/weight', value: next[0] },
    { op: 'replace', path: '/spec/http/0/route/1/weight', value: next[1] },
  ];

  /** A first change that arrives proves the watch connection is open, so freezing it silences the watch. */
  async function watchIsDelivering(ns: string, seen: string[]): Promise<void> {
    await create('VirtualService', {
      ...objects(ns).VirtualService,
      metadata: { name: 'first', namespace: ns },
    });
    await eventually(seen, [`added VirtualService ${ns}/first`]);
  }

  // ------------------------------------------------------------------ caches and watch events

  it('syncs a cache of every kind and reports creates, updates and deletes of each with the right watch event', async () => {
    const ns = await namespace('kinds');
    const all = objects(ns);
    const kinds = Object.keys(all) as Kind[];
    // Half exist before the caches start (they arrive by the initial list), half come later (by watch).
    const early = kinds.slice(0, 3);
    const late = kinds.slice(3);
    for (const kind of early) await create(kind, all[kind]);

    const client = await connect({ kinds: ALL_KINDS });
    const seen = recordChanges(client, ns);
    expect(client.synced()).toBe(false);
    await client.start();
    expect(client.synced()).toBe(true);
    for (const kind of early) {
      const cached = client.get(kind, refOf(all[kind]));
      expect(cached?.apiVersion, kind).toBe(apiVersionOf(kind));
      expect(cached?.kind, kind).toBe(kind);
      expect(cached?.metadata.uid, kind).toBeDefined();
    }
    await eventually(
      seen,
      early.map((kind) => `added ${kind} ${refKey(refOf(all[kind]))}`),
    );

    for (const kind of late) await create(kind, all[kind]);
    await eventually(
      seen,
      late.map((kind) => `added ${kind} ${refKey(refOf(all[kind]))}`),
    );
    expect(client.list('CanaryRelease', ns).map((o) => o.metadata.name)).toEqual(['reviews']);
    expect(client.list('ClusterAnalysisTemplate').map((o) => o.metadata.name)).toContain(`errors-${ns}`);

    for (const kind of kinds) await label(kind, refOf(all[kind]), { touched: 'yes' });
    await eventually(
      seen,
      kinds.map((kind) => `modified ${kind} ${refKey(refOf(all[kind]))}`),
    );
    for (const kind of kinds)
      expect(client.get(kind, refOf(all[kind]))?.metadata.labels?.touched, kind).toBe('yes');

    for (const kind of kinds) await remove(kind, refOf(all[kind]));
    await eventually(
      seen,
      kinds.map((kind) => `deleted ${kind} ${refKey(refOf(all[kind]))}`),
    );
    for (const kind of kinds) expect(client.get(kind, refOf(all[kind])), kind).toBeUndefined();
    // Exactly one event per change: no duplicates from overlapping lists and watches.
    expect(seen).toHaveLength(kinds.length * 3);
  });

  it('in namespace-restricted mode sees only its namespaces, and cluster-scoped templates', async () => {
    const watched = await namespace('watched');
    const other = await namespace('other');
    for (const ns of [watched, other]) await create('VirtualService', objects(ns).VirtualService);
    const template = objects(watched).ClusterAnalysisTemplate;
    await create('ClusterAnalysisTemplate', template);

    const client = await connect({
      namespaces: [watched],
      kinds: ['VirtualService', 'DestinationRule', 'ClusterAnalysisTemplate'],
    });
    const seen = recordChanges(client);
    await client.start();
    expect(client.list('VirtualService').map((vs) => vs.metadata.namespace)).toEqual([watched]);
    expect(client.get('VirtualService', { namespace: other, name: 'reviews' })).toBeUndefined();
    expect(
      client.get('ClusterAnalysisTemplate', { namespace: '', name: template.metadata.name }),
    ).toBeDefined();
    // Kinds it was not asked to watch are simply not there.
    expect(client.list('CanaryRelease')).toEqual([]);

    await create('DestinationRule', objects(other).DestinationRule);
    await create('DestinationRule', objects(watched).DestinationRule);
    await eventually(seen, [`added DestinationRule ${watched}/reviews`]);
    expect(seen.filter((line) => line.includes(`${other}/`))).toEqual([]);
    expect(client.list('DestinationRule', other)).toEqual([]);
  });

  // ------------------------------------------------------------------ writes

  it('applies a guarded JSON patch to a VirtualService; a stale one fails with Conflict and changes nothing', async () => {
    const ns = await namespace('vs-patch');
    const vs = objects(ns).VirtualService;
    await create('VirtualService', vs);
    const client = await connect({ namespaces: [ns], kinds: ['VirtualService'] });
    await client.start();
    const ref = refOf(vs);

    const patched = await client.patch('VirtualService', ref, moveWeights([90, 10], [80, 20]));
    expect(weights(patched)).toEqual([80, 20]);
    // Only the weights moved: the user's route name and hosts are as they were.
    expect(patched.spec).toMatchObject({ hosts: ['reviews'], http: [{ name: 'primary' }] });
    await waitUntil(
      'the cache to show 80/20',
      () => Promise.resolve(weights(client.get('VirtualService', ref))?.toString() === '80,20'),
      {
        deadline: Date.now() + 10_000,
      },
    );

    const stale = await rejectionOf(client.patch('VirtualService', ref, moveWeights([90, 10], [50, 50])));
    expect(stale).toBeInstanceOf(KubeError);
    expect(stale).toMatchObject({ code: 'Conflict', status: 422, retryable: true });
    expect(weights(await read('VirtualService', ref))).toEqual([80, 20]);

    // An unguarded patch that is wrong in itself stays Invalid: only a guarded 422 reads as a conflict.
    const invalid = await rejectionOf(
      client.patch('VirtualService', ref, [{ op: 'replace', path: '/spec/http/7/route/0/weight', value: 1 }]),
    );
    expect(invalid).toMatchObject({ code: 'Invalid', status: 422, retryable: false });
    const missing = await rejectionOf(
      client.patch('VirtualService', { namespace: ns, name: 'nope' }, moveWeights([90, 10], [0, 100])),
    );
    expect(missing).toMatchObject({ code: 'NotFound', status: 404 });
  });

  it('patches a Deployment with a JSON patch too (a strategic merge could not carry `test` ops), as field manager canaria', async () => {
    const ns = await namespace('deploy-patch');
    const workload = objects(ns).Deployment;
    await create('Deployment', workload);
    const client = await connect({ namespaces: [ns], kinds: ['Deployment'] });
    await client.start();
    const ref = refOf(workload);

    const patched = await client.patch('Deployment', ref, [
      { op: 'test', path: '/spec/replicas', value: 2 },
      { op: 'replace', path: '/spec/replicas', value: 3 },
      { op: 'add', path: '/spec/template/metadata/annotations', value: { 'canaria.dev/revision': 'abc' } },
    ]);
    expect((patched.spec as { replicas: number }).replicas).toBe(3);
    const managers = (patched.metadata.managedFields as { manager: string; operation: string }[]).map(
      (entry) => `${entry.manager}/${entry.operation}`,
    );
    expect(managers).toContain('canaria/Update');

    const stale = await rejectionOf(
      client.patch('Deployment', ref, [
        { op: 'test', path: '/spec/replicas', value: 2 },
        { op: 'replace', path: '/spec/replicas', value: 5 },
      ]),
    );
    expect(stale).toMatchObject({ code: 'Conflict' });
    expect(((await read('Deployment', ref)).spec as { replicas: number }).replicas).toBe(3);
  });

  it('writes the release status through /status: the stored status is exactly the one given, removed keys included', async () => {
    const ns = await namespace('status');
    const release = objects(ns).CanaryRelease;
    const created = await create('CanaryRelease', release);
    const client = await connect({ namespaces: [ns], kinds: ['CanaryRelease'] });
    await client.start();
    const ref = refOf(release);

    const holding: CanaryReleaseStatus = {
      phase: 'Progressing',
      observedGeneration: 1,
      currentStepIndex: 0,
      canaryWeight: 10,
      holdingSince: '2025-01-01T00:00:00Z',
      message: 'waiting for reviews-v2: 0 of 2 replicas ready',
      decisions: [
        {
          time: '2025-01-01T00:00:00Z',
          action: 'Hold',
          reason: 'CanaryNotReady',
          message: '0 of 2 replicas ready',
          step: 0,
          canaryWeight: 10,
        },
      ],
    };
    await client.writeReleaseStatus(ref, holding);
    expect((await read('CanaryRelease', ref)).status).toEqual(holding);

    // The engine dropped holdingSince and message and replaced the decisions list.
    const moving: CanaryReleaseStatus = {
      phase: 'Progressing',
      observedGeneration: 1,
      currentStepIndex: 1,
      canaryWeight: 10,
      decisions: [
        {
          time: '2025-01-01T00:05:00Z',
          action: 'Advance',
          reason: 'AnalysisPassed',
          message: 'canary 12 errors in 1200 requests',
          step: 1,
          canaryWeight: 10,
        },
      ],
    };
    await client.writeReleaseStatus(ref, moving);
    const stored = await read('CanaryRelease', ref);
    expect(stored.status).toEqual(moving);
    // The status subresource cannot touch the spec: the generation never moved.
    expect(stored.metadata.generation).toBe(created.metadata.generation);
    expect(stored.spec).toEqual(created.spec);
    await waitUntil(
      'the cache to show the new status',
      () => Promise.resolve(jsonEqual(client.get('CanaryRelease', ref)?.status, moving)),
      { deadline: Date.now() + 10_000 },
    );

    const gone = await rejectionOf(client.writeReleaseStatus({ namespace: ns, name: 'nope' }, moving));
    expect(gone).toMatchObject({ code: 'NotFound' });
  });

  it('writes a status conditional on a resourceVersion only onto that version; any other answers 409 Conflict and writes nothing', async () => {
    const ns = await namespace('precondition');
    const release = objects(ns).CanaryRelease;
    const created = await create('CanaryRelease', release);
    const client = await connect({ namespaces: [ns], kinds: ['CanaryRelease'] });
    await client.start();
    const ref = refOf(release);
    const decided = created.metadata.resourceVersion!;

    const started: CanaryReleaseStatus = { phase: 'Progressing', rolloutStartedAt: '2025-01-01T00:00:00Z' };
    const written = await client.writeReleaseStatus(ref, started, { resourceVersion: decided });
    const stored = await read('CanaryRelease', ref);
    expect(stored.status).toEqual(started);
    expect(written).toBe(stored.metadata.resourceVersion);
    expect(written).not.toBe(decided);

    // the same decision again, from the release as it was before the first write: refused, not retried
    const again = await rejectionOf(
      client.writeReleaseStatus(
        ref,
        { phase: 'Progressing', rolloutStartedAt: '2025-01-01T00:00:00.056Z' },
        { resourceVersion: decided },
      ),
    );
    expect(again).toBeInstanceOf(KubeError);
    expect(again).toMatchObject({ code: 'Conflict', status: 409 });
    expect((await read('CanaryRelease', ref)).status).toEqual(started);
    expect((await read('CanaryRelease', ref)).metadata.resourceVersion).toBe(written);

    // a spec edit moves the resourceVersion too: a status decided before it is refused
    await label('CanaryRelease', ref, { edited: 'yes' });
    const afterEdit = await rejectionOf(
      client.writeReleaseStatus(ref, { phase: 'Succeeded' }, { resourceVersion: written }),
    );
    expect(afterEdit).toMatchObject({ code: 'Conflict', status: 409 });
    expect((await read('CanaryRelease', ref)).status).toEqual(started);
  });

  it('records a repeated Event once: the same reason and message on the same release bump its count and lastTimestamp', async () => {
    const ns = await namespace('aggregate');
    await create('CanaryRelease', objects(ns).CanaryRelease);
    const client = await connect({ namespaces: [ns], kinds: ['CanaryRelease'] });
    await client.start();
    const release = client.get('CanaryRelease', { namespace: ns, name: 'reviews' })!;
    const holding = {
      severity: 'Normal' as const,
      reason: 'Inconclusive',
      message: 'holding at 10%: no canary requests yet over 1m',
    };
    const list = async () =>
      (
        (await call('GET', `/api/v1/namespaces/${ns}/events`)) as unknown as {
          items: (Record<string, unknown> & { metadata: { name: string } })[];
        }
      ).items;

    await client.recordEvent(release, holding);
    const [first] = await list();
    for (let i = 0; i < 4; i++) {
      await new Promise((resolve) => setTimeout(resolve, 300));
      await client.recordEvent(release, holding);
    }
    await client.recordEvent(release, {
      ...holding,
      message: 'holding at 20%: no canary requests yet over 1m',
    });
    const events = await list();
    expect(events).toHaveLength(2);
    const held = events.find((e) => e.metadata.name === first?.metadata.name);
    expect(held).toMatchObject({ reason: 'Inconclusive', message: holding.message, count: 5 });
    expect(held?.firstTimestamp).toBe(first?.firstTimestamp);
    expect(Date.parse(String(held?.lastTimestamp))).toBeGreaterThan(
      Date.parse(String(first?.firstTimestamp)),
    );
    expect(events.find((e) => e !== held)).toMatchObject({ count: 1 });

    // an Event the API server no longer has (they expire after an hour) is created again
    await call('DELETE', `/api/v1/namespaces/${ns}/events/${first!.metadata.name}`);
    await client.recordEvent(release, holding);
    const recreated = (await list()).filter((e) => e.message === holding.message);
    expect(recreated).toHaveLength(1);
    expect(recreated[0]).toMatchObject({ count: 1 });
  });

  it('records Events about a release, with its numbers, its identity, and a message cut to 1 KiB', async () => {
    const ns = await namespace('events');
    await create('CanaryRelease', objects(ns).CanaryRelease);
    const client = await connect({ namespaces: [ns], kinds: ['CanaryRelease'] });
    await client.start();
    const release = client.get('CanaryRelease', { namespace: ns, name: 'reviews' })!;

    const message =
      'rolled back at 10%: error-ratio canary 0.0500 (60/1200) > stable 0.0050 (6/1200) x (1+0.5) + 0.001 = 0.0085';
    await client.recordEvent(release, { severity: 'Warning', reason: 'RolledBack', message });
    await client.recordEvent(release, {
      severity: 'Normal',
      reason: 'Progressing',
      message: `${'延迟 '.repeat(400)}end`,
    });

    const events = (await call('GET', `/api/v1/namespaces/${ns}/events`)) as unknown as {
      items: Record<string, unknown>[];
    };
    const rolledBack = events.items.find((event) => event.reason === 'RolledBack');
    expect(rolledBack).toMatchObject({
      type: 'Warning',
      message,
      involvedObject: {
        apiVersion: API_VERSION,
        kind: 'CanaryRelease',
        name: 'reviews',
        namespace: ns,
        uid: release.metadata.uid,
        resourceVersion: release.metadata.resourceVersion,
      },
      source: { component: 'canaria' },
      reportingComponent: 'canaria',
      count: 1,
    });
    expect(rolledBack?.firstTimestamp).toEqual(rolledBack?.lastTimestamp);
    expect(Date.parse(String(rolledBack?.firstTimestamp))).toBeGreaterThan(Date.now() - 60_000);

    const long = String(events.items.find((event) => event.reason === 'Progressing')?.message);
    expect(Buffer.byteLength(long)).toBeLessThanOrEqual(1024);
    expect(Buffer.byteLength(long)).toBeGreaterThan(1000);
    expect(long.startsWith('延迟 延迟 ')).toBe(true);
    expect(long.endsWith('…')).toBe(true);
    expect(long).not.toContain('\uFFFD');

    // A failure comes back as a KubeError for the reconciler to log; it never throws anything else.
    const elsewhere = { ...release, metadata: { ...release.metadata, namespace: 'no-such-namespace' } };
    const failed = await rejectionOf(
      client.recordEvent(elsewhere, { severity: 'Normal', reason: 'X', message: 'y' }),
    );
    expect(failed).toBeInstanceOf(KubeError);
    expect(failed).toMatchObject({ code: 'NotFound', status: 404 });
  });

  // ------------------------------------------------------------------ resilience

  it('survives a broken watch: backs off, lists again, and reports what changed during the gap, deletions included', async () => {
    const ns = await namespace('gap');
    const all = objects(ns);
    await create('VirtualService', all.VirtualService);
    await create('CanaryRelease', all.CanaryRelease);
    const proxy = await startTcpProxy(env.serverUrl);
    proxies.push(proxy);
    const logs = captureLogs();
    const client = await connect({
      kubeConfig: throughProxy(admin, proxy.url),
      namespaces: [ns],
      logger: logs.logger,
    });
    const seen = recordChanges(client, ns);
    await client.start();

    // Every connection drops and the API server is unreachable for a while; meanwhile, others change things.
    proxy.cut(3_000);
    await remove('VirtualService', refOf(all.VirtualService));
    await label('CanaryRelease', refOf(all.CanaryRelease), { during: 'gap' });
    await create('DestinationRule', all.DestinationRule);

    await eventually(
      seen,
      [
        `deleted VirtualService ${ns}/reviews`,
        `modified CanaryRelease ${ns}/reviews`,
        `added DestinationRule ${ns}/reviews`,
      ],
      45_000,
    );
    expect(client.get('VirtualService', refOf(all.VirtualService))).toBeUndefined();
    expect(client.get('CanaryRelease', refOf(all.CanaryRelease))?.metadata.labels?.during).toBe('gap');
    expect(logs.messages()).toContain('list/watch failed; listing again after a pause');
    expect(client.synced()).toBe(true);

    // And it keeps watching afterwards.
    await create('VirtualService', all.VirtualService);
    await eventually(seen, [`added VirtualService ${ns}/reviews`]);
  });

  it('lists again as soon as the API server answers after an outage, not when a long backoff ends', async () => {
    const ns = await namespace('outage');
    const proxy = await startTcpProxy(env.serverUrl);
    proxies.push(proxy);
    const client = await connect({
      kubeConfig: throughProxy(admin, proxy.url),
      namespaces: [ns],
      kinds: ['VirtualService'],
      // the failures while the server is away are expected here
      logger: createLogger({ level: 'error' }),
    });
    const seen = recordChanges(client, ns);
    await client.start();
    await watchIsDelivering(ns, seen);

    // 16 s away: the informer fails at 0, 1, 3, 7 and 15 s and would then sleep 16 s more
    proxy.cut(16_000);
    await new Promise((resolve) => setTimeout(resolve, 16_500));
    const back = Date.now();
    await create('VirtualService', objects(ns).VirtualService);
    await eventually(seen, [`added VirtualService ${ns}/reviews`], 30_000);
    expect(Date.now() - back).toBeLessThan(5_000);
  });

  it('restarts a watch that delivers nothing, not even a bookmark, for watchStallMs', async () => {
    const ns = await namespace('stall');
    const proxy = await startTcpProxy(env.serverUrl);
    proxies.push(proxy);
    const logs = captureLogs();
    const client = await connect({
      kubeConfig: throughProxy(admin, proxy.url),
      namespaces: [ns],
      kinds: ['VirtualService'],
      watchStallMs: 2_000,
      logger: logs.logger,
    });
    const seen = recordChanges(client, ns);
    await client.start();
    await watchIsDelivering(ns, seen);

    // The open watch goes silent (a half-dead connection), while new connections work.
    proxy.freeze();
    await create('VirtualService', objects(ns).VirtualService);
    await eventually(seen, [`added VirtualService ${ns}/reviews`], 15_000);
    expect(logs.messages()).toContain('list/watch failed; listing again after a pause');
    expect(logs.errors().some((error) => error.includes('delivered nothing for 2000 ms'))).toBe(true);
  });

  it('lists again every relistIntervalMs, which catches up even when a watch silently misses everything', async () => {
    const ns = await namespace('relist');
    const proxy = await startTcpProxy(env.serverUrl);
    proxies.push(proxy);
    const client = await connect({
      kubeConfig: throughProxy(admin, proxy.url),
      namespaces: [ns],
      kinds: ['VirtualService'],
      relistIntervalMs: 2_000,
    });
    const seen = recordChanges(client, ns);
    await client.start();
    await watchIsDelivering(ns, seen);
    proxy.freeze();
    await create('VirtualService', objects(ns).VirtualService);
    await eventually(seen, [`added VirtualService ${ns}/reviews`], 15_000);
  });

  it('stops with a clear error when it may not list a kind, instead of waiting forever for the cache', async () => {
    const ns = await namespace('denied');
    const account = { namespace: ns, name: 'nobody' };
    await call('POST', `/api/v1/namespaces/${ns}/serviceaccounts`, {
      apiVersion: 'v1',
      kind: 'ServiceAccount',
      metadata: { name: account.name },
    });
    const { kubeConfig } = await env.serviceAccountKubeconfig(account);
    const client = await connect({ kubeConfig, namespaces: [ns], kinds: ['VirtualService'] });
    const error = await rejectionOf(client.start());
    expect(error).toMatchObject({ code: 'Forbidden', status: 403 });
    expect((error as Error).message).toContain(
      `cannot list virtualservices.networking.istio.io in namespace ${ns}`,
    );
    expect(client.synced()).toBe(false);
  });

  // ------------------------------------------------------------------ RBAC

  it('works as a ServiceAccount with only the RBAC rules the chart grants', async () => {
    const ns = await namespace('rbac');
    const all = objects(ns);
    for (const kind of ['CanaryRelease', 'VirtualService', 'Deployment'] as const)
      await create(kind, all[kind]);
    // exactly the ServiceAccount and RBAC the Helm chart renders
    const account = await controllerServiceAccount(env, `canaria-system-${++namespaceCount}`);
    const { kubeConfig } = await env.serviceAccountKubeconfig(account);

    // The authorizer sees new bindings a moment later; start() fails fast while they are not there.
    let client: KubeClient | undefined;
    await waitUntil(
      'the ServiceAccount to start its caches',
      async () => {
        const attempt = await connect({ kubeConfig });
        await attempt.start();
        client = attempt;
        return true;
      },
      { deadline: Date.now() + 20_000, intervalMs: 500 },
    );
    expect(client!.synced()).toBe(true);
    expect(client!.get('CanaryRelease', refOf(all.CanaryRelease))).toBeDefined();

    const vs = await client!.patch(
      'VirtualService',
      refOf(all.VirtualService),
      moveWeights([90, 10], [80, 20]),
    );
    expect(weights(vs)).toEqual([80, 20]);
    await client!.patch('Deployment', refOf(all.Deployment), [
      { op: 'replace', path: '/spec/replicas', value: 1 },
    ]);
    await client!.writeReleaseStatus(refOf(all.CanaryRelease), { phase: 'Progressing', canaryWeight: 20 });
    expect((await read('CanaryRelease', refOf(all.CanaryRelease))).status).toEqual({
      phase: 'Progressing',
      canaryWeight: 20,
    });
    await client!.recordEvent(client!.get('CanaryRelease', refOf(all.CanaryRelease))!, {
      severity: 'Normal',
      reason: 'Advanced',
      message: 'canary at 20%',
    });

    const elector = new LeaderElector({
      kubeConfig,
      namespace: account.namespace,
      name: 'canaria-leader',
      identity: 'canaria-0',
      leaseDurationMs: 3_000,
      renewDeadlineMs: 2_000,
      retryPeriodMs: 500,
      logger: createLogger({ level: 'warn' }),
    });
    let leading = false;
    const campaign = elector.run({
      onStartedLeading: () => {
        leading = true;
      },
      onStoppedLeading: () => {
        leading = false;
      },
    });
    await waitUntil('the ServiceAccount to hold the lease', () => Promise.resolve(leading), {
      deadline: Date.now() + 10_000,
    });
    await elector.release();
    await campaign;

    // Status goes through /status: the identity may patch the release itself (its finalizer in
    // managed mode), but the API server ignores a status written there.
    const token = await env.serviceAccountToken(account);
    const direct = await kubeRequest(
      { ...env.admin, token },
      {
        method: 'PATCH',
        path: objectPath('CanaryRelease', refOf(all.CanaryRelease)),
        body: { status: { phase: 'Failed' } },
        contentType: 'application/merge-patch+json',
      },
    );
    expect(direct.status).toBe(200);
    expect((await read('CanaryRelease', refOf(all.CanaryRelease))).status).toMatchObject({
      phase: 'Progressing',
    });
  });
});

// -------------------------------------------------------------------- test doubles

/**
 * `change kind namespace/name` for every watch event about objects of the namespace, and about
 * cluster-scoped objects named after it (tests share the server, not their objects).
 */
function recordChanges(client: KubePort, namespace?: string): string[] {
  const seen: string[] = [];
  client.watch((kind, object, change) => {
    const ns = object.metadata.namespace;
    const ours =
      namespace === undefined ||
      ns === namespace ||
      (ns === undefined && object.metadata.name.endsWith(`-${namespace}`));
    if (ours) seen.push(`${change} ${kind} ${refKey({ namespace: ns ?? '', name: object.metadata.name })}`);
  });
  return seen;
}

async function eventually(seen: string[], expected: string[], timeoutMs = 20_000): Promise<void> {
  await waitUntil(
    `watch events: ${expected.join('; ')}`,
    () => {
      const missing = expected.filter((line) => !seen.includes(line));
      if (missing.length > 0)
        throw new Error(`missing ${missing.join('; ')}; seen ${seen.join('; ') || 'nothing'}`);
      return Promise.resolve(true);
    },
    { deadline: Date.now() + timeoutMs, intervalMs: 100 },
  );
}

async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected a rejection, but the call succeeded');
}

function captureLogs(): { logger: Logger; messages: () => string[]; errors: () => string[] } {
  const lines: { msg?: string; err?: { message?: string } }[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(JSON.parse(chunk.toString('utf8')) as { msg?: string });
      done();
    },
  });
  return {
    logger: createLogger({ level: 'debug', destination }),
    messages: () => lines.map((line) => line.msg ?? ''),
    errors: () => lines.map((line) => line.err?.message ?? ''),
  };
}

/** The same credentials, through another server address. */
function throughProxy(base: KubeConfig, server: string): KubeConfig {
  const cluster = base.getCurrentCluster();
  if (!cluster) throw new Error('the admin kubeconfig has no current cluster');
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ ...cluster, server }],
    users: base.users,
    contexts: base.contexts,
    currentContext: base.currentContext,
  });
  return kubeConfig;
}

interface TcpProxy {
  readonly url: string;
  /** Drops every open connection and refuses new ones for `refuseMs`: the API server is gone for a while. */
  cut(refuseMs: number): void;
  /** Open connections stop delivering anything to the client and stay open; new ones work. */
  freeze(): void;
  close(): Promise<void>;
}

/** A TCP relay in front of the API server (TLS passes through), to break connections on purpose. */
async function startTcpProxy(target: string): Promise<TcpProxy> {
  const upstreamUrl = new URL(target);
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  let refuseUntil = 0;
  const server = net.createServer((client) => {
    if (Date.now() < refuseUntil) {
      client.destroy();
      return;
    }
    const upstream = net.connect(Number(upstreamUrl.port), upstreamUrl.hostname);
    const pair = { client, upstream };
    pairs.add(pair);
    const end = (): void => {
      client.destroy();
      upstream.destroy();
      pairs.delete(pair);
    };
    for (const socket of [client, upstream]) {
      socket.on('error', end);
      socket.on('close', end);
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  return {
    url: `https://127.0.0.1:${port}`,
    cut(refuseMs) {
      refuseUntil = Date.now() + refuseMs;
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
    },
    freeze() {
      for (const { client, upstream } of pairs) {
        upstream.unpipe(client);
        upstream.pause();
      }
    },
    async close() {
      for (const { client, upstream } of pairs) {
        client.destroy();
        upstream.destroy();
      }
      await new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
      });
    },
  };
}
