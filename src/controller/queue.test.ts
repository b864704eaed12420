import { describe, expect, it } from 'vitest';
import { ManualTimers } from '../../test/builders/timers.js';
import { WorkQueue } from './queue.js';

const deferred = () => {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
};

describe('WorkQueue', () => {
  it('merges duplicate events for a waiting key', async () => {
    const runs: string[] = [];
    const queue = new WorkQueue(
      (key) => {
        runs.push(key);
        return Promise.resolve(null);
      },
      { concurrency: 1 },
    );
    queue.add('a');
    queue.add('b');
    queue.add('b');
    queue.add('b');
    await queue.idle();
    // 'a' runs at once; 'b' waits behind it (concurrency 1) and its three events merge into one run
    expect(runs).toEqual(['a', 'b']);
  });

  it('never runs one key twice at once, and an event during a run runs it again after', async () => {
    let concurrent = 0;
    let maxConcurrent = 0;
    let runs = 0;
    const gate = deferred();
    const queue = new WorkQueue(
      async () => {
        runs++;
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        if (runs === 1) await gate.promise;
        concurrent--;
        return null;
      },
      { concurrency: 4 },
    );
    queue.add('ns/a');
    queue.add('ns/a'); // merges with the running one: marks it dirty
    queue.add('ns/a');
    gate.resolve();
    await queue.idle();
    expect(maxConcurrent).toBe(1);
    expect(runs).toBe(2);
  });

  it('caps concurrency across keys', async () => {
    let concurrent = 0;
    let maxConcurrent = 0;
    const queue = new WorkQueue(
      async () => {
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        await new Promise((r) => setTimeout(r, 2));
        concurrent--;
        return null;
      },
      { concurrency: 3 },
    );
    for (let i = 0; i < 20; i++) queue.add(`ns/r${i}`);
    await queue.idle();
    expect(maxConcurrent).toBe(3);
  });

  it('keeps the earliest requeue timer per key', async () => {
    const timers = new ManualTimers();
    const runs: number[] = [];
    const queue = new WorkQueue(
      () => {
        runs.push(timers.now());
        return Promise.resolve(null);
      },
      { concurrency: 1, timers },
    );
    queue.addAfter('k', 10_000);
    queue.addAfter('k', 3_000);
    queue.addAfter('k', 5_000);
    expect(timers.count).toBe(1);
    timers.advance(3_000);
    await queue.idle();
    timers.advance(10_000);
    await queue.idle();
    expect(runs).toEqual([3_000]);
  });

  it('requeues after the time the worker names', async () => {
    const timers = new ManualTimers();
    let runs = 0;
    const queue = new WorkQueue(
      () => {
        runs++;
        return Promise.resolve(runs < 3 ? 60_000 : null);
      },
      { concurrency: 1, timers },
    );
    queue.add('k');
    await queue.idle();
    for (let i = 0; i < 5; i++) {
      timers.advance(60_000);
      await queue.idle();
    }
    expect(runs).toBe(3);
  });

  it('backs off exponentially after failures and reports them', async () => {
    const timers = new ManualTimers();
    const delays: number[] = [];
    let runs = 0;
    const queue = new WorkQueue(
      () => {
        runs++;
        return runs < 4 ? Promise.reject(new Error('api down')) : Promise.resolve(null);
      },
      { concurrency: 1, timers, backoffBaseMs: 100, onError: (_k, _e, delay) => delays.push(delay) },
    );
    queue.add('k');
    await queue.idle();
    for (const ms of [100, 200, 400]) {
      timers.advance(ms);
      await queue.idle();
    }
    expect(delays).toEqual([100, 200, 400]);
    expect(runs).toBe(4);
  });
});
