import type { CanaryReleaseStatus } from '../api/canary-release.js';
import type { JsonPatchOperation } from './json-patch.js';
import type { Kind, KubeObject, Ref } from './resources.js';

export interface KubeEvent {
  severity: 'Normal' | 'Warning';
  reason: string;
  message: string;
}

export interface StatusWriteOptions {
  /** The resourceVersion of the release the status was decided from. */
  resourceVersion?: string;
}

export type WatchHandler = (kind: Kind, object: KubeObject, change: 'added' | 'modified' | 'deleted') => void;

/**
 * The Kubernetes port. Reads come from informer caches (no GET per reconcile); writes go to the API
 * server and fail with a KubeError. Adapters: the @kubernetes/client-node one, and an in-memory one
 * for unit tests and the simulator.
 */
export interface KubePort {
  get(kind: Kind, ref: Ref): KubeObject | undefined;
  list(kind: Kind, namespace?: string): KubeObject[];
  /** RFC 6902 patch (never strategic merge: custom resources reject it). A failed `test` is a Conflict. */
  patch(kind: Kind, ref: Ref, ops: readonly JsonPatchOperation[]): Promise<KubeObject>;
  /** Creates an object; an existing one of the same name is a Conflict. */
  create(kind: Kind, object: KubeObject): Promise<KubeObject>;
  /** Deletes an object; one that is already gone counts as deleted. */
  delete(kind: Kind, ref: Ref): Promise<void>;
  /**
   * Writes a CanaryRelease's status through the status subresource and resolves with the release's new
   * resourceVersion. With `resourceVersion` the write is conditional: it lands only on that version of
   * the release, else it fails with a Conflict (409) and nothing is written.
   */
  writeReleaseStatus(ref: Ref, status: CanaryReleaseStatus, options?: StatusWriteOptions): Promise<string>;
  /**
   * A Kubernetes Event about a CanaryRelease. As client-go's recorder does, an Event with the same
   * type, reason and message as one already recorded for the same object updates that one (its count
   * and lastTimestamp) instead of adding another.
   */
  recordEvent(release: KubeObject, event: KubeEvent): Promise<void>;
  /** Called after the cache changed; returns a function that stops the subscription. */
  watch(handler: WatchHandler): () => void;
  /** True once every cache has synced. */
  synced(): boolean;
}
