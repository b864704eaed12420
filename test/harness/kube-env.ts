/**
 * A real Kubernetes API for e2e tests, the envtest way: etcd and kube-apiserver from .cache/bin (built
 * by scripts/build-e2e-binaries.sh), no kubelet and no controller-manager. Authorization is Node,RBAC,
 * so a client acting as a ServiceAccount gets exactly what RBAC grants it, as in a real cluster.
 * Istio's CRDs and the chart's CRDs are applied and established before startKubeEnv resolves.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { openSync, closeSync, readFileSync, existsSync } from 'node:fs';
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { applyCrds, loadCrdManifests, type EstablishedCrd } from './crds.js';
import { ETCD_BIN, KUBE_APISERVER_BIN, requireBinary } from './e2e-paths.js';
import { kubeRequest, type KubeEndpoint } from './kube-http.js';
import { freePort } from './ports.js';
import { waitUntil } from './wait.js';

export interface ServiceAccountRef {
  readonly namespace: string;
  readonly name: string;
}

export interface KubeEnv {
  /** https://127.0.0.1:<port> */
  readonly serverUrl: string;
  /** Bearer token of user `admin` in group system:masters. */
  readonly adminToken: string;
  /** A kubeconfig file for the admin, for child processes (KUBECONFIG=...) and kubectl/helm. */
  readonly kubeconfigPath: string;
  /** Every CRD applied at start: Istio's, then the chart's. */
  readonly crds: readonly EstablishedCrd[];
  /** The temporary folder holding certificates, kubeconfigs and the two processes' logs. */
  readonly dir: string;
  /** The admin's endpoint (URL, CA bundle, token) for raw calls with kubeRequest. */
  readonly admin: KubeEndpoint;
  adminKubeConfig(): KubeConfig;
  /** A client that authenticates as admin and impersonates the ServiceAccount (plus its groups). */
  impersonatingKubeConfig(serviceAccount: ServiceAccountRef): KubeConfig;
  /** A token for an existing ServiceAccount, issued by the TokenRequest API. */
  serviceAccountToken(serviceAccount: ServiceAccountRef, expirationSeconds?: number): Promise<string>;
  /**
   * A kubeconfig file (and the loaded config) that authenticates with a fresh TokenRequest token of
   * an existing ServiceAccount: how the controller runs in the e2e suite, with exactly its RBAC.
   */
  serviceAccountKubeconfig(
    serviceAccount: ServiceAccountRef,
  ): Promise<{ path: string; kubeConfig: KubeConfig }>;
  /**
   * kill -9 of kube-apiserver, then a new one on the same etcd, port and certificates after `downMs`;
   * resolves once it is ready again. Clients keep their kubeconfigs; their connections break.
   */
  restartApiserver(options?: { downMs?: number }): Promise<void>;
  /** Kills both processes and removes the temporary folder. Safe to call twice. */
  stop(): Promise<void>;
}

const CONTEXT = 'canaria-e2e';
const SERVICE_ACCOUNT_ISSUER = 'https://kubernetes.default.svc.cluster.local';

interface Managed {
  readonly name: string;
  readonly child: ChildProcess;
  readonly logFile: string;
  /** Resolves with the exit code (or signal) once the process is gone. */
  readonly exited: Promise<string>;
  /** Set when the process has gone. */
  exit?: string;
}

export async function startKubeEnv(options: { readonly startTimeoutMs?: number } = {}): Promise<KubeEnv> {
  const apiserverBin = requireBinary(KUBE_APISERVER_BIN);
  const etcdBin = requireBinary(ETCD_BIN);
  const manifests = loadCrdManifests();
  const deadline = Date.now() + (options.startTimeoutMs ?? 120_000);

  const dir = await mkdtemp(join(tmpdir(), 'canaria-kube-'));
  const processes: Managed[] = [];
  const stop = async (): Promise<void> => {
    // The API server first: it would otherwise spend its last seconds retrying a dead etcd.
    for (const managed of [...processes].reverse()) await terminate(managed);
    processes.length = 0;
    process.removeListener('exit', killAllNow);
    await rm(dir, { recursive: true, force: true });
  };
  // A crashed test run must not leave etcd and kube-apiserver behind.
  const killAllNow = (): void => {
    for (const managed of processes) managed.child.kill('SIGKILL');
  };
  process.once('exit', killAllNow);

  try {
    const etcdUrl = await startEtcd(etcdBin, dir, processes, deadline);
    const env = await startApiserver(apiserverBin, dir, etcdUrl, processes, deadline);
    const crds = await applyCrds(env.admin, manifests, Math.max(deadline - Date.now(), 1_000));
    return { ...env, crds, dir, stop };
  } catch (error) {
    const logs = processes.map((managed) => `--- ${managed.name} log (tail) ---\n${tail(managed.logFile)}`);
    await stop();
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`starting the e2e Kubernetes API failed: ${message}\n${logs.join('\n')}`, {
      cause: error,
    });
  }
}

async function startEtcd(bin: string, dir: string, processes: Managed[], deadline: number): Promise<string> {
  const clientUrl = `http://127.0.0.1:${await freePort()}`;
  const peerUrl = `http://127.0.0.1:${await freePort()}`;
  const etcd = launch('etcd', bin, dir, [
    '--name=canaria-e2e',
    `--data-dir=${join(dir, 'etcd')}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=canaria-e2e=${peerUrl}`,
    // Throwaway data: fsync only slows tests down on a disk shared with other jobs.
    '--unsafe-no-fsync=true',
    '--log-level=warn',
  ]);
  processes.push(etcd);
  await waitUntil('etcd to report healthy', () => etcdHealthy(clientUrl), { deadline, giveUp: died(etcd) });
  return clientUrl;
}

async function etcdHealthy(clientUrl: string): Promise<boolean> {
  const response = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(2_000) });
  const body = (await response.json()) as { health?: string };
  return body.health === 'true';
}

async function startApiserver(
  bin: string,
  dir: string,
  etcdUrl: string,
  processes: Managed[],
  deadline: number,
): Promise<Omit<KubeEnv, 'crds' | 'dir' | 'stop'>> {
  const certDir = join(dir, 'certs');
  await mkdir(certDir);
  const adminToken = randomBytes(24).toString('hex');
  const tokenFile = join(dir, 'tokens.csv');
  await writeFile(tokenFile, `${adminToken},admin,admin-uid,"system:masters"\n`, { mode: 0o600 });
  // The TokenRequest API signs with this key and the authenticator verifies with its public half.
  const keys = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const signingKey = join(dir, 'service-account.key');
  const verifyingKey = join(dir, 'service-account.pub');
  await writeFile(signingKey, keys.privateKey, { mode: 0o600 });
  await writeFile(verifyingKey, keys.publicKey);

  const port = await freePort();
  const args = [
    `--etcd-servers=${etcdUrl}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--secure-port=${port}`,
    // With no certificate given, the server writes a self-signed one (and its CA) here.
    `--cert-dir=${certDir}`,
    `--token-auth-file=${tokenFile}`,
    '--authorization-mode=Node,RBAC',
    '--anonymous-auth=false',
    `--service-account-issuer=${SERVICE_ACCOUNT_ISSUER}`,
    `--service-account-key-file=${verifyingKey}`,
    `--service-account-signing-key-file=${signingKey}`,
    // Only a setting for ClusterIP allocation; nothing listens there.
    '--service-cluster-ip-range=10.0.0.0/24',
    '--allow-privileged=true',
    '--profiling=false',
  ];
  let apiserver = launch('kube-apiserver', bin, dir, args);
  processes.push(apiserver);

  const certFile = join(certDir, 'apiserver.crt');
  await waitUntil(
    'kube-apiserver to write its self-signed certificate',
    () => Promise.resolve(existsSync(certFile)),
    {
      deadline,
      giveUp: died(apiserver),
    },
  );
  const serverUrl = `https://127.0.0.1:${port}`;
  // The server writes its certificate and then its CA into the same file, not atomically: read once
  // the file appears, the bundle can lack the CA and every TLS handshake fails ("self-signed
  // certificate in certificate chain"). So the bundle is read again on every attempt.
  const endpointNow = (): KubeEndpoint => ({
    serverUrl,
    caPem: readFileSync(certFile, 'utf8'),
    token: adminToken,
  });
  await waitUntil('kube-apiserver /readyz', () => isReady(endpointNow()), {
    deadline,
    giveUp: died(apiserver),
  });
  const admin = endpointNow();

  const kubeconfigPath = join(dir, 'admin.kubeconfig');
  await writeFile(kubeconfigPath, kubeconfigYaml(admin, 'admin'), { mode: 0o600 });

  const adminKubeConfig = (): KubeConfig => loadKubeConfig(kubeconfigYaml(admin, 'admin'));
  const serviceAccountToken = async (
    account: ServiceAccountRef,
    expirationSeconds = 3600,
  ): Promise<string> => {
    const response = await kubeRequest(admin, {
      method: 'POST',
      path: `/api/v1/namespaces/${account.namespace}/serviceaccounts/${account.name}/token`,
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', spec: { expirationSeconds } },
    });
    const token = (response.body as { status?: { token?: string } }).status?.token;
    if (response.status !== 201 || token === undefined) {
      throw new Error(
        `TokenRequest for ServiceAccount ${account.namespace}/${account.name} failed with HTTP ` +
          `${response.status} (does the ServiceAccount exist?): ${JSON.stringify(response.body)}`,
      );
    }
    return token;
  };

  const restartApiserver = async (options: { downMs?: number } = {}): Promise<void> => {
    const old = apiserver;
    old.child.kill('SIGKILL');
    await old.exited;
    await new Promise((resolve) => setTimeout(resolve, options.downMs ?? 0));
    // the same flags: same port, and the certificates it wrote the first time (it reuses them)
    apiserver = launch('kube-apiserver', bin, dir, args);
    processes[processes.indexOf(old)] = apiserver;
    await waitUntil('the restarted kube-apiserver /readyz', () => isReady(admin).catch(() => false), {
      deadline: Date.now() + 120_000,
      giveUp: died(apiserver),
    });
  };

  return {
    serverUrl,
    adminToken,
    restartApiserver,
    kubeconfigPath,
    admin,
    adminKubeConfig,
    impersonatingKubeConfig: (account) =>
      loadKubeConfig(
        kubeconfigYaml(admin, 'admin', `system:serviceaccount:${account.namespace}:${account.name}`),
      ),
    serviceAccountToken,
    serviceAccountKubeconfig: async (account) => {
      const text = kubeconfigYaml({ ...admin, token: await serviceAccountToken(account) }, account.name);
      const path = join(dir, `${account.namespace}.${account.name}.kubeconfig`);
      await writeFile(path, text, { mode: 0o600 });
      return { path, kubeConfig: loadKubeConfig(text) };
    },
  };
}

async function isReady(admin: KubeEndpoint): Promise<boolean> {
  const response = await kubeRequest(admin, { method: 'GET', path: '/readyz', timeoutMs: 5_000 });
  return response.status === 200;
}

function kubeconfigYaml(endpoint: KubeEndpoint, userName: string, impersonate?: string): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: CONTEXT,
        cluster: {
          server: endpoint.serverUrl,
          'certificate-authority-data': Buffer.from(endpoint.caPem).toString('base64'),
        },
      },
    ],
    users: [
      {
        name: userName,
        user: { token: endpoint.token, ...(impersonate === undefined ? {} : { as: impersonate }) },
      },
    ],
    contexts: [{ name: CONTEXT, context: { cluster: CONTEXT, user: userName, namespace: 'default' } }],
    'current-context': CONTEXT,
  });
}

function loadKubeConfig(yamlText: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(yamlText);
  return kubeConfig;
}

function launch(name: string, bin: string, dir: string, args: readonly string[]): Managed {
  const logFile = join(dir, `${name}.log`);
  const log = openSync(logFile, 'a');
  const child = spawn(bin, args, { stdio: ['ignore', log, log] });
  closeSync(log);
  const managed: Managed = {
    name,
    child,
    logFile,
    exited: new Promise<string>((resolve) => {
      child.once('exit', (code, signal) => {
        resolve(signal ?? `exit code ${String(code)}`);
      });
      child.once('error', (error) => {
        resolve(`failed to start: ${error.message}`);
      });
    }),
  };
  void managed.exited.then((how) => (managed.exit = how));
  return managed;
}

/** Ends a readiness wait as soon as the process dies, instead of at the deadline. */
function died(managed: Managed): () => Error | undefined {
  return () =>
    managed.exit === undefined ? undefined : new Error(`${managed.name} exited (${managed.exit})`);
}

async function terminate(managed: Managed): Promise<void> {
  if (managed.exit !== undefined) return;
  managed.child.kill('SIGTERM');
  const timer = setTimeout(() => managed.child.kill('SIGKILL'), 10_000);
  await managed.exited;
  clearTimeout(timer);
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}
