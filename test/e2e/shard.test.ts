/**
 * Sharding on a real API server: two hash shards (--shard-count 2) each elect a leader on their own
 * Lease and act on disjoint releases; a label-selector shard ignores releases outside its selector and
 * picks one up once it is re-labelled in. Who acted is read from every version of each release the
 * API server's watch delivered: a sharded controller writes as field manager canaria-shard-<id>.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { API_GROUP, API_VERSION_NAME } from '../../src/api/meta.js';
import { hashShard } from '../../src/controller/shard.js';
import { baseSpecInput } from '../builders/release.js';
import { startControllerProcess, type ControllerProcess } from '../harness/controller-process.js';
import { kubeRequest } from '../harness/kube-http.js';
import { watchHistory, type WatchHistory } from '../harness/watch-history.js';
import { CONTROLLER_NAMESPACE, startWorld, type World } from './support.js';

interface Release {
  metadata: {
    name: string;
    namespace: string;
    resourceVersion: string;
    labels?: Record<string, string>;
    managedFields?: { manager: string; subresource?: string }[];
  };
  status?: unknown;
}

let world: World;
const controllers: ControllerProcess[] = [];
const histories: WatchHistory<Release>[] = [];

beforeAll(async () => {
  world = await startWorld();
}, 180_000);

afterAll(async () => {
  for (const h of histories) await h.stop();
  for (const c of controllers) await c.kill('SIGKILL');
  // beforeAll may have failed before world was set; that failure is what the run reports.
  // eslint-disable-next-line @typescript-eslint/no-unnecessary-condition
  await world?.stop();
});

const start = async (identity: string, shardArgs: string[]) => {
  const c = await startControllerProcess({
    kubeconfigPath: world.controllerKubeconfig,
    prometheusUrl: world.prometheus.url,
    leaseNamespace: CONTROLLER_NAMESPACE,
    identity,
    extraArgs: shardArgs,
  });
  controllers.push(c);
  return c;
};

const collection = (namespace: string) =>
  `/apis/${API_GROUP}/${API_VERSION_NAME}/namespaces/${namespace}/canaryreleases`;

async function admin(method: 'POST' | 'PATCH', path: string, body: unknown, contentType?: string) {
  const response = await kubeRequest(world.env.admin, {
    method,
    path,
    body,
    ...(contentType ? { contentType } : {}),
  });
  if (response.status < 200 || response.status > 299)
    throw new Error(`${method} ${path}: HTTP ${response.status}: ${JSON.stringify(response.body)}`);
}

/** Creates the release and records every version of it from the API server's watch. */
async function createRelease(namespace: string, name: string, labels: Record<string, string> = {}) {
  const history = await watchHistory<Release>(world.env.admin, collection(namespace), name);
  histories.push(history);
  await admin('POST', collection(namespace), {
    apiVersion: `${API_GROUP}/${API_VERSION_NAME}`,
    kind: 'CanaryRelease',
    metadata: { name, labels },
    spec: baseSpecInput(),
  });
  return history;
}

/** The field managers that ever wrote the status of the release, over all its versions. */
const statusWriters = (history: WatchHistory<Release>): string[] => [
  ...new Set(
    history.versions.flatMap((v) =>
      (v.object?.metadata.managedFields ?? [])
        .filter((f) => f.subresource === 'status')
        .map((f) => f.manager),
    ),
  ),
];

async function ensureNamespace(name: string) {
  await admin('POST', '/api/v1/namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
}

describe('sharding across controller Deployments', () => {
  it('two hash shards both lead, on their own Leases, and each release is acted on by exactly one', async () => {
    const namespace = 'hash-shards';
    await ensureNamespace(namespace);
    const shard0 = await start('shard-0', ['--shard-index', '0', '--shard-count', '2']);
    const shard1 = await start('shard-1', ['--shard-index', '1', '--shard-count', '2']);
    const names = Array.from({ length: 8 }, (_, i) => `release-${i}`);
    // both shards must get some, or the test shows nothing
    expect(new Set(names.map((n) => hashShard(namespace, n, 2))).size).toBe(2);
    const recorded = await Promise.all(names.map((n) => createRelease(namespace, n)));
    await Promise.all(
      recorded.map((h, i) => h.waitFor(`a status on ${names[i]}`, (r) => r?.status !== undefined, 60_000)),
    );
    // a resync ('* * * * *') of both shards passes over every release at least once more
    await new Promise((resolve) => setTimeout(resolve, 65_000));
    for (const [i, history] of recorded.entries()) {
      const owner = `canaria-shard-${hashShard(namespace, names[i]!, 2)}-of-2`;
      expect({ release: names[i], writers: statusWriters(history) }).toEqual({
        release: names[i],
        writers: [owner],
      });
    }
    for (const c of [shard0, shard1])
      expect(c.records().some((r) => r.msg === 'became the leader')).toBe(true);
    expect(shard0.records().find((r) => r.msg === 'canaria starting')).toMatchObject({
      shard: '0-of-2',
      lease: 'canaria-leader-shard-0-of-2',
    });
    const metrics = await (await fetch(`${shard1.metricsUrl}/metrics`)).text();
    expect(metrics).toContain('canaria_shard_info{shard="1-of-2",index="1",count="2",selector=""} 1');
    for (const c of controllers.splice(0)) await c.kill('SIGKILL');
  }, 240_000);

  it('a label-selector shard ignores releases outside its selector, and takes one re-labelled in', async () => {
    const namespace = 'selector-shard';
    await ensureNamespace(namespace);
    await start('team-a', ['--shard-selector', 'team=a']);
    const inside = await createRelease(namespace, 'inside', { team: 'a' });
    const outside = await createRelease(namespace, 'outside', { team: 'b' });
    await inside.waitFor('a status on inside', (r) => r?.status !== undefined, 60_000);
    // past a resync: the shard has listed outside and left it alone
    await new Promise((resolve) => setTimeout(resolve, 65_000));
    expect(statusWriters(inside)).toEqual([expect.stringMatching(/^canaria-shard-sel-[0-9a-f]{8}$/)]);
    expect(outside.versions.filter((v) => v.object?.status !== undefined)).toEqual([]);
    await admin(
      'PATCH',
      `${collection(namespace)}/outside`,
      { metadata: { labels: { team: 'a' } } },
      'application/merge-patch+json',
    );
    await outside.waitFor('a status on outside once re-labelled', (r) => r?.status !== undefined, 60_000);
    expect(statusWriters(outside)).toEqual(statusWriters(inside));
  }, 240_000);
});
