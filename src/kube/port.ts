import type { CanaryReleaseStatus } from '../api/canary-release.js';
import type { JsonPatchOperation } from './json-patch.js';
import type { Kind, KubeObject, Ref } from './resources.js';

export interface KubeEvent {
  severity: 'Normal' | 'Warning';
  reason: string;
  message: string;
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
  /** Writes a CanaryRelease's status through the status subresource. */
  writeReleaseStatus(ref: Ref, status: CanaryReleaseStatus): Promise<void>;
  /** A Kubernetes Event about a CanaryRelease. */
  recordEvent(release: KubeObject, event: KubeEvent): Promise<void>;
  /** Called after the cache changed; returns a function that stops the subscription. */
  watch(handler: WatchHandler): () => void;
  /** True once every cache has synced. */
  synced(): boolean;
}
