/**
 * The controller as its own process, as it runs in a pod: `src/main.ts` with flags, a kubeconfig of
 * a ServiceAccount that has exactly the chart's RBAC, and its logs kept for the test to read.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { AppsV1Api, type KubeConfig } from '@kubernetes/client-node';
import { waitForAccess } from './access.js';
import { Applier } from './apply.js';
import { RBAC_KINDS, renderManifests, type Values } from './helm.js';
import type { KubeEnv, ServiceAccountRef } from './kube-env.js';
import { freePort } from './ports.js';
import { waitUntil } from './wait.js';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * A ServiceAccount with exactly the RBAC the Helm chart renders for a cluster-wide install into
 * `namespace` (`helm template`, then its ServiceAccount, ClusterRole, Roles and bindings applied), so
 * a permission the controller needs and the chart lacks fails the e2e suite.
 */
export async function controllerServiceAccount(
  env: KubeEnv,
  namespace: string,
  /** Chart values the RBAC is rendered with, e.g. `{'managedMode.enabled': false}`. */
  values: Values = {},
): Promise<ServiceAccountRef> {
  const name = 'canaria';
  // The release is named after the namespace: its ClusterRole must not clash with another world's.
  const manifests = await renderManifests({
    release: `canaria-${namespace}`,
    namespace,
    values: { ...values, 'serviceAccount.name': name },
  });
  const applier = new Applier(env.admin);
  await applier.mustApply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } });
  for (const manifest of manifests.filter((m) => m.kind === 'ServiceAccount' || RBAC_KINDS.includes(m.kind)))
    await applier.mustApply(manifest);
  const account = { namespace, name };
  await waitForAccess(env, account, { verb: 'list', group: 'canaria.dev', resource: 'canaryreleases' });
  return account;
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
