/** Timers behind a port, so tests and the simulator can drive time themselves. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  now(): number;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const handle = setTimeout(fn, ms);
    handle.unref();
    return handle;
  },
  clearTimeout: (handle) => {
    clearTimeout(handle as NodeJS.Timeout);
  },
  now: () => Date.now(),
};

/**
 * High: a user action (a spec change) or a rollback's follow-up, carried out ahead of the routine
 * work (analyses on their timers, resyncs), which is low.
 */
export type Priority = 'high' | 'low';

/**
 * The default cap on parked runs. Half-done reconciles outlive the young generation, so many of
 * them cost garbage collection as much as memory: at 10,000 releases under the chart's 384 MiB heap
 * 1,000 of them cost CPU (3.1 ms per release and interval against 2.4-2.6 at 250-500). A batch
 * sent at the cap ends at a namespace boundary, so the cap costs no query as long as a namespace's
 * releases fit in it.
 */
export const MAX_PARKED = 500;

/**
 * Timers share one clock timer per moment, rounded up to this: the analyses due at one granule
 * boundary may ask a millisecond apart, and one by one they would start in the order they finished
 * last time; rung together they start namespace by namespace, so a batch that `maxParked` sends
 * holds whole namespaces. It also spares 10,000 clock timers for 10,000 releases. Rounded up, a
 * timer never fires early, so a run does not find itself not yet due.
 */
const TIMER_TICK_MS = 10;

/** Lanes in the order they are served. */
const LANES: readonly Priority[] = ['high', 'low'];

/**
 * Told, when nothing is left to start and every running key has parked, that no run will start
 * before `quietUntil` (the queue's next timer; Infinity: none, or the queue stops). Returns whether
 * what the parked runs wait for is on its way; false: it waits for runs still to come (the queue
 * then counts as idle, so a driver of its clock may move on to the next timer).
 */
export type Nudge = (quietUntil: number) => boolean;

/** Rejects the park of a run whose key was added high meanwhile: that event runs it again at once. */
export class Superseded extends Error {
  constructor(key: string) {
    super(`${key} was asked for again with high priority while it waited`);
    this.name = 'Superseded';
  }
}

/** What the queue lends one run of a key. */
export interface Run {
  /** The lane the run was taken from. */
  readonly priority: Priority;
  /**
   * Awaits `wait` without holding a worker slot, so that other keys run meanwhile; the key stays
   * running, so it is still never run twice at once. The run gets a slot back, ahead of the keys
   * that have not started, once `wait` settles. Rejects with `Superseded` when the key is added high
   * meanwhile: the run should then stop, and runs again right after. One park at a time, awaited.
   */
  park<T>(wait: Promise<T>, nudge?: Nudge): Promise<T>;
  /** The run's requeue, and its retry after an error, go in the high lane. */
  escalate(): void;
  /**
   * Marks the moment the delay the run resolves with counts from (by default, the run's start): the
   * worker calls it just before it reads its own clock, so that a pause before that (a garbage
   * collection) does not make it due late, and a pause after makes it due earlier, which the
   * rounding of timers takes up.
   */
  anchor(): void;
}

/**
 * Processes one key; resolves with when to process it again, counted from the run's anchor (null:
 * only on the next event). A run that decides at its start and then waits for a batch keeps its due
 * time: the releases due at one boundary stay due at it, and start together next time.
 */
export type Worker = (key: string, run: Run) => Promise<number | null>;

export interface QueueOptions {
  concurrency: number;
  /**
   * Parked runs at most before no more routine keys start; they are then nudged as if nothing more
   * could come. Each one holds a half-done reconcile (tens of KB), so this bounds that memory.
   */
  maxParked?: number;
  timers?: Timers;
  /** Backoff after a failed run: base * 2^(failures-1), capped. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  onError?: (key: string, error: unknown, retryInMs: number) => void;
}

/**
 * Keys to start. In order, or grouped by namespace: a routine burst (every release due at one
 * granule) then starts a namespace's releases together, so when `maxParked` sends a batch early
 * it holds whole namespaces, each asking Prometheus once, instead of a slice of each.
 */
class Keys {
  private readonly groups = new Map<string, string[]>();
  private count = 0;
  /** The group the last key was taken from. */
  private current: string | undefined;

  constructor(private readonly byNamespace: boolean) {}

  get length(): number {
    return this.count;
  }

  push(key: string): void {
    const slash = key.indexOf('/');
    const group = this.byNamespace && slash >= 0 ? key.slice(0, slash) : '';
    const keys = this.groups.get(group);
    if (keys) keys.push(key);
    else this.groups.set(group, [key]);
    this.count++;
  }

  shift(): string | undefined {
    for (const [group, keys] of this.groups) {
      const key = keys.shift();
      if (!keys.length) this.groups.delete(group);
      if (key !== undefined) {
        this.count--;
        this.current = group;
        return key;
      }
    }
    return undefined;
  }

  /** How many keys the next one opens a group with; 0 when it goes on with the group taken last. */
  opening(): number {
    for (const [group, keys] of this.groups) return group === this.current ? 0 : keys.length;
    return 0;
  }

  clear(): void {
    this.groups.clear();
    this.count = 0;
  }
}

interface Lane {
  /** Parked runs whose wait settled, each waiting for a slot. */
  resumes: (() => void)[];
  /** A key moved up to the high lane leaves a stale entry here, skipped. */
  keys: Keys;
}

/**
 * A work queue keyed by namespace/name, in the manner of client-go's: an event for a key that is
 * already waiting merges with it; a key is never processed twice at once (an event that arrives
 * meanwhile runs it again right after, so no wake-up is lost); at most `concurrency` runs hold a
 * slot at once; each key keeps one timer, the earliest requested. Two lanes: high keys start before
 * low ones, and a key waiting in the low lane moves up when it is added high.
 */
export class WorkQueue {
  private readonly lanes: Record<Priority, Lane> = {
    high: { resumes: [], keys: new Keys(false) },
    low: { resumes: [], keys: new Keys(true) },
  };
  /** The keys waiting to start, with the lane each one waits in. */
  private readonly waiting = new Map<string, Priority>();
  private readonly running = new Set<string>();
  /** Keys added while running: they run again after, in this lane. */
  private readonly dirty = new Map<string, Priority>();
  private readonly timers = new Map<string, { at: number; priority: Priority }>();
  /** The clock timers, by the moment they ring, with the keys due then. */
  private readonly alarms = new Map<number, { handle: unknown; keys: Set<string> }>();
  private readonly failures = new Map<string, number>();
  /** Runs holding a slot. */
  private slots = 0;
  /** Runs holding a slot that have not parked yet: they may still ask for what others wait on. */
  private fresh = 0;
  /** Runs waiting in `park`. */
  private parkedRuns = 0;
  /** The nudges of parked runs, with how many runs wait on each. */
  private readonly nudges = new Map<Nudge, number>();
  /** The nudges that, when last asked, said their runs wait for runs still to come. */
  private readonly gathering = new Set<Nudge>();
  /** Parked runs by key, to supersede. */
  private readonly parked = new Map<string, () => void>();
  private readonly clock: Timers;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  private readonly maxParked: number;

  constructor(
    private readonly worker: Worker,
    private readonly options: QueueOptions,
  ) {
    this.clock = options.timers ?? realTimers;
    this.maxParked = options.maxParked ?? MAX_PARKED;
  }

  /** Keys waiting to run (not counting running ones or timers). */
  get depth(): number {
    return this.waiting.size;
  }

  /** Runs holding a slot (parked ones do not). */
  get active(): number {
    return this.slots;
  }

  add(key: string, priority: Priority = 'low'): void {
    if (this.enqueue(key, priority)) this.pump();
  }

  /** Puts the key in its lane (or marks a running one dirty); true when it now waits to start. */
  private enqueue(key: string, priority: Priority): boolean {
    if (this.stopped) return false;
    if (this.running.has(key)) {
      if (priority === 'high' || !this.dirty.has(key)) this.dirty.set(key, priority);
      if (priority === 'high') this.parked.get(key)?.();
      return false;
    }
    const was = this.waiting.get(key);
    if (was === priority || was === 'high') return false;
    this.waiting.set(key, priority);
    this.lanes[priority].keys.push(key);
    return true;
  }

  /** Processes `key` after `ms`, unless an earlier run is already scheduled (which then takes the lane). */
  addAfter(key: string, ms: number, priority: Priority = 'low'): void {
    if (this.stopped) return;
    if (ms <= 0) {
      this.add(key, priority);
      return;
    }
    this.addAt(key, this.clock.now() + ms, priority);
  }

  private addAt(key: string, time: number, priority: Priority): void {
    const now = this.clock.now();
    if (time <= now) {
      this.add(key, priority);
      return;
    }
    const at = Math.ceil(time / TIMER_TICK_MS) * TIMER_TICK_MS;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) {
      if (priority === 'high') existing.priority = 'high';
      return;
    }
    if (existing) this.unschedule(key, existing.at);
    this.timers.set(key, { at, priority: existing?.priority === 'high' ? 'high' : priority });
    let alarm = this.alarms.get(at);
    if (!alarm) {
      const handle = this.clock.setTimeout(() => {
        this.ring(at);
      }, at - now);
      alarm = { handle, keys: new Set() };
      this.alarms.set(at, alarm);
    }
    alarm.keys.add(key);
  }

  /**
   * Starts the keys due at `at` together, so that they start grouped by namespace; a ring that comes
   * late (a busy event loop) also takes the alarms that came due meanwhile, which would otherwise
   * start their keys only after these had begun.
   */
  private ring(at: number): void {
    const now = this.clock.now();
    const due = now - at > TIMER_TICK_MS ? [...this.alarms.keys()].filter((t) => t <= now) : [at];
    for (const time of due.sort((a, b) => a - b)) {
      const alarm = this.alarms.get(time);
      if (!alarm) continue;
      this.alarms.delete(time);
      if (time !== at) this.clock.clearTimeout(alarm.handle);
      for (const key of alarm.keys) {
        const timer = this.timers.get(key);
        this.timers.delete(key);
        if (timer) this.enqueue(key, timer.priority);
      }
    }
    this.pump();
    // a timer of a running key starts nothing: the parked runs learn of the next one instead
    this.nudgeParked();
  }

  private unschedule(key: string, at: number): void {
    const alarm = this.alarms.get(at);
    if (!alarm) return;
    alarm.keys.delete(key);
    if (alarm.keys.size) return;
    this.clock.clearTimeout(alarm.handle);
    this.alarms.delete(at);
  }

  /** Forgets a key's timer and backoff, e.g. when its object was deleted. */
  forget(key: string): void {
    const timer = this.timers.get(key);
    if (timer) this.unschedule(key, timer.at);
    this.timers.delete(key);
    this.failures.delete(key);
  }

  private pump(): void {
    const { concurrency } = this.options;
    for (const priority of LANES) {
      const lane = this.lanes[priority];
      // parked runs first: they are half done and hold their state meanwhile; stopping lets them finish
      while (this.slots < concurrency && lane.resumes.length) {
        this.slots++;
        lane.resumes.shift()?.();
      }
      // a user's action starts however many runs are parked
      const room = () => priority === 'high' || this.routineRoom();
      while (!this.stopped && this.slots < concurrency && lane.keys.length && room()) {
        const key = lane.keys.shift();
        if (key === undefined || this.waiting.get(key) !== priority) continue;
        this.waiting.delete(key);
        this.running.add(key);
        this.slots++;
        this.fresh++;
        void this.run(key, priority);
      }
      if (this.slots >= concurrency) break;
    }
    this.resolveIdle();
  }

  /**
   * Whether the next routine key may start: under `maxParked`, counting the runs yet to park, and
   * only into a namespace that fits in what is left, so that a batch sent early holds whole
   * namespaces (a key that came due late costs its namespace one more query, not every batch after
   * it a cut namespace). A namespace larger than the cap starts alone.
   */
  private routineRoom(): boolean {
    const taken = this.parkedRuns + this.fresh;
    if (taken >= this.maxParked) return false;
    return taken === 0 || taken + this.lanes.low.keys.opening() <= this.maxParked;
  }

  private resolveIdle(): void {
    if (!this.isIdle()) return;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const resolve of waiters) resolve();
  }

  /**
   * Called where the last run that could still ask for something stops being fresh: nothing more
   * joins what the parked runs wait for until a timer fires (or an event comes).
   */
  private nudgeParked(): void {
    if (this.fresh || !this.nudges.size) return;
    const full = this.parkedRuns >= this.maxParked || (this.lanes.low.keys.length > 0 && !this.routineRoom());
    if (this.waiting.size && !full) return;
    let quietUntil = Infinity;
    if (!this.stopped && !full) for (const at of this.alarms.keys()) quietUntil = Math.min(quietUntil, at);
    for (const nudge of [...this.nudges.keys()]) {
      if (nudge(quietUntil)) this.gathering.delete(nudge);
      else this.gathering.add(nudge);
    }
    this.resolveIdle();
  }

  /** Nothing holds a slot or waits to start, and every parked run waits for runs still to come. */
  private isIdle(): boolean {
    if (this.slots || this.waiting.size) return false;
    let gathering = 0;
    for (const nudge of this.gathering) gathering += this.nudges.get(nudge) ?? 0;
    return this.running.size === gathering;
  }

  private async run(key: string, priority: Priority): Promise<void> {
    // set from the run's callbacks
    const state: { parked: boolean; requeue: Priority } = { parked: false, requeue: 'low' };
    const run: Run = {
      priority,
      park: async <T>(wait: Promise<T>, nudge?: Nudge): Promise<T> => {
        // added high before it got here (a user's abort as the analysis began): stop now, not after the batch
        if (this.dirty.get(key) === 'high') throw new Superseded(key);
        // set when the key is added high meanwhile: the run stops, and runs again at once
        const parking = { superseded: false };
        let stop: () => void = () => undefined;
        const stopped = new Promise<never>((_resolve, reject) => {
          stop = () => {
            reject(new Superseded(key));
          };
        });
        // the race may be over when it is superseded, waiting for its slot back
        stopped.catch(() => undefined);
        let resume: (() => void) | undefined;
        this.parked.set(key, () => {
          if (parking.superseded) return;
          parking.superseded = true;
          stop();
          // a superseded run only unwinds: it takes the high lane's turn, not one behind the batch
          const waiting = this.lanes[priority].resumes;
          const at = resume ? waiting.indexOf(resume) : -1;
          if (priority === 'low' && resume && at >= 0) {
            waiting.splice(at, 1);
            this.lanes.high.resumes.push(resume);
            this.pump();
          }
        });
        this.slots--;
        this.parkedRuns++;
        if (nudge) this.nudges.set(nudge, (this.nudges.get(nudge) ?? 0) + 1);
        if (!state.parked) {
          state.parked = true;
          this.fresh--;
          this.nudgeParked();
        }
        this.pump();
        let outcome: { ok: true; value: T } | { ok: false; error: unknown };
        try {
          outcome = { ok: true, value: await Promise.race([wait, stopped]) };
        } catch (error) {
          outcome = { ok: false, error };
        }
        this.parkedRuns--;
        if (nudge) {
          const left = (this.nudges.get(nudge) ?? 1) - 1;
          if (left) this.nudges.set(nudge, left);
          else {
            this.nudges.delete(nudge);
            this.gathering.delete(nudge);
          }
        }
        await new Promise<void>((resolve) => {
          resume = resolve;
          this.lanes[parking.superseded ? 'high' : priority].resumes.push(resolve);
          this.pump();
        });
        this.parked.delete(key);
        if (parking.superseded) throw new Superseded(key);
        if (!outcome.ok) throw outcome.error;
        return outcome.value;
      },
      escalate: () => {
        state.requeue = 'high';
      },
      anchor: () => {
        anchoredAt = this.clock.now();
      },
    };
    let anchoredAt = this.clock.now();
    try {
      const next = await this.worker(key, run);
      this.failures.delete(key);
      if (next !== null && !this.stopped) this.addAt(key, anchoredAt + next, state.requeue);
    } catch (error) {
      // superseded: the event that did it has the key run again right after, in the high lane
      if (!(error instanceof Superseded)) {
        const failures = (this.failures.get(key) ?? 0) + 1;
        this.failures.set(key, failures);
        const base = this.options.backoffBaseMs ?? 500;
        const delay = Math.min(base * 2 ** (failures - 1), this.options.backoffMaxMs ?? 300_000);
        this.options.onError?.(key, error, delay);
        // what a user asked for, or a rollback, stays ahead of routine work while it keeps failing
        this.addAfter(key, delay, priority === 'high' ? 'high' : state.requeue);
      }
    } finally {
      this.slots--;
      this.running.delete(key);
      const again = this.dirty.get(key);
      if (again) {
        this.dirty.delete(key);
        this.add(key, again);
      }
      if (!state.parked) {
        this.fresh--;
        this.nudgeParked();
      }
      this.pump();
    }
  }

  /**
   * Resolves when nothing is waiting or running, but for runs parked until more runs come (timers
   * may still be pending).
   */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking work, cancels timers and waits for running keys to finish; parked ones are nudged. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const { handle } of this.alarms.values()) this.clock.clearTimeout(handle);
    this.alarms.clear();
    this.timers.clear();
    this.waiting.clear();
    for (const lane of Object.values(this.lanes)) lane.keys.clear();
    this.nudgeParked();
    while (this.running.size) await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
