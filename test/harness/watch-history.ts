/**
 * Every version an object goes through, from the API server's watch: the oracle for tests that
 * assert a sequence of states. A poll can miss a state that lived less than its interval (the flaky
 * `expected [ '90/10', '50/50', '0/100' ]` of issue 13 part 7); a watch from the object's
 * resourceVersion delivers each version the API server stored, in order.
 *
 * The watch resumes from the last resourceVersion when the server ends it or the connection drops
 * (an API server restart), so nothing is lost while etcd still has the history. When the API server
 * cannot replay it (410 Gone: a restarted server's watch cache starts at its own list), the object
 * is read again; if it moved on meanwhile, the versions in between are unknown and the history says
 * so in `gaps`, rather than pretending it saw everything.
 */
import { request, type RequestOptions } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { kubeRequest, type KubeEndpoint } from './kube-http.js';

interface Versioned {
  metadata: { name?: string; resourceVersion?: string };
}

export interface ObjectVersion<T> {
  /** INITIAL: the object as the watch began; RESUMED: read again after the server lost the history. */
  type: 'INITIAL' | 'ADDED' | 'MODIFIED' | 'DELETED' | 'RESUMED';
  resourceVersion: string;
  /** Undefined when the object does not exist (deleted, or not created yet). */
  object: T | undefined;
  /** When the test saw it (Date.now()). */
  seenAt: number;
}

class Gone extends Error {}

export class WatchHistory<T extends Versioned> {
  readonly versions: ObjectVersion<T>[] = [];
  /** Where versions may be missing: the server lost the history and the object had moved on. */
  readonly gaps: string[] = [];
  /** Watches that ended or failed and were resumed, for a test that wants to know. */
  resumes = 0;
  private resourceVersion = '';
  private stopped = false;
  private current: IncomingMessage | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly endpoint: KubeEndpoint,
    /** The collection, e.g. /apis/networking.istio.io/v1/namespaces/shop/virtualservices */
    private readonly collection: string,
    private readonly name: string,
  ) {}

  /** Reads the object as it is, then watches it until stop(). */
  async start(): Promise<this> {
    await this.read('INITIAL');
    this.running = this.run();
    return this;
  }

  /** The last version seen. */
  latest(): T | undefined {
    return this.versions.at(-1)?.object;
  }

  /** What `project` makes of each version, in order, with consecutive repeats folded into one. */
  states(project: (object: T | undefined) => string | undefined): string[] {
    const states: string[] = [];
    for (const version of this.versions) {
      const state = project(version.object);
      if (state !== undefined && states.at(-1) !== state) states.push(state);
    }
    return states;
  }

  /** Resolves once some version seen satisfies `check` (looks at the recorded history, not the server). */
  async waitFor(what: string, check: (object: T | undefined) => boolean, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.versions.some((version) => check(version.object))) {
      if (Date.now() > deadline)
        throw new Error(
          `timed out waiting for ${what} in the watch history of ${this.name} (${this.versions.length} versions)`,
        );
      await sleep(50);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.destroy();
    await this.running;
  }

  private isStopped(): boolean {
    return this.stopped;
  }

  private get selector(): string {
    return `metadata.name=${this.name}`;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.stream();
        this.resumes++;
      } catch (error) {
        // re-read after the await: stop() may have run meanwhile
        if (this.isStopped()) break;
        this.resumes++;
        if (error instanceof Gone) {
          await this.read('RESUMED').catch(() => sleep(100));
        } else {
          await sleep(100);
        }
      }
    }
  }

  /** Lists the one object by name: its version now, and the resourceVersion to watch from. */
  private async read(type: 'INITIAL' | 'RESUMED'): Promise<void> {
    const query = new URLSearchParams({ fieldSelector: this.selector });
    const response = await kubeRequest(this.endpoint, {
      method: 'GET',
      path: `${this.collection}?${query.toString()}`,
      timeoutMs: 5_000,
    });
    if (response.status !== 200)
      throw new Error(
        `listing ${this.collection} failed: HTTP ${response.status} ${JSON.stringify(response.body)}`,
      );
    const list = response.body as { metadata?: { resourceVersion?: string }; items?: T[] };
    const object = list.items?.[0];
    const previous = this.versions.at(-1);
    const rv = object?.metadata.resourceVersion ?? '';
    this.resourceVersion = list.metadata?.resourceVersion ?? rv;
    if (type === 'RESUMED' && previous) {
      const before = previous.object?.metadata.resourceVersion ?? '';
      if (before === rv) return; // nothing happened while the history was out of reach
      this.gaps.push(`${this.name}: between resourceVersion ${before || '(absent)'} and ${rv || '(absent)'}`);
    }
    this.versions.push({ type, resourceVersion: rv, object, seenAt: Date.now() });
  }

  private stream(): Promise<void> {
    const query = new URLSearchParams({
      watch: 'true',
      fieldSelector: this.selector,
      resourceVersion: this.resourceVersion,
      allowWatchBookmarks: 'true',
      timeoutSeconds: '60',
    });
    const url = new URL(`${this.collection}?${query.toString()}`, this.endpoint.serverUrl);
    const options: RequestOptions = {
      method: 'GET',
      ca: this.endpoint.caPem,
      headers: { authorization: `Bearer ${this.endpoint.token}`, accept: 'application/json' },
    };
    return new Promise<void>((resolve, reject) => {
      const req = request(url, options, (response) => {
        this.current = response;
        if (response.statusCode === 410) {
          response.resume();
          reject(new Gone('410'));
          return;
        }
        if (response.statusCode !== 200) {
          response.resume();
          reject(new Error(`watch ${url.pathname}: HTTP ${String(response.statusCode)}`));
          return;
        }
        let pending = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => {
          pending += chunk;
          for (let newline = pending.indexOf('\n'); newline >= 0; newline = pending.indexOf('\n')) {
            const line = pending.slice(0, newline).trim();
            pending = pending.slice(newline + 1);
            if (line === '') continue;
            try {
              this.apply(JSON.parse(line) as { type: string; object: unknown });
            } catch (error) {
              reject(error instanceof Error ? error : new Error(String(error)));
              response.destroy();
              return;
            }
          }
        });
        response.on('end', resolve);
        response.on('error', reject);
        response.on('close', () => {
          if (!response.complete) reject(new Error('the watch connection closed'));
          else resolve();
        });
      });
      req.on('error', reject);
      req.end();
    });
  }

  private apply(event: { type: string; object: unknown }): void {
    if (event.type === 'ERROR') {
      const status = event.object as { code?: number; message?: string };
      if (status.code === 410) throw new Gone(status.message ?? '410');
      throw new Error(`watch error: ${status.message ?? JSON.stringify(status)}`);
    }
    const object = event.object as T;
    const rv = object.metadata.resourceVersion ?? this.resourceVersion;
    this.resourceVersion = rv;
    if (event.type === 'BOOKMARK') return;
    const type = event.type as 'ADDED' | 'MODIFIED' | 'DELETED';
    this.versions.push({
      type,
      resourceVersion: rv,
      object: type === 'DELETED' ? undefined : object,
      seenAt: Date.now(),
    });
  }
}

/** Starts recording every version of one object; stop() it when done. */
export function watchHistory<T extends Versioned>(
  endpoint: KubeEndpoint,
  collection: string,
  name: string,
): Promise<WatchHistory<T>> {
  return new WatchHistory<T>(endpoint, collection, name).start();
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
