import { deepFreeze } from '../lib/frozen.js';
import type { KubeObject } from './resources.js';

/*
 * The controller's caches hand out the objects they hold, frozen, instead of a deep copy per read:
 * a reconcile reads hundreds of objects, and copying each one was most of its CPU at 1,000 releases.
 * Frozen, an accidental write throws (modules are strict) instead of corrupting the cache.
 */

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * `object` without what the controller never reads and the API server hands out with every object:
 * managedFields and kubectl's last-applied-configuration, about 3 of a Deployment's 4 KB (the trim
 * controller-runtime's caches do). An annotations map that held only that stays, empty, so a patch
 * planned from the cache still sees that the object has annotations.
 */
export function trimForCache(object: KubeObject): KubeObject {
  const { annotations } = object.metadata;
  const lastApplied = annotations !== undefined && LAST_APPLIED in annotations;
  if (object.metadata.managedFields === undefined && !lastApplied) return object;
  const metadata = { ...object.metadata };
  delete metadata.managedFields;
  if (lastApplied) {
    metadata.annotations = Object.fromEntries(
      Object.entries(annotations).filter(([key]) => key !== LAST_APPLIED),
    );
  }
  return { ...object, metadata };
}

/** Objects of one kind by key, and by namespace, so a namespace's list is not a scan of all of them. */
export class CacheIndex {
  private readonly byKey = new Map<string, KubeObject>();
  private readonly byNamespace = new Map<string, Map<string, KubeObject>>();

  get size(): number {
    return this.byKey.size;
  }

  get(key: string): KubeObject | undefined {
    return this.byKey.get(key);
  }

  has(key: string): boolean {
    return this.byKey.has(key);
  }

  /** Stores `object` trimmed and frozen, and returns what it stored: hand that on, not `object`. */
  set(key: string, object: KubeObject): KubeObject {
    const frozen = deepFreeze(trimForCache(object));
    const old = this.byKey.get(key);
    if (old && (old.metadata.namespace ?? '') !== (frozen.metadata.namespace ?? ''))
      this.byNamespace.get(old.metadata.namespace ?? '')?.delete(key);
    this.byKey.set(key, frozen);
    const namespace = frozen.metadata.namespace ?? '';
    let inNamespace = this.byNamespace.get(namespace);
    if (!inNamespace) {
      inNamespace = new Map();
      this.byNamespace.set(namespace, inNamespace);
    }
    inNamespace.set(key, frozen);
    return frozen;
  }

  delete(key: string): void {
    const old = this.byKey.get(key);
    if (!old) return;
    this.byKey.delete(key);
    const namespace = old.metadata.namespace ?? '';
    const inNamespace = this.byNamespace.get(namespace);
    inNamespace?.delete(key);
    if (inNamespace?.size === 0) this.byNamespace.delete(namespace);
  }

  entries(): IterableIterator<[string, KubeObject]> {
    return this.byKey.entries();
  }

  /** Every object, or those of one namespace. */
  list(namespace?: string): KubeObject[] {
    if (namespace === undefined) return [...this.byKey.values()];
    return [...(this.byNamespace.get(namespace)?.values() ?? [])];
  }
}
