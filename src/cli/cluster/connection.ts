import type { KubePort } from '../../kube/port.js';
import type { Kind } from '../../kube/resources.js';

/** kubectl's connection flags, and how long the commands may take to connect. */
export interface ConnectOptions {
  kubeconfig?: string;
  context?: string;
  /** `-n`; without it the kubeconfig context's namespace, else `default`. */
  namespace?: string;
  /** `-A`: cache releases of every namespace instead of one. */
  allNamespaces?: boolean;
  /** The kinds to cache; CanaryReleases when absent. */
  kinds?: Kind[];
  /** Connecting and the first list of every kind must be done within this long. */
  timeoutMs?: number;
}

export interface Connection extends KubePort {
  /** The namespace the commands act in when `-n` is not given: the context's, else `default`. */
  namespace?: string;
  stop?(): Promise<void>;
}

/** Opens a cluster connection whose caches have synced; tests pass one over a MemoryKube. */
export type Connect = (options: ConnectOptions) => Promise<Connection>;

/** kubectl's --request-timeout, which canaria gives a default: a silent server must not hang a command. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;
