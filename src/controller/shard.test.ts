import { describe, expect, it } from 'vitest';
import { Registry } from 'prom-client';
import { MemoryKube } from '../kube/memory.js';
import type { KubeObject } from '../kube/resources.js';
import { createLogger } from '../telemetry/logger.js';
import { Controller } from './controller.js';
import type { Reconciler } from './reconciler.js';
import { fnv1a, hashShard, matchesSelector, owns, parseSelector, shardInfo, type Shard } from './shard.js';

const release = (namespace: string, name: string, labels: Record<string, string> = {}): KubeObject => ({
  apiVersion: 'canaria.dev/v1alpha1',
  kind: 'CanaryRelease',
  metadata: { namespace, name, labels },
  spec: {},
});

describe('fnv1a', () => {
  it('gives the published FNV-1a 32-bit values, so the shard of a release never depends on the runtime', () => {
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
  });

  it('pins the shard of a few releases: a change here moves releases between shards on upgrade', () => {
    expect(fnv1a('shop/reviews')).toBe(0xbb1e493b);
    expect([
      hashShard('shop', 'reviews', 4),
      hashShard('shop', 'cart', 2),
      hashShard('pay', 'api', 3),
    ]).toEqual([3, 0, 0]);
  });

  it('spreads releases over the shards', () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 4000; i++) counts[hashShard(`ns-${i % 40}`, `release-${i}`, 4)]!++;
    for (const c of counts) expect(c).toBeGreaterThan(800);
  });
});

describe('parseSelector', () => {
  it('reads the forms kubectl writes', () => {
    const requirements = parseSelector('team=payments, tier in (a, b),env!=prod,canary,!legacy');
    const match = (labels: Record<string, string>) => matchesSelector(labels, requirements);
    expect(match({ team: 'payments', tier: 'a', canary: '' })).toBe(true);
    expect(match({ team: 'payments', tier: 'a', canary: '', env: 'prod' })).toBe(false);
    expect(match({ team: 'payments', tier: 'c', canary: '' })).toBe(false);
    expect(match({ team: 'payments', tier: 'a' })).toBe(false);
    expect(match({ team: 'payments', tier: 'a', canary: '', legacy: 'x' })).toBe(false);
    expect(matchesSelector({ a: 'x' }, parseSelector('a==x'))).toBe(true);
    expect(matchesSelector({}, parseSelector('a notin (x)'))).toBe(true);
    expect(matchesSelector({ 'example.com/team': 'x' }, parseSelector('example.com/team=x'))).toBe(true);
  });

  it('says which term is wrong and what to write', () => {
    expect(() => parseSelector('')).toThrow(/is empty; write e.g. team=payments/);
    expect(() => parseSelector('team=a,=b')).toThrow(/"=b" has no valid label key/);
    expect(() => parseSelector('team=a b')).toThrow(/"team=a b" has an invalid label value/);
    expect(() => parseSelector('team in (a,b')).toThrow(/has no valid label key/);
  });
});

describe('owns', () => {
  const hash = (index: number): Shard => ({ id: `${index}-of-3`, hash: { index, count: 3 } });

  it('gives every release to exactly one hash shard', () => {
    for (let i = 0; i < 300; i++) {
      const r = release(`ns-${i % 7}`, `r-${i}`);
      expect([0, 1, 2].filter((index) => owns(hash(index), r))).toHaveLength(1);
    }
  });

  it('needs both the selector and the hash when a shard has both', () => {
    const shard: Shard = {
      id: 'x',
      hash: { index: hashShard('shop', 'reviews', 2), count: 2 },
      selector: { text: 'team=a', requirements: parseSelector('team=a') },
    };
    expect(owns(shard, release('shop', 'reviews', { team: 'a' }))).toBe(true);
    expect(owns(shard, release('shop', 'reviews', { team: 'b' }))).toBe(false);
    expect(
      owns(
        { ...shard, hash: { index: 1 - shard.hash!.index, count: 2 } },
        release('shop', 'reviews', { team: 'a' }),
      ),
    ).toBe(false);
  });
});

describe('a sharded Controller', () => {
  const selectorShard: Shard = {
    id: 'a',
    selector: { text: 'team=a', requirements: parseSelector('team=a') },
  };

  async function world() {
    const kube = new MemoryKube();
    const reconciled: string[] = [];
    const reconciler = {
      reconcile: (key: string) => {
        reconciled.push(key);
        return Promise.resolve(60_000);
      },
      echoOf: () => false,
      interestOf: () => undefined,
    } as unknown as Reconciler;
    const controller = new Controller({
      kube,
      reconciler,
      logger: createLogger({ level: 'silent' }),
      owns: (r) => owns(selectorShard, r),
    });
    kube.apply('CanaryRelease', release('shop', 'mine', { team: 'a' }));
    kube.apply('CanaryRelease', release('shop', 'theirs', { team: 'b' }));
    controller.start();
    await controller.queue.idle();
    return { kube, reconciled, controller };
  }

  it('enqueues only the releases it owns, on start and on events of what they read', async () => {
    const { kube, reconciled, controller } = await world();
    expect(reconciled).toEqual(['shop/mine']);
    kube.apply('Deployment', {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { namespace: 'shop', name: 'd' },
    });
    kube.apply('CanaryRelease', { ...release('shop', 'theirs', { team: 'b' }), spec: { changed: true } });
    await controller.queue.idle();
    expect(reconciled).toEqual(['shop/mine', 'shop/mine']);
    await controller.stop();
  });

  it('drops a release re-labelled into another shard, and picks one up re-labelled into its own', async () => {
    const { kube, reconciled, controller } = await world();
    kube.apply('CanaryRelease', release('shop', 'mine', { team: 'b' }));
    kube.apply('CanaryRelease', release('shop', 'theirs', { team: 'a' }));
    await controller.queue.idle();
    expect(reconciled).toEqual(['shop/mine', 'shop/theirs']);
    // the 60 s requeue of the dropped release was forgotten, and a resync leaves it alone too
    controller.resyncAll();
    await controller.queue.idle();
    expect(reconciled).toEqual(['shop/mine', 'shop/theirs', 'shop/theirs']);
    await controller.stop();
  });
});

describe('shardInfo', () => {
  it('exposes the shard as one gauge', async () => {
    const registry = new Registry();
    shardInfo(registry, { id: '1-of-2', hash: { index: 1, count: 2 } });
    expect(await registry.metrics()).toContain(
      'canaria_shard_info{shard="1-of-2",index="1",count="2",selector=""} 1',
    );
  });
});
