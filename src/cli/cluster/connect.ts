import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { connectKube, loadKubeConfig, type KubeClient } from '../../kube/client.js';
import { KubeError } from '../../kube/errors.js';
import type { KubePort } from '../../kube/port.js';
import { KINDS } from '../../kube/resources.js';
import { createLogger } from '../../telemetry/logger.js';
import { CliError } from './errors.js';

/** kubectl's connection flags. */
export interface ConnectOptions {
  kubeconfig?: string;
  context?: string;
  /** `-n`; without it the kubeconfig context's namespace, else `default`. */
  namespace?: string;
  /** `-A`: cache releases of every namespace instead of one. */
  allNamespaces?: boolean;
}

export interface Connection extends KubePort {
  /** The namespace the commands act in when `-n` is not given: the context's, else `default`. */
  namespace?: string;
  stop?(): Promise<void>;
}

/** Opens a cluster connection whose caches have synced; tests pass one over a MemoryKube. */
export type Connect = (options: ConnectOptions) => Promise<Connection>;

/** A cluster that does not answer its first list within this long is reported as unreachable. */
export const CONNECT_TIMEOUT_MS = 15_000;

/** Where the kubeconfig comes from, as the error messages name it. */
function kubeconfigSource(options: ConnectOptions): string {
  if (options.kubeconfig !== undefined) return options.kubeconfig;
  const fromEnv = process.env.KUBECONFIG;
  if (fromEnv) return fromEnv;
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) return home;
  return process.env.KUBERNETES_SERVICE_HOST ? 'the in-cluster service account' : `${home} (missing)`;
}

function timeout(ms: number): { promise: Promise<never>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new Error(`no answer within ${ms / 1000}s`));
    }, ms);
  });
  return {
    promise,
    cancel: () => {
      clearTimeout(timer);
    },
  };
}

const RELEASES = `${KINDS.CanaryRelease.plural}.${KINDS.CanaryRelease.group}`;

/** Why the commands cannot use the cluster, naming what the user picked: server, context, kubeconfig. */
function connectionError(err: unknown, server: string, where: string, scope: string): CliError {
  const said = err instanceof Error ? err.message : String(err);
  if (err instanceof KubeError && err.status === 401) {
    return new CliError(`the API server at ${server} rejected the credentials of ${where}: ${said}`, false, {
      cause: err,
    });
  }
  if (err instanceof KubeError && err.code === 'Forbidden') {
    return new CliError(
      `forbidden: you may not list and watch ${RELEASES} ${scope} at ${server} (${where}); ask for RBAC verbs "list" and "watch" on ${RELEASES}. The API server said: ${said}`,
      false,
      { cause: err },
    );
  }
  if (err instanceof KubeError && err.code === 'NotFound') {
    return new CliError(
      `the API server at ${server} (${where}) does not serve ${RELEASES}: install canaria's CRDs (helm install canaria charts/canaria) or pick another --context`,
      false,
      { cause: err },
    );
  }
  const reason = said.includes(server)
    ? said
    : `cannot reach the Kubernetes API server at ${server}: ${said}`;
  return new CliError(`${reason} (${where}); check --kubeconfig and --context`, true, { cause: err });
}

/** The default connection: client-node informers on CanaryReleases only, in one namespace or all. */
export const connectCluster: Connect = async (options) => {
  const source = kubeconfigSource(options);
  let kubeConfig: KubeConfig;
  try {
    kubeConfig = loadKubeConfig({
      ...(options.kubeconfig === undefined ? {} : { kubeconfig: options.kubeconfig }),
      ...(options.context === undefined ? {} : { context: options.context }),
    });
  } catch (err) {
    throw new CliError(`cannot load the kubeconfig ${source}: ${(err as Error).message}`, false, {
      cause: err,
    });
  }
  const context = kubeConfig.getCurrentContext();
  const namespace =
    options.namespace ?? (kubeConfig.getContextObject(context)?.namespace || undefined) ?? 'default';
  const server = kubeConfig.getCurrentCluster()?.server ?? '(no server)';
  const scope = options.allNamespaces ? 'in all namespaces' : `in namespace ${namespace}`;
  let client: KubeClient | undefined;
  const limit = timeout(CONNECT_TIMEOUT_MS);
  try {
    client = await connectKube({
      kubeConfig,
      kinds: ['CanaryRelease'],
      ...(options.allNamespaces ? {} : { namespaces: [namespace] }),
      requestTimeoutMs: CONNECT_TIMEOUT_MS,
      // the command's own output is the report; the adapter speaks up only when something breaks
      logger: createLogger({ level: process.env.LOG_LEVEL ?? 'error' }),
    });
    await Promise.race([client.start(), limit.promise]);
    return Object.assign(client, { namespace });
  } catch (err) {
    await client?.stop();
    throw connectionError(err, server, `context "${context}" in ${source}`, scope);
  } finally {
    limit.cancel();
  }
};
