import { describe, expect, it } from 'vitest';
import { CacheIndex, trimForCache } from './cache-index.js';
import { MemoryKube } from './memory.js';
import type { KubeObject } from './resources.js';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';

/** A Deployment as the API server hands it out after a kubectl apply. */
function applied(annotations: Record<string, string>): KubeObject {
  return {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: {
      name: 'reviews',
      namespace: 'shop',
      annotations,
      managedFields: [{ manager: 'kubectl-client-side-apply', operation: 'Update', fieldsV1: {} }],
    },
    spec: { replicas: 2 },
  };
}

describe('the caches keep what the controller reads', () => {
  it('drop managedFields and the last-applied annotation, and keep the other annotations', () => {
    const cache = new CacheIndex();
    const kept = cache.set('shop/reviews', applied({ [LAST_APPLIED]: '{"spec":{}}', team: 'payments' }));
    expect(kept.metadata).not.toHaveProperty('managedFields');
    expect(kept.metadata.annotations).toEqual({ team: 'payments' });
    expect(cache.get('shop/reviews')).toBe(kept);
    expect(Object.isFrozen(kept.metadata)).toBe(true);
  });

  it('keep an annotations map that held only last-applied, empty, so patches still see it exists', () => {
    expect(trimForCache(applied({ [LAST_APPLIED]: '{}' })).metadata.annotations).toEqual({});
  });

  it('hand on an object that has nothing to trim as it is', () => {
    const plain: KubeObject = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'c' }, data: {} };
    expect(trimForCache(plain)).toBe(plain);
  });

  it('MemoryKube stores, lists and tells its watchers the trimmed object', async () => {
    const kube = new MemoryKube();
    const seen: KubeObject[] = [];
    kube.watch((_kind, object) => seen.push(object));
    await kube.create('Deployment', applied({ [LAST_APPLIED]: '{}' }));
    const [listed] = kube.list('Deployment', 'shop');
    expect(listed?.metadata).not.toHaveProperty('managedFields');
    expect(seen[0]).toBe(listed);
  });
});
