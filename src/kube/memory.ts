import type { CanaryReleaseStatus } from '../api/canary-release.js';
import { KubeError } from './errors.js';
import {
  applyJsonPatch,
  JsonPatchError,
  jsonEqual,
  PatchTestFailed,
  type JsonPatchOperation,
} from './json-patch.js';
import { CacheIndex } from './cache-index.js';
import { EventCorrelator } from './events.js';
import type { KubeEvent, KubePort, StatusWriteOptions, WatchHandler } from './port.js';
import { apiVersionOf, KINDS, refKey, refOf, type Kind, type KubeObject, type Ref } from './resources.js';

/** An Event object as MemoryKube stores it. */
export interface StoredEvent {
  name: string;
  release: Ref;
  event: KubeEvent;
  count: number;
  firstTimestamp: string;
  lastTimestamp: string;
}

/**
 * An in-memory API server behind the Kube port, for unit tests and the simulator. It keeps
 * resourceVersion and generation as the real one does and tells watchers after every change.
 */
export class MemoryKube implements KubePort {
  private readonly store = new Map<Kind, CacheIndex>();
  private readonly handlers = new Set<WatchHandler>();
  private revision = 0;
  /** Every recordEvent call, in order. */
  readonly events: { release: Ref; event: KubeEvent }[] = [];
  /** The Event objects the API server would hold: repeats aggregated into one with a count. */
  readonly storedEvents: StoredEvent[] = [];
  private readonly correlator = new EventCorrelator();
  /** Calls that reached the API server, by verb, for tests that count them. */
  readonly calls = { patch: 0, status: 0, event: 0, create: 0, delete: 0 };
  private readonly faults: { verb: 'patch' | 'status'; error: KubeError }[] = [];

  /** Stamps deletions; tests on a virtual clock set theirs. */
  clock: () => Date = () => new Date();

  private bucket(kind: Kind): CacheIndex {
    let bucket = this.store.get(kind);
    if (!bucket) {
      bucket = new CacheIndex();
      this.store.set(kind, bucket);
    }
    return bucket;
  }

  private key(kind: Kind, ref: Ref): string {
    return KINDS[kind].namespaced ? refKey(ref) : ref.name;
  }

  /** Handlers get the stored object itself: frozen, as the real adapter's cache hands it out. */
  private notify(kind: Kind, object: KubeObject, change: 'added' | 'modified' | 'deleted'): void {
    for (const handler of this.handlers) handler(kind, object, change);
  }

  /** Creates or replaces an object, as `kubectl apply` would; bumps generation when the spec changes. */
  apply(kind: Kind, object: KubeObject): KubeObject {
    const ref = refOf(object);
    const existing = this.bucket(kind).get(this.key(kind, ref));
    const generation =
      (existing?.metadata.generation ?? 0) + (existing && jsonEqual(existing.spec, object.spec) ? 0 : 1);
    const stored: KubeObject = {
      ...structuredClone(object),
      apiVersion: apiVersionOf(kind),
      kind,
      metadata: {
        ...structuredClone(object.metadata),
        uid: existing?.metadata.uid ?? `uid-${kind}-${refKey(ref)}`,
        resourceVersion: String(++this.revision),
        generation,
        creationTimestamp:
          existing?.metadata.creationTimestamp ??
          object.metadata.creationTimestamp ??
          new Date(0).toISOString(),
      },
    };
    if (existing && object.status === undefined) stored.status = existing.status;
    const kept = this.bucket(kind).set(this.key(kind, ref), stored);
    this.notify(kind, kept, existing ? 'modified' : 'added');
    return kept;
  }

  remove(kind: Kind, ref: Ref): void {
    const existing = this.bucket(kind).get(this.key(kind, ref));
    if (!existing) return;
    this.bucket(kind).delete(this.key(kind, ref));
    this.notify(kind, existing, 'deleted');
  }

  /** Makes the next call of this verb fail with `error`. */
  failNext(verb: 'patch' | 'status', error: KubeError): void {
    this.faults.push({ verb, error });
  }

  private fault(verb: 'patch' | 'status'): void {
    const i = this.faults.findIndex((f) => f.verb === verb);
    if (i >= 0) {
      const [f] = this.faults.splice(i, 1);
      if (f) throw f.error;
    }
  }

  /** Read-only: the stored, frozen object. */
  get(kind: Kind, ref: Ref): KubeObject | undefined {
    return this.bucket(kind).get(this.key(kind, ref));
  }

  /** Read-only, frozen objects; a namespace's from its index, not a scan of the kind. */
  list(kind: Kind, namespace?: string): KubeObject[] {
    return this.bucket(kind).list(KINDS[kind].namespaced ? namespace : undefined);
  }

  patch(kind: Kind, ref: Ref, ops: readonly JsonPatchOperation[]): Promise<KubeObject> {
    this.calls.patch++;
    this.fault('patch');
    const existing = this.bucket(kind).get(this.key(kind, ref));
    if (!existing) return Promise.reject(new KubeError('NotFound', `${kind} ${refKey(ref)} not found`, 404));
    let patched: KubeObject;
    try {
      patched = applyJsonPatch(existing, ops);
    } catch (err) {
      // as the real adapter reads the API server's bare 422: a guarded patch that fails means a change
      const guarded = err instanceof JsonPatchError && ops.some((op) => op.op === 'test');
      const code = err instanceof PatchTestFailed || guarded ? 'Conflict' : 'Invalid';
      return Promise.reject(new KubeError(code, (err as Error).message, 422, { cause: err }));
    }
    patched.metadata = {
      ...patched.metadata,
      resourceVersion: String(++this.revision),
      generation: (existing.metadata.generation ?? 0) + (jsonEqual(existing.spec, patched.spec) ? 0 : 1),
    };
    const finalizers = patched.metadata.finalizers as string[] | undefined;
    if (patched.metadata.deletionTimestamp !== undefined && !finalizers?.length) {
      this.remove(kind, ref);
      return Promise.resolve(patched);
    }
    const kept = this.bucket(kind).set(this.key(kind, ref), patched);
    this.notify(kind, kept, 'modified');
    return Promise.resolve(kept);
  }

  create(kind: Kind, object: KubeObject): Promise<KubeObject> {
    this.calls.create++;
    const ref = refOf(object);
    if (this.bucket(kind).has(this.key(kind, ref))) {
      return Promise.reject(new KubeError('Conflict', `${kind} ${refKey(ref)} already exists`, 409));
    }
    return Promise.resolve(this.apply(kind, object));
  }

  delete(kind: Kind, ref: Ref): Promise<void> {
    this.calls.delete++;
    const existing = this.bucket(kind).get(this.key(kind, ref));
    const finalizers = existing?.metadata.finalizers as string[] | undefined;
    if (existing && finalizers?.length) {
      // as the API server does: mark it, and remove it once the last finalizer is gone
      if (existing.metadata.deletionTimestamp === undefined) {
        const marked = structuredClone(existing);
        marked.metadata.deletionTimestamp = this.clock().toISOString();
        marked.metadata.resourceVersion = String(++this.revision);
        this.notify(kind, this.bucket(kind).set(this.key(kind, ref), marked), 'modified');
      }
    } else {
      this.remove(kind, ref);
    }
    return Promise.resolve();
  }

  writeReleaseStatus(
    ref: Ref,
    status: CanaryReleaseStatus,
    options: StatusWriteOptions = {},
  ): Promise<string> {
    this.calls.status++;
    this.fault('status');
    const existing = this.bucket('CanaryRelease').get(refKey(ref));
    if (!existing)
      return Promise.reject(new KubeError('NotFound', `CanaryRelease ${refKey(ref)} not found`, 404));
    const expected = options.resourceVersion;
    if (expected !== undefined && expected !== existing.metadata.resourceVersion) {
      // the API server's answer to a precondition that no longer holds
      return Promise.reject(
        new KubeError(
          'Conflict',
          `Operation cannot be fulfilled on canaryreleases.canaria.dev "${ref.name}": the object has been modified; please apply your changes to the latest version and try again`,
          409,
        ),
      );
    }
    const updated: KubeObject = {
      ...existing,
      status: structuredClone(status),
      metadata: { ...existing.metadata, resourceVersion: String(++this.revision) },
    };
    this.notify('CanaryRelease', this.bucket('CanaryRelease').set(refKey(ref), updated), 'modified');
    return Promise.resolve(updated.metadata.resourceVersion ?? '');
  }

  recordEvent(release: KubeObject, event: KubeEvent): Promise<void> {
    this.calls.event++;
    this.events.push({
      release: refOf(release),
      event: { ...event },
    });
    const now = this.clock().toISOString();
    const plan = this.correlator.plan({ ...release, kind: release.kind ?? 'CanaryRelease' }, event);
    const stored = plan.op === 'update' ? this.storedEvents.find((e) => e.name === plan.name) : undefined;
    if (plan.op === 'update' && stored) {
      stored.count = plan.count;
      stored.lastTimestamp = now;
    } else {
      const created: StoredEvent = {
        name: `${release.metadata.name}.${String(++this.revision)}`,
        release: refOf(release),
        event: { ...event },
        count: 1,
        firstTimestamp: now,
        lastTimestamp: now,
      };
      this.storedEvents.push(created);
      this.correlator.stored(plan.key, { name: created.name, count: 1, firstTimestamp: now });
      return Promise.resolve();
    }
    this.correlator.stored(plan.key, {
      name: stored.name,
      count: stored.count,
      firstTimestamp: stored.firstTimestamp,
    });
    return Promise.resolve();
  }

  watch(handler: WatchHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  synced(): boolean {
    return true;
  }
}
