import { setTimeout as sleep } from 'node:timers/promises';
import { KubeConfig } from '@kubernetes/client-node';
import type { CanaryReleaseStatus } from '../api/canary-release.js';
import { createLogger, type Logger } from '../telemetry/logger.js';
import { KubeError } from './errors.js';
import { KubeHttp, type KubeCallObserver } from './http.js';
import { Informer, type Change } from './informer.js';
import { ServerRecovery } from './recovery.js';
import type { JsonPatchOperation } from './json-patch.js';
import { EventCorrelator } from './events.js';
import type { KubeEvent, KubePort, StatusWriteOptions, WatchHandler } from './port.js';
import {
  apiVersionOf,
  collectionPath,
  CONTROLLER_KINDS,
  KINDS,
  refKey,
  refOf,
  type Kind,
  type KubeObject,
  type Ref,
} from './resources.js';

/** Waits between tries of an Event while the API server is away: about 12 s in all. */
const EVENT_RETRY_DELAYS_MS = [500, 1_000, 2_000, 4_000, 4_000];
export interface ConnectOptions {
  kubeConfig: KubeConfig;
  /** Watch only these namespaces; all namespaces when absent or empty. */
  namespaces?: string[];
  /** Recorded in managedFields for every write. */
  fieldManager?: string;
  /** Every cache is listed again this often, a safety net under the watches. */
  relistIntervalMs?: number;
  /** A watch that delivered nothing, not even a bookmark, for this long is restarted. */
  watchStallMs?: number;
  /** Timeout of each API call other than watches. */
  requestTimeoutMs?: number;
  logger?: Logger;
  kinds?: Kind[];
  /** Told of every call to the API server but watches, for the controller's metrics. */
  onRequest?: KubeCallObserver;
}

/** The Kube port on a real API server, with the caches' lifecycle. */
export interface KubeClient extends KubePort {
  /** Lists and watches every kind in every watched namespace; resolves once every cache has synced. */
  start(): Promise<void>;
  /** Ends every watch and cancels calls in flight; a stopped client stays stopped. */
  stop(): Promise<void>;
}

const DEFAULTS = {
  fieldManager: 'canaria',
  relistIntervalMs: 5 * 60_000,
  watchStallMs: 10 * 60_000,
  requestTimeoutMs: 30_000,
};
/** Events carry evidence, but the API server and `kubectl describe` are no place for pages of it. */
const EVENT_MESSAGE_MAX_BYTES = 1024;
const STATUS_WRITE_ATTEMPTS = 4;
const STATUS_RETRY_MS = 200;

/**
 * Loads the kubeconfig as kubectl would: the given file, else in-cluster when running in a pod without
 * KUBECONFIG, else the default chain (KUBECONFIG, ~/.kube/config). `context` picks a context by name.
 */
export function loadKubeConfig(options: { kubeconfig?: string; context?: string } = {}): KubeConfig {
  const kubeConfig = new KubeConfig();
  if (options.kubeconfig !== undefined) kubeConfig.loadFromFile(options.kubeconfig);
  else if (!process.env.KUBECONFIG && process.env.KUBERNETES_SERVICE_HOST) kubeConfig.loadFromCluster();
  else kubeConfig.loadFromDefault();
  if (options.context !== undefined) {
    const names = kubeConfig.getContexts().map((context) => context.name);
    if (!names.includes(options.context)) {
      throw new Error(
        `context "${options.context}" is not in the kubeconfig; pick one of: ${names.join(', ') || '(none)'}`,
      );
    }
    kubeConfig.setCurrentContext(options.context);
  }
  return kubeConfig;
}

/** Checks that the API server answers with these credentials, then returns a client to start. */
export async function connectKube(options: ConnectOptions): Promise<KubeClient> {
  const requestTimeoutMs = options.requestTimeoutMs ?? DEFAULTS.requestTimeoutMs;
  // the probe runs only once the informers wait, long after `http` exists
  const recovery = new ServerRecovery(() =>
    http.request({ method: 'GET', path: '/version', timeoutMs: 5_000 }),
  );
  const http = new KubeHttp(options.kubeConfig, requestTimeoutMs, (call) => {
    options.onRequest?.(call);
    if (call.result === 'ok') recovery.answered();
  });
  const server = options.kubeConfig.getCurrentCluster()?.server ?? '(no server)';
  try {
    await http.request({ method: 'GET', path: '/version' });
  } catch (error) {
    http.stop();
    const message = error instanceof Error ? error.message : String(error);
    throw new KubeError(
      error instanceof KubeError ? error.code : 'Unavailable',
      `cannot reach the Kubernetes API server at ${server}: ${message}`,
      error instanceof KubeError ? error.status : undefined,
      { cause: error },
    );
  }
  return new ApiServerKube(http, recovery, {
    namespaces: [...new Set(options.namespaces ?? [])],
    fieldManager: options.fieldManager ?? DEFAULTS.fieldManager,
    relistIntervalMs: options.relistIntervalMs ?? DEFAULTS.relistIntervalMs,
    watchStallMs: options.watchStallMs ?? DEFAULTS.watchStallMs,
    logger: options.logger ?? createLogger(),
    kinds: options.kinds ?? CONTROLLER_KINDS,
  });
}

interface Settings {
  namespaces: string[];
  fieldManager: string;
  relistIntervalMs: number;
  watchStallMs: number;
  logger: Logger;
  kinds: Kind[];
}

function objectPath(kind: Kind, ref: Ref): string {
  return `${collectionPath(kind, KINDS[kind].namespaced ? ref.namespace : undefined)}/${ref.name}`;
}

class ApiServerKube implements KubeClient {
  /** By `${kind}/${namespace}`; namespace '' for a cache of all namespaces. */
  private readonly informers = new Map<string, Informer>();
  private readonly handlers = new Set<WatchHandler>();
  private readonly log: Logger;
  private readonly events = new EventCorrelator();

  constructor(
    private readonly http: KubeHttp,
    private readonly recovery: ServerRecovery,
    private readonly settings: Settings,
  ) {
    this.log = settings.logger.child({ component: 'kube' });
  }

  async start(): Promise<void> {
    if (this.informers.size > 0) throw new Error('the Kubernetes client was started already');
    for (const kind of this.settings.kinds) {
      const scopes =
        KINDS[kind].namespaced && this.settings.namespaces.length > 0
          ? this.settings.namespaces
          : [undefined];
      for (const namespace of scopes) {
        const informer = new Informer({
          http: this.http,
          kind,
          namespace,
          relistIntervalMs: this.settings.relistIntervalMs,
          watchStallMs: this.settings.watchStallMs,
          logger: this.log,
          onChange: (object, change) => {
            this.notify(kind, object, change);
          },
          waitToRetry: (ms, signal) => this.recovery.wait(ms, signal),
        });
        this.informers.set(`${kind}/${namespace ?? ''}`, informer);
      }
    }
    try {
      await Promise.all([...this.informers.values()].map((informer) => informer.start()));
    } catch (error) {
      await this.stop();
      throw error;
    }
    this.log.info(
      {
        kinds: this.settings.kinds,
        namespaces: this.settings.namespaces.length ? this.settings.namespaces : 'all',
      },
      'caches synced',
    );
  }

  async stop(): Promise<void> {
    this.http.stop();
    await Promise.all([...this.informers.values()].map((informer) => informer.stop()));
  }

  private notify(kind: Kind, object: KubeObject, change: Change): void {
    if (this.handlers.size === 0) return;
    // the cache's own frozen object: handlers read it, none may change it
    for (const handler of this.handlers) {
      try {
        handler(kind, object, change);
      } catch (error) {
        this.log.error({ err: error, kind, object: objectKey(object), change }, 'watch handler failed');
      }
    }
  }

  private informerFor(kind: Kind, namespace: string): Informer | undefined {
    const restricted = KINDS[kind].namespaced && this.settings.namespaces.length > 0;
    return this.informers.get(`${kind}/${restricted ? namespace : ''}`);
  }

  get(kind: Kind, ref: Ref): KubeObject | undefined {
    const key = KINDS[kind].namespaced ? refKey(ref) : ref.name;
    // read-only: the cache's frozen object, not a copy
    return this.informerFor(kind, ref.namespace)?.get(key);
  }

  list(kind: Kind, namespace?: string): KubeObject[] {
    const informers =
      namespace === undefined || !KINDS[kind].namespaced
        ? [...this.informers.entries()]
            .filter(([key]) => key.startsWith(`${kind}/`))
            .map(([, informer]) => informer)
        : [this.informerFor(kind, namespace)];
    const inNamespace = KINDS[kind].namespaced ? namespace : undefined;
    return informers.flatMap((informer) => informer?.list(inNamespace) ?? []);
  }

  async patch(kind: Kind, ref: Ref, ops: readonly JsonPatchOperation[]): Promise<KubeObject> {
    try {
      return await this.http.request<KubeObject>({
        method: 'PATCH',
        path: objectPath(kind, ref),
        query: { fieldManager: this.settings.fieldManager },
        body: ops,
        contentType: 'application/json-patch+json',
      });
    } catch (error) {
      // The API server answers a failed `test` with a bare 422 that does not say which op failed; with
      // guards in the patch, someone else changing the object is the likely reason, so re-read and re-plan.
      if (error instanceof KubeError && error.status === 422 && ops.some((op) => op.op === 'test')) {
        throw new KubeError(
          'Conflict',
          `${kind} ${refKey(ref)} changed since it was read: ${error.message}`,
          422,
          {
            cause: error,
          },
        );
      }
      throw error;
    }
  }

  async create(kind: Kind, object: KubeObject): Promise<KubeObject> {
    const namespace = object.metadata.namespace ?? '';
    return this.http.request<KubeObject>({
      method: 'POST',
      path: collectionPath(kind, KINDS[kind].namespaced ? namespace : undefined),
      query: { fieldManager: this.settings.fieldManager },
      body: { ...object, apiVersion: apiVersionOf(kind), kind },
    });
  }

  async delete(kind: Kind, ref: Ref): Promise<void> {
    try {
      await this.http.request({ method: 'DELETE', path: objectPath(kind, ref) });
    } catch (error) {
      // deleting what is already gone is done
      if (!(error instanceof KubeError && error.code === 'NotFound')) throw error;
    }
  }

  /**
   * Replaces `.status` as a whole through the status subresource, so the stored status is exactly the
   * one given (a merge patch would keep keys the new status leaves out) and no spec edit can conflict.
   * With a resourceVersion the patch carries it, and the API server takes it as a precondition: a
   * release changed since (by anyone, this controller included) answers 409 and nothing is written.
   * A conflict is not retried here: the status was decided from what is now an old release.
   */
  async writeReleaseStatus(
    ref: Ref,
    status: CanaryReleaseStatus,
    options: StatusWriteOptions = {},
  ): Promise<string> {
    const precondition =
      options.resourceVersion === undefined
        ? []
        : [{ op: 'add', path: '/metadata/resourceVersion', value: options.resourceVersion }];
    for (let attempt = 1; ; attempt++) {
      try {
        const written = await this.http.request<KubeObject>({
          method: 'PATCH',
          path: `${objectPath('CanaryRelease', ref)}/status`,
          query: { fieldManager: this.settings.fieldManager },
          body: [...precondition, { op: 'add', path: '/status', value: status }],
          contentType: 'application/json-patch+json',
        });
        return written.metadata.resourceVersion ?? '';
      } catch (error) {
        if (
          !(error instanceof KubeError) ||
          !error.retryable ||
          error.code === 'Conflict' ||
          attempt >= STATUS_WRITE_ATTEMPTS
        )
          throw error;
        const retryInMs = STATUS_RETRY_MS * 2 ** (attempt - 1);
        this.log.debug(
          { err: error, release: refKey(ref), attempt, retryInMs },
          'status write failed; retrying',
        );
        await sleep(retryInMs);
      }
    }
  }

  /**
   * Creates the Event, or, for a repeat of one recorded before (same object, type, reason and
   * message), bumps that Event's count and lastTimestamp. An Event that expired meanwhile is created
   * again.
   */
  /**
   * Records an Event, trying again while the API server is unavailable (as client-go's recorder
   * does): the decision's status is already written, so an Event lost to a restart of the API
   * server would leave a decision without its Event. Only Unavailable is retried, never a Timeout,
   * whose create may have landed and would then be recorded twice.
   */
  async recordEvent(release: KubeObject, event: KubeEvent): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await this.recordEventOnce(release, event);
        return;
      } catch (error) {
        const delay = EVENT_RETRY_DELAYS_MS[attempt];
        if (!(error instanceof KubeError && error.code === 'Unavailable') || delay === undefined) throw error;
        await new Promise((resolve) => setTimeout(resolve, delay));
      }
    }
  }

  private async recordEventOnce(release: KubeObject, event: KubeEvent): Promise<void> {
    const namespace = release.metadata.namespace ?? '';
    const now = new Date().toISOString();
    const message = truncateUtf8(event.message, EVENT_MESSAGE_MAX_BYTES);
    const involved = { ...release, kind: release.kind ?? 'CanaryRelease' };
    const plan = this.events.plan(involved, event, message);
    if (plan.op === 'update') {
      try {
        await this.http.request({
          method: 'PATCH',
          path: `/api/v1/namespaces/${namespace}/events/${plan.name}`,
          query: { fieldManager: this.settings.fieldManager },
          body: { count: plan.count, lastTimestamp: now },
          contentType: 'application/merge-patch+json',
        });
        this.events.stored(plan.key, {
          name: plan.name,
          count: plan.count,
          firstTimestamp: plan.firstTimestamp,
        });
        return;
      } catch (error) {
        if (!(error instanceof KubeError && error.code === 'NotFound')) throw error;
        this.events.forget(plan.key);
      }
    }
    const created = await this.http.request<KubeObject>({
      method: 'POST',
      path: `/api/v1/namespaces/${namespace}/events`,
      query: { fieldManager: this.settings.fieldManager },
      body: {
        apiVersion: 'v1',
        kind: 'Event',
        metadata: { generateName: `${release.metadata.name}.`, namespace },
        involvedObject: {
          apiVersion: release.apiVersion ?? apiVersionOf('CanaryRelease'),
          kind: involved.kind,
          name: release.metadata.name,
          namespace,
          uid: release.metadata.uid,
          resourceVersion: release.metadata.resourceVersion,
        },
        reason: event.reason,
        message,
        type: event.severity,
        source: { component: 'canaria' },
        reportingComponent: 'canaria',
        firstTimestamp: now,
        lastTimestamp: now,
        count: 1,
      },
    });
    this.events.stored(plan.key, { name: created.metadata.name, count: 1, firstTimestamp: now });
  }

  watch(handler: WatchHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  synced(): boolean {
    return this.informers.size > 0 && [...this.informers.values()].every((informer) => informer.synced);
  }
}

function objectKey(object: KubeObject): string {
  return refKey(refOf(object));
}

/** Cuts `text` to at most `maxBytes` of UTF-8 without splitting a character, marking the cut with '…'. */
function truncateUtf8(text: string, maxBytes: number): string {
  if (Buffer.byteLength(text) <= maxBytes) return text;
  const ellipsis = '…';
  let budget = maxBytes - Buffer.byteLength(ellipsis);
  let end = 0;
  for (const char of text) {
    budget -= Buffer.byteLength(char);
    if (budget < 0) break;
    end += char.length;
  }
  return text.slice(0, end) + ellipsis;
}
