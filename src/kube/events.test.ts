import { describe, expect, it } from 'vitest';
import { EventCorrelator } from './events.js';
import { MemoryKube } from './memory.js';
import type { KubeObject } from './resources.js';

const release = (name = 'reviews', uid = 'uid-1'): KubeObject => ({
  apiVersion: 'canaria.dev/v1alpha1',
  kind: 'CanaryRelease',
  metadata: { namespace: 'shop', name, uid },
});
const holding = { severity: 'Normal' as const, reason: 'Inconclusive', message: 'holding at 10%: no data' };

describe('EventCorrelator', () => {
  it('plans a create the first time and an update of the same Event, counted, for every repeat', () => {
    const events = new EventCorrelator();
    const first = events.plan(release(), holding);
    expect(first.op).toBe('create');
    events.stored(first.key, { name: 'reviews.1', count: 1, firstTimestamp: 't0' });
    const repeat = events.plan(release(), holding);
    expect(repeat).toMatchObject({ op: 'update', name: 'reviews.1', count: 2, firstTimestamp: 't0' });
  });

  it('keeps apart what differs in object, uid, type, reason or message', () => {
    const events = new EventCorrelator();
    const key = events.plan(release(), holding).key;
    events.stored(key, { name: 'reviews.1', count: 1, firstTimestamp: 't0' });
    expect(events.plan(release('ratings'), holding).op).toBe('create');
    expect(events.plan(release('reviews', 'uid-2'), holding).op).toBe('create');
    expect(events.plan(release(), { ...holding, severity: 'Warning' }).op).toBe('create');
    expect(events.plan(release(), { ...holding, reason: 'MetricsUnavailable' }).op).toBe('create');
    expect(events.plan(release(), { ...holding, message: 'holding at 20%: no data' }).op).toBe('create');
  });

  it('forgets the least recently used key past its capacity, and a forgotten Event', () => {
    const events = new EventCorrelator(2);
    const keys = ['a', 'b', 'c'].map((message) => events.plan(release(), { ...holding, message }).key);
    events.stored(keys[0]!, { name: 'a', count: 1, firstTimestamp: 't' });
    events.stored(keys[1]!, { name: 'b', count: 1, firstTimestamp: 't' });
    events.stored(keys[0]!, { name: 'a', count: 2, firstTimestamp: 't' }); // a is used again
    events.stored(keys[2]!, { name: 'c', count: 1, firstTimestamp: 't' });
    expect(events.plan(release(), { ...holding, message: 'b' }).op).toBe('create');
    expect(events.plan(release(), { ...holding, message: 'a' }).op).toBe('update');
    events.forget(keys[0]!);
    expect(events.plan(release(), { ...holding, message: 'a' }).op).toBe('create');
  });
});

describe('MemoryKube Events', () => {
  it('stores a repeated Event once, with its count and first and last time', async () => {
    const kube = new MemoryKube();
    let now = new Date('2026-11-21T10:00:00Z');
    kube.clock = () => now;
    for (let i = 0; i < 600; i++) {
      await kube.recordEvent(release(), holding);
      now = new Date(now.getTime() + 60_000);
    }
    await kube.recordEvent(release(), {
      severity: 'Warning',
      reason: 'HoldDeadlineExceeded',
      message: 'paused',
    });
    expect(kube.events).toHaveLength(601);
    expect(kube.storedEvents).toHaveLength(2);
    expect(kube.storedEvents[0]).toMatchObject({
      event: holding,
      count: 600,
      firstTimestamp: '2026-11-21T10:00:00.000Z',
      lastTimestamp: '2026-11-21T19:59:00.000Z',
    });
    expect(kube.storedEvents[1]).toMatchObject({ count: 1, event: { reason: 'HoldDeadlineExceeded' } });
  });
});
