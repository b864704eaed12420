import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { releaseObject } from '../../../test/builders/cluster.js';
import { baseSpecInput } from '../../../test/builders/release.js';
import { testEnv } from '../../../test/fixtures/cli/cluster-env.js';
import { MemoryKube } from '../../kube/memory.js';
import { connectCluster } from './connect.js';
import { runGet } from './get.js';
import { runPause } from './pause.js';

/** A kubeconfig file with one context per entry, each with its namespace, all on `server`. */
function kubeconfigFile(server: string, contexts: { name: string; namespace?: string }[]): string {
  const file = join(mkdtempSync(join(tmpdir(), 'canaria-cli-')), 'config');
  const lines = [
    'apiVersion: v1',
    'kind: Config',
    `current-context: ${contexts[0]?.name ?? ''}`,
    'clusters:',
    '  - name: test',
    `    cluster: { server: "${server}", insecure-skip-tls-verify: true }`,
    'users:',
    '  - name: tester',
    '    user: { token: test-token }',
    'contexts:',
    ...contexts.map(
      (c) =>
        `  - name: ${c.name}\n    context: { cluster: test, user: tester${c.namespace ? `, namespace: ${c.namespace}` : ''} }`,
    ),
  ];
  writeFileSync(file, `${lines.join('\n')}\n`);
  return file;
}

interface Seen {
  method: string;
  url: string;
  contentType: string | undefined;
  body: string;
}

/**
 * Just enough of an API server for the CLI's connection: /version, lists and watches of
 * CanaryReleases, and patches; `answer` decides the list's fate.
 */
async function fakeApiServer(answer: (path: string) => { status: number; body: unknown }) {
  const seen: Seen[] = [];
  const watches = new Set<ServerResponse>();
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      const url = req.url ?? '';
      seen.push({ method: req.method ?? '', url, contentType: req.headers['content-type'], body });
      const json = (status: number, value: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(value));
      };
      if (url === '/version') {
        json(200, { gitVersion: 'v1.34.0' });
        return;
      }
      if (url.includes('watch=')) {
        // a watch that stays open without news until the client goes away
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        watches.add(res);
        req.on('close', () => watches.delete(res));
        return;
      }
      const { status, body: reply } = answer(url.split('?')[0] ?? '');
      json(status, reply);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const res of watches) res.destroy();
        server.close(() => {
          resolve();
        });
      }),
  };
}

const status = (code: number, reason: string, message: string) => ({
  kind: 'Status',
  apiVersion: 'v1',
  status: 'Failure',
  reason,
  code,
  message,
});

function releaseIn(namespace: string) {
  const release = releaseObject(baseSpecInput());
  release.metadata = { ...release.metadata, namespace, resourceVersion: '7', generation: 3 };
  return release;
}

/** The cluster commands with the real connection, everything else captured. */
function realConnection() {
  const env = testEnv(new MemoryKube());
  env.connect = connectCluster;
  return env;
}

const servers: { close(): Promise<void> }[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

describe('connecting to a cluster with the kubeconfig', () => {
  it("lists in the context's namespace and patches with a JSON patch guarded by the generation", async () => {
    const api = await fakeApiServer((path) =>
      path === '/apis/canaria.dev/v1alpha1/namespaces/team-a/canaryreleases'
        ? {
            status: 200,
            body: {
              kind: 'CanaryReleaseList',
              metadata: { resourceVersion: '7' },
              items: [releaseIn('team-a')],
            },
          }
        : path === '/apis/canaria.dev/v1alpha1/namespaces/team-a/canaryreleases/reviews'
          ? { status: 200, body: releaseIn('team-a') }
          : { status: 404, body: status(404, 'NotFound', `${path} not found`) },
    );
    servers.push(api);
    const kubeconfig = kubeconfigFile(api.url, [{ name: 'dev', namespace: 'team-a' }]);

    const listed = realConnection();
    expect(await runGet(undefined, { color: false, kubeconfig }, listed)).toBe(0);
    expect(listed.err).toEqual([]);
    expect(listed.out[1]).toMatch(/^reviews {3}- /);

    const paused = realConnection();
    expect(await runPause('reviews', { color: false, kubeconfig }, paused)).toBe(0);
    expect(paused.out[0]).toMatch(/^canaryrelease team-a\/reviews: pause requested/);
    const patch = api.seen.find((s) => s.method === 'PATCH');
    expect(patch?.contentType).toBe('application/json-patch+json');
    expect(JSON.parse(patch?.body ?? '')).toEqual([
      { op: 'test', path: '/metadata/generation', value: 3 },
      { op: 'add', path: '/spec/paused', value: true },
    ]);
  });

  it('lists every namespace with -A', async () => {
    const api = await fakeApiServer((path) =>
      path === '/apis/canaria.dev/v1alpha1/canaryreleases'
        ? {
            status: 200,
            body: { metadata: { resourceVersion: '7' }, items: [releaseIn('team-a'), releaseIn('team-b')] },
          }
        : { status: 404, body: status(404, 'NotFound', 'not found') },
    );
    servers.push(api);
    const env = realConnection();
    const kubeconfig = kubeconfigFile(api.url, [{ name: 'dev' }]);
    expect(await runGet(undefined, { color: false, kubeconfig, allNamespaces: true }, env)).toBe(0);
    expect(env.out.slice(1).map((line) => line.split(/ +/).slice(0, 2).join('/'))).toEqual([
      'team-a/reviews',
      'team-b/reviews',
    ]);
  });

  it('says which verb on which resource RBAC denied, in one line', async () => {
    const api = await fakeApiServer(() => ({
      status: 403,
      body: status(
        403,
        'Forbidden',
        'canaryreleases.canaria.dev is forbidden: User "dev" cannot list resource "canaryreleases" in API group "canaria.dev" in the namespace "default"',
      ),
    }));
    servers.push(api);
    const env = realConnection();
    const kubeconfig = kubeconfigFile(api.url, [{ name: 'dev' }]);
    expect(await runGet(undefined, { color: false, kubeconfig }, env)).toBe(3);
    expect(env.err).toHaveLength(1);
    expect(env.err[0]).toMatch(
      /^forbidden: you may not list and watch canaryreleases\.canaria\.dev in namespace default at http:\/\/127\.0\.0\.1:\d+ \(context "dev" in .*config\); ask for RBAC verbs "list" and "watch" on canaryreleases\.canaria\.dev\. The API server said: .*cannot list resource "canaryreleases"/,
    );
  });

  it("says canaria's CRDs are missing when the API server does not serve CanaryReleases", async () => {
    const api = await fakeApiServer(() => ({
      status: 404,
      body: status(404, 'NotFound', 'the server could not find the requested resource'),
    }));
    servers.push(api);
    const env = realConnection();
    const kubeconfig = kubeconfigFile(api.url, [{ name: 'dev' }]);
    expect(await runPause('reviews', { color: false, kubeconfig }, env)).toBe(3);
    expect(env.err).toEqual([
      `canaria's CRDs are not installed in the cluster at ${api.url} (context "dev" in ${kubeconfig}): it does not serve canaryreleases.canaria.dev; install them with the chart (helm install canaria charts/canaria -n canaria-system --create-namespace) or alone (kubectl apply --server-side -f charts/canaria/files/crds/)`,
    ]);
  });

  it('names the server, context and kubeconfig when no cluster answers', async () => {
    const api = await fakeApiServer(() => ({ status: 500, body: {} }));
    await api.close();
    const kubeconfig = kubeconfigFile(api.url, [{ name: 'dev' }, { name: 'prod' }]);
    const env = realConnection();
    expect(await runGet(undefined, { color: false, kubeconfig, context: 'prod' }, env)).toBe(3);
    expect(env.err).toHaveLength(1);
    expect(env.err[0]).toContain(`cannot reach the Kubernetes API server at ${api.url}`);
    expect(env.err[0]).toContain(`(context "prod" in ${kubeconfig}); check --kubeconfig and --context`);
  });

  it('names the kubeconfig or the context that cannot be used', async () => {
    const missing = realConnection();
    expect(await runGet(undefined, { color: false, kubeconfig: '/nonexistent/kubeconfig' }, missing)).toBe(3);
    expect(missing.err).toEqual([
      "cannot load the kubeconfig /nonexistent/kubeconfig: ENOENT: no such file or directory, open '/nonexistent/kubeconfig'",
    ]);

    const kubeconfig = kubeconfigFile('https://127.0.0.1:1', [{ name: 'dev' }]);
    const unknown = realConnection();
    expect(await runGet(undefined, { color: false, kubeconfig, context: 'staging' }, unknown)).toBe(3);
    expect(unknown.err).toEqual([
      `cannot load the kubeconfig ${kubeconfig}: context "staging" is not in the kubeconfig; pick one of: dev`,
    ]);
  });
});
