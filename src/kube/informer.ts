import { setTimeout as sleep } from 'node:timers/promises';
import { deepFreeze } from '../lib/frozen.js';
import { CacheIndex, trimForCache } from './cache-index.js';
import type { Logger } from '../telemetry/logger.js';
import { KubeError, kubeErrorFromStatus } from './errors.js';
import type { KubeHttp, WatchEvent } from './http.js';
import {
  apiVersionOf,
  collectionPath,
  KINDS,
  refKey,
  refOf,
  type Kind,
  type KubeObject,
} from './resources.js';

export type Change = 'added' | 'modified' | 'deleted';

export interface InformerOptions {
  http: KubeHttp;
  kind: Kind;
  /** Watch one namespace; undefined watches all of them (and is the only choice for cluster-scoped kinds). */
  namespace: string | undefined;
  relistIntervalMs: number;
  watchStallMs: number;
  logger: Logger;
  /** Called after the cache changed. */
  onChange: (object: KubeObject, change: Change) => void;
  /** Waits out a backoff; the client's cuts it short once the API server answers again. */
  waitToRetry?: (ms: number, signal: AbortSignal) => Promise<void>;
}

interface ObjectList {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: KubeObject[];
}

const PAGE_SIZE = 500;
const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 30_000;
// As client-go: watches end server-side after 5-10 minutes, spread so they do not all reconnect at once.
const MIN_WATCH_TIMEOUT_S = 300;

/** Why a watch was ended on purpose; anything else ending it is a failure. */
const RELIST = 'relist';
const GONE = 'gone';

/**
 * A cache of one kind in one namespace (or all), kept by list-then-watch. After any failure it backs
 * off (1 s doubling to 30 s, cut short by `waitToRetry` once the API server answers) and lists again, and the list is compared with the cache, so objects
 * deleted while the watch was down are reported deleted. It also lists again every relistIntervalMs,
 * and gives up a watch that has been silent (not even a bookmark) for watchStallMs.
 */
export class Informer {
  private readonly items = new CacheIndex();
  private resourceVersion = '';
  private hasSynced = false;
  /** Failures in a row; reset by the first event a watch delivers. */
  private failures = 0;
  private readonly stopping = new AbortController();
  private currentWatch: AbortController | undefined;
  private relistTimer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(private readonly options: InformerOptions) {
    this.log = options.logger.child({ kind: options.kind, namespace: options.namespace ?? '(all)' });
  }

  /** Starts listing and watching; resolves once the first list is in the cache. */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.running = this.run(resolve, reject);
    });
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    this.currentWatch?.abort();
    clearInterval(this.relistTimer);
    await this.running;
  }

  // A method, not a getter: the loop must re-read it after every await, not keep a narrowed value.
  private stopped(): boolean {
    return this.stopping.signal.aborted;
  }

  get synced(): boolean {
    return this.hasSynced;
  }

  get(key: string): KubeObject | undefined {
    return this.items.get(key);
  }

  /** Read-only (frozen) objects, of one namespace or all. */
  list(namespace?: string): KubeObject[] {
    return this.items.list(namespace);
  }

  private get path(): string {
    return collectionPath(this.options.kind, this.options.namespace);
  }

  private async run(synced: () => void, failed: (error: Error) => void): Promise<void> {
    let mustList = true;
    while (!this.stopped()) {
      try {
        if (mustList) {
          await this.relist();
          mustList = false;
          if (!this.hasSynced) {
            this.hasSynced = true;
            this.relistTimer = setInterval(
              () => this.currentWatch?.abort(RELIST),
              this.options.relistIntervalMs,
            );
            synced();
          }
        }
        mustList = (await this.watch()) === 'relist';
      } catch (error) {
        if (this.stopped()) break;
        const cause =
          error instanceof KubeError
            ? error
            : new KubeError('Unavailable', String(error), undefined, { cause: error });
        // Before the first sync nothing works yet: a missing CRD or permission must stop start() with its reason.
        if (!this.hasSynced && !cause.retryable) {
          failed(
            new KubeError(cause.code, `cannot list ${this.what}: ${cause.message}`, cause.status, { cause }),
          );
          return;
        }
        this.failures++;
        mustList = true;
        const retryInMs = Math.min(FIRST_RETRY_MS * 2 ** (this.failures - 1), MAX_RETRY_MS);
        this.log.warn({ err: cause, retryInMs }, 'list/watch failed; listing again after a pause');
        try {
          const wait =
            this.options.waitToRetry ??
            ((ms, signal) => sleep(ms, undefined, { signal }).then(() => undefined));
          await wait(retryInMs, this.stopping.signal);
        } catch {
          break;
        }
      }
    }
    if (!this.hasSynced) failed(new KubeError('Unavailable', `stopped before ${this.what} was listed`));
  }

  private get what(): string {
    const { group, plural } = KINDS[this.options.kind];
    const where =
      this.options.namespace === undefined ? 'in all namespaces' : `in namespace ${this.options.namespace}`;
    return `${plural}.${group} ${where}`;
  }

  /** Lists every page, replaces the cache with the result and reports what changed. */
  private async relist(): Promise<void> {
    const listed = new Map<string, KubeObject>();
    let next: string | undefined;
    let resourceVersion = '';
    do {
      const page = await this.options.http.request<ObjectList>({
        method: 'GET',
        path: this.path,
        query: { limit: PAGE_SIZE, continue: next },
        signal: this.stopping.signal,
      });
      for (const item of page.items ?? []) {
        const object = this.normalize(item);
        listed.set(this.keyOf(object), object);
      }
      next = page.metadata?.continue || undefined;
      resourceVersion = page.metadata?.resourceVersion ?? '';
    } while (next !== undefined);

    for (const [key, old] of [...this.items.entries()]) {
      if (!listed.has(key)) {
        this.items.delete(key);
        this.options.onChange(old, 'deleted');
      }
    }
    for (const [key, object] of listed) {
      const old = this.items.get(key);
      const kept = this.items.set(key, object);
      if (!old) this.options.onChange(kept, 'added');
      else if (old.metadata.resourceVersion !== kept.metadata.resourceVersion)
        this.options.onChange(kept, 'modified');
    }
    this.resourceVersion = resourceVersion;
    this.log.debug({ objects: listed.size, resourceVersion }, 'listed');
  }

  /**
   * Watches from the cache's resourceVersion. 'resume': the server ended a healthy watch, carry on from
   * where it stopped; 'relist': the cache must be listed again (periodic relist, or history gone). A
   * watch that ends without delivering anything is a failure, so a server that closes every watch at
   * once cannot make this spin.
   */
  private async watch(): Promise<'resume' | 'relist'> {
    const controller = new AbortController();
    this.currentWatch = controller;
    let delivered = 0;
    try {
      await this.options.http.watch(
        this.path,
        {
          resourceVersion: this.resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds: Math.floor(MIN_WATCH_TIMEOUT_S * (1 + Math.random())),
        },
        (event) => {
          delivered++;
          this.apply(event, controller);
        },
        { signal: controller.signal, stallMs: this.options.watchStallMs },
      );
    } catch (error) {
      const reason: unknown = controller.signal.reason;
      if (!controller.signal.aborted || this.stopped()) throw error;
      if (reason === RELIST || reason === GONE) return 'relist';
      throw reason;
    } finally {
      this.currentWatch = undefined;
    }
    if (delivered === 0)
      throw new KubeError('Unavailable', `the watch of ${this.what} ended without delivering anything`);
    return 'resume';
  }

  private apply(event: WatchEvent, controller: AbortController): void {
    // Lines already buffered when the watch was ended belong to a stream we no longer follow.
    if (controller.signal.aborted) return;
    if (event.type === 'ERROR') {
      const status = event.object as { code?: number; message?: string };
      // 410 Gone: the history since our resourceVersion was compacted away; only a new list can catch up.
      if (status.code === 410) controller.abort(GONE);
      else
        controller.abort(
          kubeErrorFromStatus(
            status.code ?? 500,
            `watch of ${this.what}: ${status.message ?? 'error'}`,
            status,
          ),
        );
      return;
    }
    this.failures = 0;
    const object = event.object as KubeObject;
    this.resourceVersion = object.metadata.resourceVersion ?? this.resourceVersion;
    if (event.type === 'BOOKMARK') return;
    const normalized = this.normalize(object);
    const key = this.keyOf(normalized);
    if (event.type === 'DELETED') {
      this.items.delete(key);
      this.options.onChange(deepFreeze(trimForCache(normalized)), 'deleted');
      return;
    }
    const existed = this.items.has(key);
    this.options.onChange(this.items.set(key, normalized), existed ? 'modified' : 'added');
  }

  private keyOf(object: KubeObject): string {
    return refKey(refOf(object));
  }

  /** Lists leave apiVersion and kind out of built-in items; the cache always has them, as MemoryKube's does. */
  private normalize(object: KubeObject): KubeObject {
    return { ...object, apiVersion: apiVersionOf(this.options.kind), kind: this.options.kind };
  }
}
