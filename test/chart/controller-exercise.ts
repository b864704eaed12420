/**
 * The controller as the chart deploys it, on a real API server: the chart's ServiceAccount and RBAC
 * (rendered by helm, applied as they are), the chart's container arguments and downward-API
 * environment, and a release to carry out. Every API call goes through a recording proxy, so the run
 * says which calls the controller made and which RBAC refused.
 */
import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { API_VERSION } from '../../src/api/meta.js';
import { baseSpecInput } from '../builders/release.js';
import { destinationRule, route, to, virtualService } from '../fixtures/seeds/builders.js';
import { waitForAccess, type Access } from '../harness/access.js';
import { Applier } from '../harness/apply.js';
import { deployVersions } from '../harness/controller-process.js';
import { markDeploymentReady } from '../harness/deployments.js';
import { REPO_ROOT } from '../harness/e2e-paths.js';
import { RBAC_KINDS, renderManifests, type Manifest, type Values } from '../harness/helm.js';
import type { KubeEnv, ServiceAccountRef } from '../harness/kube-env.js';
import { kubeRequest } from '../harness/kube-http.js';
import { freePort } from '../harness/ports.js';
import { startRecordingProxy, type RecordedRequest } from './recording-proxy.js';

export interface ExerciseOptions {
  /** A unique release name: cluster-scoped RBAC objects are named after it. */
  release: string;
  controllerNamespace: string;
  /** Where releases are created; with `values.watchNamespaces`, those namespaces. */
  workloadNamespaces: string[];
  values?: Values;
  chartDir?: string;
  /** End the run at the first request RBAC refuses, instead of waiting for the whole outcome. */
  stopAtForbidden?: boolean;
  timeoutMs?: number;
}

/** What the controller got done in one namespace, each as the API server shows it. */
export interface Outcome {
  /** The VirtualService at 90/10, the release's first step. */
  weights: boolean;
  /** The release Progressing at 10 %, written through the status subresource. */
  status: boolean;
  /** Events about the release. */
  events: boolean;
}

export interface ExerciseResult {
  account: ServiceAccountRef;
  requests: RecordedRequest[];
  forbidden: RecordedRequest[];
  outcomes: Record<string, Outcome>;
  /** The Lease held by this controller and renewed (an update went through). */
  lease: boolean;
  logs: string;
  /** Everything above in one line, for assertion messages. */
  summary: string;
}

const LEASE = 'canaria-leader';
const complete = (o: Outcome): boolean => o.weights && o.status && o.events;

export async function exerciseController(env: KubeEnv, options: ExerciseOptions): Promise<ExerciseResult> {
  const admin = new Applier(env.admin);
  const manifests = await renderManifests({
    release: options.release,
    namespace: options.controllerNamespace,
    values: options.values ?? {},
    ...(options.chartDir === undefined ? {} : { chartDir: options.chartDir }),
  });
  for (const name of [options.controllerNamespace, ...options.workloadNamespaces])
    await admin.mustApply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name } });
  const rbac = manifests.filter((m) => m.kind === 'ServiceAccount' || RBAC_KINDS.includes(m.kind));
  for (const manifest of rbac) await admin.mustApply(manifest);
  const account = { namespace: options.controllerNamespace, name: serviceAccountOf(manifests) };
  for (const access of firstGrants(manifests)) await waitForAccess(env, account, access);
  for (const namespace of options.workloadNamespaces) await standUpReviews(env, admin, namespace);

  const proxy = await startRecordingProxy(env.admin);
  const kubeconfig = join(env.dir, `${options.release}.proxied.kubeconfig`);
  await writeFile(kubeconfig, proxiedKubeconfig(proxy.url, await env.serviceAccountToken(account)), {
    mode: 0o600,
  });
  const identity = `${options.release}-0`;
  const { args, env: containerEnv } = await containerOf(manifests);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(REPO_ROOT, 'src', 'main.ts'), ...args, '--kubeconfig', kubeconfig],
    {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
      // what the kubelet would set from the pod: the downward API, and the chart's literal variables
      env: {
        ...process.env,
        ...containerEnv,
        POD_NAMESPACE: options.controllerNamespace,
        POD_NAME: identity,
      },
    },
  );
  let logs = '';
  child.stdout.on('data', (chunk: Buffer) => (logs += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (logs += chunk.toString()));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });

  const outcomes: Record<string, Outcome> = {};
  let lease = false;
  const forbidden = () => proxy.requests.filter((r) => r.status === 403);
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  try {
    while (Date.now() < deadline && child.exitCode === null) {
      for (const namespace of options.workloadNamespaces)
        outcomes[namespace] = await outcomeIn(env, namespace);
      lease =
        (await leaseHolder(env, options.controllerNamespace)) === identity &&
        proxy.requests.some((r) => r.method === 'PUT' && r.url.includes('/leases/') && r.status === 200);
      if (lease && Object.values(outcomes).every(complete)) break;
      if (options.stopAtForbidden === true && forbidden().length > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } finally {
    if (child.exitCode === null) child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(killer);
    await proxy.close();
  }
  const requests = [...proxy.requests];
  const refused = forbidden();
  return {
    account,
    requests,
    forbidden: refused,
    outcomes,
    lease,
    logs,
    summary:
      `outcomes ${JSON.stringify(outcomes)}, lease held and renewed: ${lease}, ` +
      `controller exit: ${child.exitCode ?? child.signalCode ?? 'none'}, ` +
      `refused: ${JSON.stringify(refused.map((r) => `${r.method} ${r.url}`))}\n--- controller log (tail) ---\n` +
      logs.split('\n').slice(-25).join('\n'),
  };
}

function serviceAccountOf(manifests: Manifest[]): string {
  const account = manifests.find((m) => m.kind === 'ServiceAccount');
  if (account === undefined) throw new Error('the chart rendered no ServiceAccount');
  return account.metadata.name;
}

interface Rule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
}

/**
 * One access per rendered role: its first rule's first verb, in the role's namespace. Once each is
 * allowed, the authorizer has seen every binding (it sees them a moment after they are written).
 */
function firstGrants(manifests: Manifest[]): Access[] {
  return manifests
    .filter((m) => m.kind === 'ClusterRole' || m.kind === 'Role')
    .flatMap((role) => {
      const rule = (role.rules as Rule[] | undefined)?.[0];
      if (rule === undefined) return [];
      const [resource = '', subresource] = (rule.resources[0] ?? '').split('/');
      return [
        {
          verb: rule.verbs[0] ?? '',
          group: rule.apiGroups[0] ?? '',
          resource,
          ...(subresource === undefined ? {} : { subresource }),
          ...(role.metadata.namespace === undefined ? {} : { namespace: role.metadata.namespace }),
        },
      ];
    });
}

interface ContainerSpec {
  args?: string[];
  env?: { name: string; value?: string }[];
}

/** The controller container's arguments (its port made free here) and literal environment. */
async function containerOf(manifests: Manifest[]): Promise<{ args: string[]; env: Record<string, string> }> {
  const deployment = manifests.find((m) => m.kind === 'Deployment');
  const container = (deployment?.spec as { template: { spec: { containers: ContainerSpec[] } } } | undefined)
    ?.template.spec.containers[0];
  if (container === undefined) throw new Error('the chart rendered no controller Deployment');
  const port = await freePort();
  const args = (container.args ?? []).map((arg) =>
    arg.startsWith('--metrics-port=') ? `--metrics-port=${port}` : arg,
  );
  const env = Object.fromEntries(
    (container.env ?? []).flatMap((e) => (e.value === undefined ? [] : [[e.name, e.value] as const])),
  );
  return { args, env };
}

function proxiedKubeconfig(server: string, token: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    // plain HTTP to the proxy on loopback; client-node wants this said explicitly
    clusters: [{ name: 'proxied', cluster: { server, 'insecure-skip-tls-verify': true } }],
    users: [{ name: 'controller', user: { token } }],
    contexts: [{ name: 'proxied', context: { cluster: 'proxied', user: 'controller' } }],
    'current-context': 'proxied',
  });
}

/** The seeds' reviews service in `namespace`: v1 and v2 ready, all traffic on v1, and a release. */
async function standUpReviews(env: KubeEnv, admin: Applier, namespace: string): Promise<void> {
  const vs = virtualService([route([to('v1', 100), to('v2', 0)], { name: 'primary' })], { namespace });
  await admin.mustApply({ ...vs, apiVersion: 'networking.istio.io/v1', kind: 'VirtualService' });
  const dr = destinationRule({ v1: { version: 'v1' }, v2: { version: 'v2' } }, { namespace });
  await admin.mustApply({ ...dr, apiVersion: 'networking.istio.io/v1', kind: 'DestinationRule' });
  const kubeConfig = env.adminKubeConfig();
  await deployVersions(kubeConfig, namespace, 'reviews', ['v1', 'v2'], (name) =>
    markDeploymentReady(kubeConfig, namespace, name),
  );
  await admin.mustApply({
    apiVersion: API_VERSION,
    kind: 'CanaryRelease',
    metadata: { name: 'reviews', namespace },
    spec: baseSpecInput(),
  });
}

async function outcomeIn(env: KubeEnv, namespace: string): Promise<Outcome> {
  const get = async (path: string) => (await kubeRequest(env.admin, { method: 'GET', path })).body;
  const vs = (await get(`/apis/networking.istio.io/v1/namespaces/${namespace}/virtualservices/reviews`)) as {
    spec?: { http?: { route?: { weight?: number }[] }[] };
  };
  const release = (await get(`/apis/${API_VERSION}/namespaces/${namespace}/canaryreleases/reviews`)) as {
    status?: { phase?: string; canaryWeight?: number };
  };
  const events = (await get(`/api/v1/namespaces/${namespace}/events`)) as {
    items?: { involvedObject?: { kind?: string } }[];
  };
  return {
    weights: JSON.stringify(vs.spec?.http?.[0]?.route?.map((r) => r.weight)) === '[90,10]',
    status: release.status?.phase === 'Progressing' && release.status.canaryWeight === 10,
    events: (events.items ?? []).some((e) => e.involvedObject?.kind === 'CanaryRelease'),
  };
}

async function leaseHolder(env: KubeEnv, namespace: string): Promise<string | undefined> {
  const response = await kubeRequest(env.admin, {
    method: 'GET',
    path: `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases/${LEASE}`,
  });
  return (response.body as { spec?: { holderIdentity?: string } }).spec?.holderIdentity;
}
