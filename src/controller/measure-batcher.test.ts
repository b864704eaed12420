import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Measurement } from '../analysis/types.js';
import type { MeasurementRequest, Measurements, MetricsProvider } from '../metrics/provider.js';
import { ManualTimers } from '../../test/builders/timers.js';
import { MAX_GATHER_MS, MeasureBatcher, type MeasureOptions } from './measure-batcher.js';
import { WorkQueue, type Timers } from './queue.js';

const GRANULE = 15_000;

/** A provider that notes the keys of each call it gets. */
function recordingProvider(): MetricsProvider & { calls: string[][] } {
  const provider = {
    calls: [] as string[][],
    measure(requests: readonly MeasurementRequest[]): Promise<Measurements> {
      provider.calls.push(requests.map((r) => r.key));
      const answer: Measurement = { kind: 'scalar', canary: 1, stable: 1 };
      return Promise.resolve(new Map(requests.map((r) => [r.key, new Map([['m', answer]])])));
    },
  };
  return provider;
}

const request = (key: string): MeasurementRequest => ({ key }) as unknown as MeasurementRequest;

/** A queue whose every run measures once through `batcher`, parked, as the reconciler does. */
function measuringQueue(
  batcher: MeasureBatcher,
  options: MeasureOptions,
  concurrency: number,
  timers?: Timers,
) {
  const answered: string[] = [];
  const queue = new WorkQueue(
    async (key, run) => {
      await Promise.resolve(); // the reconciler reads the caches and calls hooks before it measures
      await run.park(batcher.measure(request(key), options), batcher.nudge);
      answered.push(key);
      return null;
    },
    { concurrency, ...(timers ? { timers } : {}) },
  );
  return { queue, answered };
}

describe('MeasureBatcher with the work queue', () => {
  it('gathers more requests than the queue runs at once into one call', async () => {
    const provider = recordingProvider();
    const batcher = new MeasureBatcher(provider, 60_000);
    const { queue, answered } = measuringQueue(batcher, { joinableUntil: GRANULE }, 2);
    for (let i = 0; i < 20; i++) queue.add(`ns/r${i}`);
    await queue.idle();
    expect(provider.calls.map((c) => c.length)).toEqual([20]);
    expect(answered).toHaveLength(20);
  });

  it('still sends a batch of fewer requests than the queue could run, without waiting for a timer', async () => {
    const provider = recordingProvider();
    // a quiet period of a minute would time the test out: the queue's nudge sends the batch
    const batcher = new MeasureBatcher(provider, 60_000);
    const { queue, answered } = measuringQueue(batcher, { joinableUntil: GRANULE }, 8);
    for (const key of ['ns/a', 'ns/b', 'ns/c']) queue.add(key);
    await queue.idle();
    expect(provider.calls).toEqual([['ns/a', 'ns/b', 'ns/c']]);
    expect(answered).toHaveLength(3);
  });

  it('keeps a granule open for the runs whose timers come due in it, and leaves the queue idle meanwhile', async () => {
    const timers = new ManualTimers();
    const provider = recordingProvider();
    const batcher = new MeasureBatcher(provider, 60_000);
    const { queue, answered } = measuringQueue(batcher, { joinableUntil: GRANULE }, 8, timers);
    queue.add('ns/a');
    queue.addAfter('ns/b', 5_000);
    queue.addAfter('ns/c', 20_000); // after the granule: cannot ask for its evaluation time
    await queue.idle();
    expect(provider.calls).toEqual([]);
    timers.advance(5_000);
    await queue.idle();
    expect(provider.calls).toEqual([['ns/a', 'ns/b']]);
    expect(answered).toEqual(['ns/a', 'ns/b']);
    timers.advance(15_000);
    await queue.idle();
    expect(provider.calls).toEqual([['ns/a', 'ns/b'], ['ns/c']]);
  });

  it('waits for runs that only a timer starts for MAX_GATHER_MS at most', async () => {
    const timers = new ManualTimers();
    const provider = recordingProvider();
    const batcher = new MeasureBatcher(provider, 60_000, undefined, timers);
    const { queue } = measuringQueue(batcher, { joinableUntil: 60_000 }, 8, timers);
    queue.add('ns/a');
    queue.addAfter('ns/b', 4_000);
    // timers that keep coming in the granule (a release that rechecks every second, say) do not
    // hold the batch until the granule ends
    for (let t = 1_000; t < 60_000; t += 1_000) queue.addAfter(`other/r${t}`, t + 500);
    await queue.idle();
    timers.advance(MAX_GATHER_MS - 1);
    await queue.idle();
    expect(provider.calls).toEqual([]);
    timers.advance(1);
    await queue.idle();
    // everything that came due by then, and only that
    expect(provider.calls).toHaveLength(1);
    expect(provider.calls[0]).toEqual(expect.arrayContaining(['ns/a', 'ns/b', 'other/r9000']));
    expect(provider.calls[0]).not.toContain('other/r10000');
  });

  it('sends what waits when the queue stops', async () => {
    const timers = new ManualTimers();
    const provider = recordingProvider();
    const batcher = new MeasureBatcher(provider, 60_000);
    const { queue, answered } = measuringQueue(batcher, { joinableUntil: GRANULE }, 8, timers);
    queue.add('ns/a');
    queue.addAfter('ns/b', 5_000);
    await queue.idle();
    await queue.stop();
    expect(provider.calls).toEqual([['ns/a']]);
    expect(answered).toEqual(['ns/a']);
  });
});

describe('MeasureBatcher on its own', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('sends once no request joined for the quiet period', async () => {
    vi.useFakeTimers();
    const provider = recordingProvider();
    const batcher = new MeasureBatcher(provider, 100);
    const first = batcher.measure(request('ns/a'));
    await vi.advanceTimersByTimeAsync(80);
    const second = batcher.measure(request('ns/b'));
    await vi.advanceTimersByTimeAsync(80);
    expect(provider.calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(30);
    expect(provider.calls).toEqual([['ns/a', 'ns/b']]);
    await Promise.all([first, second]);
  });

  it('sends a request marked alone at once, apart from the batch', async () => {
    const provider = recordingProvider();
    const batcher = new MeasureBatcher(provider, 60_000);
    void batcher.measure(request('ns/routine'), { joinableUntil: GRANULE });
    const urgent = await batcher.measure(request('ns/abort'), { alone: true });
    expect(urgent.get('m')).toMatchObject({ kind: 'scalar' });
    expect(provider.calls).toEqual([['ns/abort']]);
    batcher.nudge(Infinity);
    expect(provider.calls).toEqual([['ns/abort'], ['ns/routine']]);
  });

  it('sends at most maxBatch requests in one call', () => {
    const provider = recordingProvider();
    const batcher = new MeasureBatcher(provider, 60_000, 3);
    for (let i = 0; i < 7; i++) void batcher.measure(request(`ns/r${i}`), { joinableUntil: GRANULE });
    expect(provider.calls.map((c) => c.length)).toEqual([3, 3]);
    expect(batcher.nudge(Infinity)).toBe(true);
    expect(provider.calls.map((c) => c.length)).toEqual([3, 3, 1]);
  });

  it('on a nudge, sends only the granules nobody can join before the next run', () => {
    const provider = recordingProvider();
    const batcher = new MeasureBatcher(provider, 60_000);
    void batcher.measure(request('ns/early'), { joinableUntil: GRANULE });
    void batcher.measure(request('ns/late'), { joinableUntil: 2 * GRANULE });
    expect(batcher.nudge(GRANULE + 1)).toBe(false);
    expect(provider.calls).toEqual([['ns/early']]);
  });
});
