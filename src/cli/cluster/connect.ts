import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import type { KubeConfig } from '@kubernetes/client-node';
import { formatDuration } from '../../api/duration.js';
import { connectKube, loadKubeConfig, type KubeClient } from '../../kube/client.js';
import { KubeError } from '../../kube/errors.js';
import { KINDS, type Kind } from '../../kube/resources.js';
import { createLogger } from '../../telemetry/logger.js';
import { CliError, explainMissingKind } from './errors.js';
import { DEFAULT_REQUEST_TIMEOUT_MS, type Connect } from './connection.js';

/*
 * This module loads @kubernetes/client-node, which costs most of a command's start-up: only the
 * commands that talk to a cluster import it, through env.ts's lazy `connect`.
 */

/** Where the kubeconfig comes from, as the error messages name it. */
function kubeconfigSource(kubeconfig: string | undefined): string {
  if (kubeconfig !== undefined) return kubeconfig;
  const fromEnv = process.env.KUBECONFIG;
  if (fromEnv) return fromEnv;
  const home = join(homedir(), '.kube', 'config');
  if (existsSync(home)) return home;
  return process.env.KUBERNETES_SERVICE_HOST ? 'the in-cluster service account' : `${home} (missing)`;
}

/** How to point the commands at a cluster, said wherever none is configured. */
const POINT_AT_A_CLUSTER =
  'point at a cluster with --kubeconfig FILE or KUBECONFIG=FILE, or write ~/.kube/config (kind create cluster, minikube start, or your provider, e.g. gcloud container clusters get-credentials / aws eks update-kubeconfig / az aks get-credentials)';

/**
 * The kubeconfig is missing when nothing names one and nothing is where kubectl looks: client-node
 * would fall back to http://localhost:8080 and fail with a message about TLS.
 */
function missingKubeconfig(kubeconfig: string | undefined): CliError | undefined {
  if (kubeconfig !== undefined) return undefined;
  const home = join(homedir(), '.kube', 'config');
  const fromEnv = process.env.KUBECONFIG;
  if (fromEnv) {
    const files = fromEnv.split(delimiter).filter(Boolean);
    if (files.some((file) => existsSync(file))) return undefined;
    return new CliError(
      `no kubeconfig: KUBECONFIG is set to ${fromEnv}, and no such file exists; ${POINT_AT_A_CLUSTER}`,
    );
  }
  if (existsSync(home) || process.env.KUBERNETES_SERVICE_HOST) return undefined;
  return new CliError(
    `no cluster configured: ${home} does not exist, KUBECONFIG is not set, and this is not a pod (KUBERNETES_SERVICE_HOST is not set); ${POINT_AT_A_CLUSTER}`,
  );
}

const resourcesOf = (kinds: readonly Kind[]) =>
  kinds.map((kind) => `${KINDS[kind].plural}${KINDS[kind].group ? `.${KINDS[kind].group}` : ''}`).join(', ');

/** Why the commands cannot use the cluster, naming what the user picked: server, context, kubeconfig. */
function connectionError(
  err: unknown,
  server: string,
  where: string,
  scope: string,
  kinds: readonly Kind[],
  timeoutMs: number,
): CliError {
  if (err instanceof CliError) return err;
  if (err instanceof KubeError && err.code === 'Timeout') return silentServer(server, where, timeoutMs);
  const said = err instanceof Error ? err.message : String(err);
  if (err instanceof KubeError && err.status === 401) {
    return new CliError(`the API server at ${server} rejected the credentials of ${where}: ${said}`, {
      cause: err,
    });
  }
  const resources = resourcesOf(kinds);
  if (err instanceof KubeError && err.code === 'Forbidden') {
    return new CliError(
      `forbidden: you may not list and watch ${resources} ${scope} at ${server} (${where}); ask for RBAC verbs "list" and "watch" on ${resources}. The API server said: ${said}`,
      { cause: err },
    );
  }
  const crds = explainMissingKind(err, `the cluster at ${server} (${where})`);
  if (crds !== undefined) return new CliError(crds, { cause: err });
  const reason = said.includes(server)
    ? said
    : `cannot reach the Kubernetes API server at ${server}: ${said}`;
  return new CliError(`${reason} (${where}); check --kubeconfig and --context`, {
    retryable: true,
    cause: err,
  });
}

/** A server that let the deadline pass: it accepted the connection, or never completed it. */
const silentServer = (server: string, where: string, timeoutMs: number): CliError =>
  new CliError(
    `the Kubernetes API server at ${server} did not answer within ${formatDuration(timeoutMs)} (${where}); check that it is up and reachable from here (VPN, proxy, firewall) and the --context, or give it longer with --request-timeout`,
    { retryable: true },
  );

/** Rejects after `ms` with the error `make` builds; `cancel` stops the clock. */
function deadline(ms: number, make: () => Error): { expired: Promise<never>; cancel(): void } {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(make());
    }, ms);
  });
  return {
    expired,
    cancel: () => {
      clearTimeout(timer);
    },
  };
}

/**
 * The default connection: client-node's kubeconfig, and informers on the kinds asked for
 * (CanaryReleases unless told otherwise), in one namespace or all. Connecting and the first list
 * together take at most `timeoutMs`: a server that accepts the connection and never answers is
 * reported in one line when it passes, and nothing of the attempt is left running.
 */
export const connectCluster: Connect = async (options) => {
  const missing = missingKubeconfig(options.kubeconfig);
  if (missing) throw missing;
  const source = kubeconfigSource(options.kubeconfig);
  let kubeConfig: KubeConfig;
  try {
    kubeConfig = loadKubeConfig({
      ...(options.kubeconfig === undefined ? {} : { kubeconfig: options.kubeconfig }),
      ...(options.context === undefined ? {} : { context: options.context }),
    });
  } catch (err) {
    throw new CliError(`cannot load the kubeconfig ${source}: ${(err as Error).message}`, { cause: err });
  }
  const context = kubeConfig.getCurrentContext();
  const contexts = kubeConfig.getContexts().map((c) => c.name);
  if (!context || !kubeConfig.getCurrentCluster()) {
    throw new CliError(
      `the kubeconfig ${source} has no current context${contexts.length ? `; pick one of ${contexts.join(', ')} with --context, or: kubectl config use-context NAME` : ` and no contexts; ${POINT_AT_A_CLUSTER}`}`,
    );
  }
  const namespace =
    options.namespace ?? (kubeConfig.getContextObject(context)?.namespace || undefined) ?? 'default';
  const server = kubeConfig.getCurrentCluster()?.server ?? '(no server)';
  const scope = options.allNamespaces ? 'in all namespaces' : `in namespace ${namespace}`;
  const where = `context "${context}" in ${source}`;
  const kinds = options.kinds ?? ['CanaryRelease'];
  const timeoutMs = options.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;

  let client: KubeClient | undefined;
  const attemptState = { gaveUp: false };
  const attempt = (async () => {
    const connected = await connectKube({
      kubeConfig,
      kinds,
      ...(options.allNamespaces ? {} : { namespaces: [namespace] }),
      // every call of the attempt ends by the deadline, so nothing keeps the process alive after it
      requestTimeoutMs: timeoutMs,
      // the command's own output is the report; the adapter speaks up only when something breaks
      logger: createLogger({ level: process.env.LOG_LEVEL ?? 'silent' }),
    });
    client = connected;
    if (attemptState.gaveUp) {
      await connected.stop();
      throw new Error('gave up');
    }
    await connected.start();
    return connected;
  })();
  const limit = deadline(timeoutMs, () => silentServer(server, where, timeoutMs));
  try {
    const connected = await Promise.race([attempt, limit.expired]);
    return Object.assign(connected, { namespace });
  } catch (err) {
    attemptState.gaveUp = true;
    await client?.stop();
    throw connectionError(err, server, where, scope, kinds, timeoutMs);
  } finally {
    limit.cancel();
  }
};
