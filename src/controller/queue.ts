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

/** Processes one key; resolves with when to process it again (null: only on the next event). */
export type Worker = (key: string) => Promise<number | null>;

export interface QueueOptions {
  concurrency: number;
  timers?: Timers;
  /** Backoff after a failed run: base * 2^(failures-1), capped. */
  backoffBaseMs?: number;
  backoffMaxMs?: number;
  onError?: (key: string, error: unknown, retryInMs: number) => void;
}

/**
 * A work queue keyed by namespace/name, in the manner of client-go's: an event for a key that is
 * already waiting merges with it; a key is never processed twice at once (an event that arrives
 * meanwhile runs it again right after, so no wake-up is lost); at most `concurrency` keys run at
 * once; each key keeps one timer, the earliest requested.
 */
export class WorkQueue {
  private readonly waiting: string[] = [];
  private readonly waitingSet = new Set<string>();
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly timers = new Map<string, { at: number; handle: unknown }>();
  private readonly failures = new Map<string, number>();
  private readonly clock: Timers;
  private stopped = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly worker: Worker,
    private readonly options: QueueOptions,
  ) {
    this.clock = options.timers ?? realTimers;
  }

  /** Keys waiting to run (not counting running ones or timers). */
  get depth(): number {
    return this.waiting.length;
  }

  get active(): number {
    return this.running.size;
  }

  add(key: string): void {
    if (this.stopped) return;
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.waitingSet.has(key)) return;
    this.waitingSet.add(key);
    this.waiting.push(key);
    this.pump();
  }

  /** Processes `key` after `ms`, unless an earlier run is already scheduled. */
  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) {
      this.add(key);
      return;
    }
    const at = this.clock.now() + ms;
    const existing = this.timers.get(key);
    if (existing && existing.at <= at) return;
    if (existing) this.clock.clearTimeout(existing.handle);
    const handle = this.clock.setTimeout(() => {
      this.timers.delete(key);
      this.add(key);
    }, ms);
    this.timers.set(key, { at, handle });
  }

  /** Forgets a key's timer and backoff, e.g. when its object was deleted. */
  forget(key: string): void {
    const timer = this.timers.get(key);
    if (timer) this.clock.clearTimeout(timer.handle);
    this.timers.delete(key);
    this.failures.delete(key);
  }

  private pump(): void {
    while (!this.stopped && this.running.size < this.options.concurrency && this.waiting.length) {
      const key = this.waiting.shift();
      if (key === undefined) break;
      this.waitingSet.delete(key);
      this.running.add(key);
      void this.run(key);
    }
    if (!this.running.size && !this.waiting.length) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private async run(key: string): Promise<void> {
    try {
      const next = await this.worker(key);
      this.failures.delete(key);
      if (next !== null) this.addAfter(key, next);
    } catch (error) {
      const failures = (this.failures.get(key) ?? 0) + 1;
      this.failures.set(key, failures);
      const base = this.options.backoffBaseMs ?? 500;
      const delay = Math.min(base * 2 ** (failures - 1), this.options.backoffMaxMs ?? 300_000);
      this.options.onError?.(key, error, delay);
      this.addAfter(key, delay);
    } finally {
      this.running.delete(key);
      if (this.dirty.delete(key)) this.add(key);
      this.pump();
    }
  }

  /** Resolves when nothing is waiting or running (timers may still be pending). */
  idle(): Promise<void> {
    if (!this.running.size && !this.waiting.length) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops taking work, cancels timers and waits for running keys to finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const { handle } of this.timers.values()) this.clock.clearTimeout(handle);
    this.timers.clear();
    this.waiting.length = 0;
    this.waitingSet.clear();
    while (this.running.size) await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
