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

/** A queue of one slot on a hand-driven clock that notes the order keys start in. */
function startOrder() {
  const timers = new ManualTimers();
  const order: string[] = [];
  const queue = new WorkQueue(
    async (key) => {
      order.push(key);
      await Promise.resolve();
      return null;
    },
    { concurrency: 1, timers },
  );
  return { timers, order, queue };
}

describe('WorkQueue lanes', () => {
  it('starts high keys before low ones; a key waiting low moves up when added high', async () => {
    const order: string[] = [];
    const gate = deferred();
    const queue = new WorkQueue(
      async (key) => {
        order.push(key);
        if (key === 'busy') await gate.promise;
        return null;
      },
      { concurrency: 1 },
    );
    queue.add('busy');
    for (const key of ['a', 'b', 'c']) queue.add(key);
    queue.add('abort', 'high');
    queue.add('b', 'high');
    queue.add('abort'); // a routine event for a key waiting high leaves it there
    expect(queue.depth).toBe(4);
    gate.resolve();
    await queue.idle();
    expect(order).toEqual(['busy', 'abort', 'b', 'a', 'c']);
  });

  it('starts a routine burst namespace by namespace, so an early batch holds whole namespaces', async () => {
    const order: string[] = [];
    const gate = deferred();
    const queue = new WorkQueue(
      async (key) => {
        order.push(key);
        if (key === 'busy') await gate.promise;
        return null;
      },
      { concurrency: 1 },
    );
    queue.add('busy');
    for (const key of ['shop/a', 'bank/a', 'shop/b', 'bank/b', 'shop/c']) queue.add(key);
    queue.add('bank/urgent', 'high');
    gate.resolve();
    await queue.idle();
    expect(order).toEqual(['busy', 'bank/urgent', 'shop/a', 'shop/b', 'shop/c', 'bank/a', 'bank/b']);
  });

  it('starts the keys whose timers come due at one moment together, namespace by namespace', async () => {
    const { timers, order, queue } = startOrder();
    // due a few milliseconds apart: each release asked at its own moment
    queue.addAfter('shop/a', 60_000);
    queue.addAfter('bank/a', 59_996);
    queue.addAfter('shop/b', 59_993);
    queue.addAfter('bank/b', 59_999);
    expect(timers.count).toBe(1);
    timers.advance(60_001);
    await queue.idle();
    expect(order).toEqual(['shop/a', 'shop/b', 'bank/a', 'bank/b']);
  });

  it('takes, in a ring that comes late, the alarms that came due meanwhile', async () => {
    const { timers, order, queue } = startOrder();
    queue.addAfter('shop/a', 50);
    queue.addAfter('bank/a', 100);
    queue.addAfter('shop/b', 100);
    // a busy event loop: both come due before either timer fires
    timers.advance(200);
    await queue.idle();
    expect(order).toEqual(['shop/a', 'shop/b', 'bank/a']);
  });

  it('counts a requeue from when its run started, however long the run waited', async () => {
    const timers = new ManualTimers();
    const startedAt: number[] = [];
    const queue = new WorkQueue(
      async () => {
        startedAt.push(timers.now());
        // e.g. a measurement that waits for its batch
        if (startedAt.length === 1) await new Promise<void>((resolve) => timers.setTimeout(resolve, 700));
        return startedAt.length < 3 ? 60_000 : null;
      },
      { concurrency: 1, timers },
    );
    queue.add('k');
    timers.advance(700);
    await queue.idle();
    for (let i = 0; i < 3; i++) {
      timers.advance(60_000 - (i === 0 ? 700 : 0));
      await queue.idle();
    }
    expect(startedAt).toEqual([0, 60_000, 120_000]);
  });

  it('counts a requeue from the anchor its run set, where the worker read its clock', async () => {
    const timers = new ManualTimers();
    const startedAt: number[] = [];
    const queue = new WorkQueue(
      async (_key, run) => {
        startedAt.push(timers.now());
        if (startedAt.length === 1) {
          // a pause before the worker reads its clock (a garbage collection, say)
          await new Promise<void>((resolve) => timers.setTimeout(resolve, 300));
          run.anchor();
        }
        return startedAt.length < 2 ? 1_000 : null;
      },
      { concurrency: 1, timers },
    );
    queue.add('k');
    timers.advance(300);
    await queue.idle();
    timers.advance(999);
    await queue.idle();
    expect(startedAt).toEqual([0]);
    timers.advance(1);
    await queue.idle();
    expect(startedAt).toEqual([0, 1_300]);
  });

  it('runs a key added high while it runs again right after, ahead of the low lane', async () => {
    const order: string[] = [];
    const gate = deferred();
    let first = true;
    const queue = new WorkQueue(
      async (key) => {
        order.push(key);
        if (first) {
          first = false;
          await gate.promise;
        }
        return null;
      },
      { concurrency: 1 },
    );
    queue.add('x');
    queue.add('a');
    queue.add('x', 'high');
    gate.resolve();
    await queue.idle();
    expect(order).toEqual(['x', 'x', 'a']);
  });

  it('puts the requeue of an escalated run in the high lane', async () => {
    const timers = new ManualTimers();
    const order: string[] = [];
    const errors: string[] = [];
    const gate = deferred();
    const queue = new WorkQueue(
      async (key, run) => {
        order.push(key);
        if (key === 'busy') await gate.promise;
        if (key === 'rollback' && order.length < 4) {
          run.escalate();
          return 1_000;
        }
        return key === 'routine' && order.length < 4 ? 1_000 : null;
      },
      { concurrency: 1, timers, onError: (key) => errors.push(key) },
    );
    queue.add('routine');
    await queue.idle();
    queue.add('rollback');
    await queue.idle();
    queue.add('busy');
    // both timers fire while 'busy' holds the only slot: the escalated one goes first
    timers.advance(1_000);
    gate.resolve();
    await queue.idle();
    expect(order).toEqual(['routine', 'rollback', 'busy', 'rollback', 'routine']);
    expect(errors).toEqual([]);
  });
});

describe('WorkQueue parking', () => {
  it('lends the slot of a parked run to other keys and nudges once every running key has parked', async () => {
    const released = deferred();
    let nudges = 0;
    let parked = 0;
    let maxActive = 0;
    const queue = new WorkQueue(
      async (_key, run) => {
        parked++;
        await run.park(released.promise, () => {
          nudges++;
          released.resolve();
          return true;
        });
        maxActive = Math.max(maxActive, queue.active);
        await new Promise((r) => setTimeout(r, 1));
        return null;
      },
      { concurrency: 2 },
    );
    for (let i = 0; i < 10; i++) queue.add(`k${i}`);
    await queue.idle();
    // all ten waited at once on two slots; the nudge came when the last one parked, not before
    expect(parked).toBe(10);
    expect(nudges).toBeGreaterThanOrEqual(1);
    // once resumed, the runs hold slots again: never more than two at once
    expect(maxActive).toBeLessThanOrEqual(2);
  });

  it('does not nudge while a key is still waiting to start or a run has not parked', async () => {
    const release = deferred();
    const slow = deferred();
    const nudged: number[] = [];
    let parkedCount = 0;
    const queue = new WorkQueue(
      async (key, run) => {
        if (key === 'slow') await slow.promise; // e.g. a webhook call before the measurement
        parkedCount++;
        await run.park(release.promise, () => nudged.push(parkedCount) > 0);
        return null;
      },
      { concurrency: 1 },
    );
    queue.add('slow');
    queue.add('a');
    queue.add('b');
    await new Promise((r) => setTimeout(r, 5));
    expect(nudged).toEqual([]);
    slow.resolve();
    await new Promise((r) => setTimeout(r, 5));
    expect(nudged[0]).toBe(3);
    release.resolve();
    await queue.idle();
  });

  it('never runs a parked key twice: a routine event meanwhile runs it again once it finished', async () => {
    const release = deferred();
    let concurrent = 0;
    let maxConcurrent = 0;
    let runs = 0;
    const queue = new WorkQueue(
      async (_key, run) => {
        runs++;
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        if (runs === 1) await run.park(release.promise);
        concurrent--;
        return null;
      },
      { concurrency: 4 },
    );
    queue.add('ns/a');
    await new Promise((r) => setTimeout(r, 1));
    expect(queue.active).toBe(0); // parked: the slot is free
    queue.add('ns/a');
    await new Promise((r) => setTimeout(r, 1));
    expect(runs).toBe(1);
    release.resolve();
    await queue.idle();
    expect(maxConcurrent).toBe(1);
    expect(runs).toBe(2);
  });

  it('supersedes a parked run when its key is added high: it stops, and runs again at once', async () => {
    const never = new Promise<never>(() => undefined);
    const outcomes: string[] = [];
    const errors: unknown[] = [];
    let concurrent = 0;
    let maxConcurrent = 0;
    const queue = new WorkQueue(
      async (_key, run) => {
        concurrent++;
        maxConcurrent = Math.max(maxConcurrent, concurrent);
        try {
          // the first run waits for a batch that is nowhere near full
          if (run.priority === 'low') await run.park(never);
          outcomes.push(run.priority);
          return null;
        } catch (err) {
          outcomes.push((err as Error).name);
          throw err;
        } finally {
          concurrent--;
        }
      },
      { concurrency: 4, onError: (_k, err) => errors.push(err) },
    );
    queue.add('ns/a');
    await new Promise((r) => setTimeout(r, 1));
    queue.add('ns/a', 'high');
    await queue.idle();
    expect(outcomes).toEqual(['Superseded', 'high']);
    expect(maxConcurrent).toBe(1);
    // not a failure: no backoff, no error reported
    expect(errors).toEqual([]);
  });

  it('lets a run superseded while it waits for its slot back stop ahead of the runs resuming before it', async () => {
    const batches = new Map(['ns/r1', 'ns/r2', 'ns/r3'].map((key) => [key, deferred()]));
    const hold = deferred();
    const events: string[] = [];
    const started = new Set<string>();
    const turn = () => new Promise((r) => setTimeout(r, 1));
    const queue = new WorkQueue(
      async (key, run) => {
        events.push(`start ${key}`);
        if (started.has(key)) return null;
        started.add(key);
        await run.park(batches.get(key)?.promise ?? Promise.resolve());
        events.push(`resumed ${key}`);
        // the first to resume holds the only slot, as a status write does
        if (key === 'ns/r1') await hold.promise;
        return null;
      },
      { concurrency: 1 },
    );
    for (const key of batches.keys()) queue.add(key);
    await turn();
    // r1 takes the slot back and holds it; r2, then r3, wait for it
    for (const batch of batches.values()) {
      batch.resolve();
      await turn();
    }
    // an abort of r3 comes
    queue.add('ns/r3', 'high');
    hold.resolve();
    await queue.idle();
    expect(events).toEqual([
      'start ns/r1',
      'start ns/r2',
      'start ns/r3',
      'resumed ns/r1',
      'start ns/r3',
      'resumed ns/r2',
    ]);
  });

  it('stops a run added high before it parks, at its park, instead of after the wait', async () => {
    const never = new Promise<never>(() => undefined);
    const outcomes: string[] = [];
    const queue = new WorkQueue(
      async (_key, run) => {
        try {
          await Promise.resolve(); // the reconcile reads the caches before it measures
          if (run.priority === 'low') await run.park(never);
          outcomes.push(run.priority);
          return null;
        } catch (err) {
          outcomes.push((err as Error).name);
          throw err;
        }
      },
      { concurrency: 4 },
    );
    queue.add('ns/a');
    // the abort comes while the run has started but not parked yet
    queue.add('ns/a', 'high');
    await queue.idle();
    expect(outcomes).toEqual(['Superseded', 'high']);
  });

  it('lets parked runs finish when it stops', async () => {
    const release = deferred();
    let finished = false;
    const queue = new WorkQueue(
      async (_key, run) => {
        await run.park(release.promise);
        finished = true;
        return null;
      },
      { concurrency: 1 },
    );
    queue.add('a');
    await new Promise((r) => setTimeout(r, 1));
    const stopped = queue.stop();
    release.resolve();
    await stopped;
    expect(finished).toBe(true);
  });
});

describe('WorkQueue parking, bounded', () => {
  it('starts no more routine keys once maxParked runs wait, and nudges them as if nothing more could come', async () => {
    const quiet: number[] = [];
    let release!: () => void;
    let batch = new Promise<void>((r) => (release = r));
    let maxParked = 0;
    let parked = 0;
    const queue = new WorkQueue(
      async (_key, run) => {
        await Promise.resolve();
        parked++;
        maxParked = Math.max(maxParked, parked);
        await run.park(batch, (quietUntil) => {
          quiet.push(quietUntil);
          const done = release;
          batch = new Promise<void>((r) => (release = r));
          done();
          return true;
        });
        parked--;
        return null;
      },
      { concurrency: 2, maxParked: 3 },
    );
    for (let i = 0; i < 9; i++) queue.add(`k${i}`);
    await queue.idle();
    // never more than the cap plus a run released from its park that waits for a slot
    expect(maxParked).toBeLessThanOrEqual(4);
    expect(quiet.length).toBeGreaterThanOrEqual(3);
    expect(quiet.every((q) => q === Infinity)).toBe(true);
  });

  it('sends a batch early at a namespace boundary: a namespace that does not fit waits for the next', async () => {
    const timers = new ManualTimers();
    const batches: string[][] = [];
    let waiting: string[] = [];
    let release!: () => void;
    let batch = new Promise<void>((r) => (release = r));
    // one nudge for every run, as the measure batcher's: sends what waits
    const send = () => {
      if (waiting.length) batches.push(waiting);
      waiting = [];
      const done = release;
      batch = new Promise<void>((r) => (release = r));
      done();
      return true;
    };
    const queue = new WorkQueue(
      async (key, run) => {
        waiting.push(key);
        await run.park(batch, send);
        return null;
      },
      { concurrency: 2, maxParked: 4, timers },
    );
    // due together, as a granule's analyses are
    for (const key of ['a/1', 'a/2', 'a/3', 'b/1', 'b/2', 'b/3', 'c/1']) queue.addAfter(key, 60_000);
    timers.advance(60_000);
    await queue.idle();
    expect(batches).toEqual([
      ['a/1', 'a/2', 'a/3'],
      ['b/1', 'b/2', 'b/3', 'c/1'],
    ]);
  });
});
