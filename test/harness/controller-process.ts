/**
 * The controller as its own process, as it runs in a pod: `src/main.ts` with flags, a kubeconfig of
 * a ServiceAccount that has exactly the chart's RBAC, and its logs kept for the test to read.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import {
  AppsV1Api,
  CoreV1Api,
  RbacAuthorizationV1Api,
  type KubeConfig,
  type V1PolicyRule,
} from '@kubernetes/client-node';
import type { KubeEnv, ServiceAccountRef } from './kube-env.js';
import { freePort } from './ports.js';
import { waitUntil } from './wait.js';

const ROOT = join(import.meta.dirname, '..', '..');
const rules = (file: string): V1PolicyRule[] =>
  parse(readFileSync(join(ROOT, 'charts', 'canaria', 'files', file), 'utf8')) as V1PolicyRule[];

/** A ServiceAccount with the chart's ClusterRole, and its leader-election Role in `namespace`. */
export async function controllerServiceAccount(env: KubeEnv, namespace: string): Promise<ServiceAccountRef> {
  const admin = env.adminKubeConfig();
  const core = admin.makeApiClient(CoreV1Api);
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const name = 'canaria';
  await core.createNamespace({ body: { metadata: { name: namespace } } }).catch(ignoreExists);
  await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  const subjects = [{ kind: 'ServiceAccount', name, namespace }];
  await rbac.createClusterRole({
    body: { metadata: { name: `canaria-${namespace}` }, rules: rules('rbac-rules.yaml') },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name: `canaria-${namespace}` },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: `canaria-${namespace}` },
      subjects,
    },
  });
  await rbac.createNamespacedRole({
    namespace,
    body: { metadata: { name: 'canaria-leader-election' }, rules: rules('leader-election-rules.yaml') },
  });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name: 'canaria-leader-election' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'canaria-leader-election' },
      subjects,
    },
  });
  return { namespace, name };
}

function ignoreExists(err: unknown): void {
  if ((err as { code?: number }).code !== 409) throw err;
}

export interface ControllerProcess {
  identity: string;
  metricsUrl: string;
  child: ChildProcess;
  logs(): string;
  /** Log lines parsed as JSON. */
  records(): Record<string, unknown>[];
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function startControllerProcess(options: {
  kubeconfigPath: string;
  prometheusUrl: string;
  leaseNamespace: string;
  identity: string;
  leaderElect?: boolean;
  extraArgs?: string[];
}): Promise<ControllerProcess> {
  const port = await freePort();
  const args = [
    '--import',
    'tsx',
    join(ROOT, 'src', 'main.ts'),
    '--kubeconfig',
    options.kubeconfigPath,
    '--prometheus-url',
    options.prometheusUrl,
    '--prometheus-timeout',
    '3s',
    '--prometheus-window-granularity',
    '1s',
    '--leader-elect',
    String(options.leaderElect ?? true),
    '--leader-election-namespace',
    options.leaseNamespace,
    '--identity',
    options.identity,
    '--metrics-port',
    String(port),
    '--log-level',
    'debug',
    '--resync',
    '* * * * *',
    ...(options.extraArgs ?? []),
  ];
  const child = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => {
    child.once('exit', () => {
      resolve();
    });
  });
  const metricsUrl = `http://127.0.0.1:${port}`;
  await waitUntil(
    `controller ${options.identity} ready on ${metricsUrl}/readyz`,
    async () => (await fetch(`${metricsUrl}/readyz`).catch(() => undefined))?.ok === true,
    {
      deadline: Date.now() + 60_000,
      giveUp: () =>
        child.exitCode !== null ? new Error(`the controller exited:\n${output.slice(-3000)}`) : undefined,
    },
  );
  return {
    identity: options.identity,
    metricsUrl,
    child,
    logs: () => output,
    records: () =>
      output
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** Deployments of one service, one per version, made ready as the kubelets would. */
export async function deployVersions(
  admin: KubeConfig,
  namespace: string,
  service: string,
  versions: string[],
  markReady: (name: string) => Promise<unknown>,
): Promise<void> {
  const apps = admin.makeApiClient(AppsV1Api);
  for (const version of versions) {
    const labels = { app: service, version };
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: `${service}-${version}`, labels },
        spec: {
          replicas: 2,
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: service, image: `${service}:${version}` }] },
          },
        },
      },
    });
    await markReady(`${service}-${version}`);
  }
}
